// The Unreal plugin's engine-independent core (bindings/unreal/Dinof/Source/Dinof/Public/DinofCore.h) against the
// real libdinof: loading with error kinds, generation polled like a game loop, cancel, BGRA8 conversion, early
// destruction. Prints "C++ engine core tests: N passed, M failed".
#include "DinofCore.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

static int passed = 0, failed = 0;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (cond) {                                                                     \
            passed++;                                                                   \
        } else {                                                                        \
            failed++;                                                                   \
            std::printf("FAIL  %s:%d: %s\n", __FILE__, __LINE__, #cond);                \
        }                                                                               \
    } while (0)

using namespace dinof::core;

static std::string fixture(const char* name) {
    const char* dir = std::getenv("DINOF_FIXTURES");
    return std::string(dir ? dir : "tests/fixtures/bundles") + "/" + name;
}

static dinof::SampleOptions options(uint64_t n, uint64_t seed, uint32_t steps) {
    dinof::SampleOptions o(n);
    o.with_seed(seed);
    o.steps = steps;
    return o;
}

// Polls like a game loop: once per "frame" until done, checking that progress only grows.
static Snapshot run_to_end(Generation& g, int* frames) {
    Snapshot s;
    double last = 0.0;
    *frames = 0;
    for (;;) {
        s = g.Poll();
        if (s.fraction < last || s.fraction > 1.0) {
            std::printf("progress went from %f to %f\n", last, s.fraction);
            failed++;
        }
        last = s.fraction;
        if (s.done) return s;
        if (++*frames > 20000) {  // a hang guard, not a timing assert: no run here needs more than a few hundred frames
            std::printf("FAIL  the generation did not end within 20000 frames\n");
            failed++;
            g.Cancel();
            return s;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

static void test_conversion() {
    const uint8_t rgba[8] = {1, 2, 3, 4, 250, 251, 252, 253};
    uint8_t bgra[8];
    ToBgra8(rgba, bgra, 2);
    const uint8_t want[8] = {3, 2, 1, 4, 252, 251, 250, 253};
    CHECK(std::memcmp(bgra, want, 8) == 0);
    uint8_t inplace[8];
    std::memcpy(inplace, rgba, 8);
    ToBgra8(inplace, inplace, 2);
    CHECK(std::memcmp(inplace, want, 8) == 0);
}

static void test_error_kinds() {
    ModelPtr m;
    Error e = LoadModel(fixture("bad-checksum"), LoadSettings{}, m);
    CHECK(e && e.status == DINOF_STATUS_CHECKSUM_MISMATCH && e.kind == ErrorKind::BadBundle && !m);
    CHECK(e.message.find("checksum") != std::string::npos);
    e = LoadModel("/nonexistent", LoadSettings{}, m);
    CHECK(e.status == DINOF_STATUS_MISSING_FILE && e.kind == ErrorKind::BadBundle);
    LoadSettings ort;
    ort.backend = DINOF_BACKEND_ORT;
    ort.ort_library_path = "/nonexistent/libonnxruntime.so";
    e = LoadModel(fixture("gauss-vp"), ort, m);
    CHECK(e.status == DINOF_STATUS_BACKEND_UNAVAILABLE && e.kind == ErrorKind::Unavailable && !e.message.empty());
    // Every status has a kind; codes unknown to this header count as bugs.
    CHECK(KindOf(DINOF_STATUS_OUT_OF_MEMORY) == ErrorKind::OutOfMemory && KindOf(DINOF_STATUS_NON_FINITE) == ErrorKind::Runtime);
    CHECK(KindOf(DINOF_STATUS_PANIC) == ErrorKind::Bug && KindOf(9999) == ErrorKind::Bug);
    CHECK(KindOf(DINOF_STATUS_BAD_ENUM_VALUE) == ErrorKind::BadRequest && KindOf(DINOF_STATUS_BUSY) == ErrorKind::Usage);
    for (int s = 0; s <= 20; s++) CHECK(KindOf(s) != ErrorKind::Bug || s == DINOF_STATUS_INTERNAL);
    for (int s = 100; s <= 107; s++) CHECK(KindOf(s) != ErrorKind::Bug || s == DINOF_STATUS_PANIC);
}

static void test_generation(const ModelPtr& model) {
    const uint32_t steps = 30;
    Generation g(model, options(3, 11, steps));
    CHECK(!g.Start());
    int frames = 0;
    Snapshot s = run_to_end(g, &frames);
    CHECK(s.done && !s.error && s.fraction == 1.0 && s.phase == DINOF_PHASE_FINISHED);
    CHECK(g.Count() == 3 && g.Width() == 4 && g.Height() == 4 && g.Report().seed == 11);
    // BGRA8 images = the synchronous RGBA8 output with R and B swapped, image by image, rows unchanged.
    std::vector<uint8_t> rgba = model->sample_rgba8(options(3, 11, steps));
    for (size_t k = 0; k < 3; k++) {
        std::vector<uint8_t> img = g.Bgra8Image(k);
        CHECK(img.size() == 64);
        bool same = img.size() == 64;
        for (size_t i = 0; same && i < 16; i++) {
            const uint8_t* p = &rgba[k * 64 + 4 * i];
            same = img[4 * i] == p[2] && img[4 * i + 1] == p[1] && img[4 * i + 2] == p[0] && img[4 * i + 3] == p[3];
        }
        CHECK(same);
    }
    CHECK(g.Bgra8Image(3).empty());
    // Polling after the end is stable.
    CHECK(g.Poll().done && !g.Poll().error);
}

static void test_start_errors(const ModelPtr& model) {
    dinof::SampleOptions o = options(2, 1, 10);
    o.t_m = 0.123;
    Generation g(model, o);
    Error e = g.Start();
    CHECK(e.status == DINOF_STATUS_INVALID_ARGUMENT && e.kind == ErrorKind::BadRequest && e.message.find("0.123") != std::string::npos);
    Snapshot s = g.Poll();  // never started: done with an error, no crash
    CHECK(s.done && s.error.status == DINOF_STATUS_NULL_POINTER);
    Generation huge(model, options(uint64_t(1) << 44, 1, 5));
    CHECK(huge.Start().kind == ErrorKind::OutOfMemory);
    Generation none(nullptr, options(1, 1, 5));
    CHECK(none.Start().status == DINOF_STATUS_NULL_POINTER);
}

static void test_cancel(const ModelPtr& model) {
    Generation g(model, options(2, 1, 1000000));
    CHECK(!g.Start());
    while (g.Poll().phase == DINOF_PHASE_PENDING) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    CHECK(!g.Poll().done);
    std::thread other([&] { g.Cancel(); });  // from another thread, as a UI callback might
    other.join();
    int frames = 0;
    Snapshot s = run_to_end(g, &frames);
    CHECK(s.done && s.error.status == DINOF_STATUS_CANCELLED && s.error.kind == ErrorKind::Cancelled);
    CHECK(g.Bgra8Image(0).empty());
}

static void test_destroy_while_running(ModelPtr model) {
    {
        Generation g(model, options(2, 1, 1000000));
        CHECK(!g.Start());
    }  // returns at once: cancelled and detached by the library
    // The generation keeps its model: dropping the caller's reference first is fine.
    auto g = std::make_unique<Generation>(model, options(3, 11, 30));
    CHECK(!g->Start());
    model.reset();
    int frames = 0;
    CHECK(!run_to_end(*g, &frames).error && g->Bgra8Image(2).size() == 64);
}

// Class names and guidance on gauss-vp-class-cfg ("Low", "High", a null label): labels by name through the core,
// guidance through dinof::SampleOptions, both visible in the generation's report.
static void test_labels_and_guidance() {
    ModelPtr model;
    CHECK(!LoadModel(fixture("gauss-vp-class-cfg"), LoadSettings{}, model) && model);
    if (!model) return;
    int64_t high = -1;
    CHECK(!LabelIndex(model, "high", high) && high == 1);
    int64_t kept = 7;
    Error e = LabelIndex(model, "Medium", kept);
    CHECK(e.status == DINOF_STATUS_INVALID_ARGUMENT && e.kind == ErrorKind::BadRequest && kept == 7);
    CHECK(e.message.find("Low") != std::string::npos && e.message.find("High") != std::string::npos);
    CHECK(LabelIndex(nullptr, "High", kept).status == DINOF_STATUS_NULL_POINTER);
    uint64_t evals[2] = {0, 0};
    for (int guided = 0; guided < 2; guided++) {
        dinof::SampleOptions o = options(2, 5, 20);
        o.with_labels({high});
        if (guided) o.with_guidance(1.0);
        Generation g(model, o);
        CHECK(!g.Start());
        int frames = 0;
        CHECK(!run_to_end(g, &frames).error);
        CHECK(g.Report().guidance == (guided ? 1.0 : 0.0));
        evals[guided] = g.Report().score_evals;
    }
    CHECK(evals[0] > 0 && evals[1] == 2 * evals[0]);
}

/// The Gaussian start through the engine core: the T_m values of each start, a generation from the Gaussian, and a
/// T_m the bundle lacks refused at Start with a message naming the available ones.
static void test_gaussian_start() {
    ModelPtr model;
    CHECK(!LoadModel(fixture("gauss-vp-aniso"), LoadSettings{}, model) && model);
    if (!model) return;
    const dinof::ModelInfo info = model->info();
    CHECK(StartTMs(info, DINOF_START_GAUSSIAN) == std::vector<double>({0.4, 0.6}));
    CHECK(StartTMs(info, DINOF_START_FLOW).empty() && StartTMs(info, DINOF_START_PRIOR).empty());
    dinof::SampleOptions o = options(2, 3, 20);
    o.with_start(DINOF_START_GAUSSIAN, 0.4);
    Generation g(model, o);
    CHECK(!g.Start());
    int frames = 0;
    CHECK(!run_to_end(g, &frames).error);
    CHECK(g.Report().start == DINOF_START_GAUSSIAN && g.Report().t_start == 0.4);
    o.with_start(DINOF_START_GAUSSIAN, 0.5);
    Generation bad(model, o);
    Error e = bad.Start();
    CHECK(e.kind == ErrorKind::BadRequest && e.message.find("[0.4, 0.6]") != std::string::npos);
}

int main() {
    test_conversion();
    test_error_kinds();
    ModelPtr model;
    Error e = LoadModel(fixture("gauss-vp"), LoadSettings{}, model);
    CHECK(!e && model);
    if (!model) {
        std::printf("cannot load gauss-vp: %s\n", e.message.c_str());
        return 1;
    }
    test_generation(model);
    test_start_errors(model);
    test_cancel(model);
    test_destroy_while_running(model);
    test_labels_and_guidance();
    test_gaussian_start();
    model.reset();
    CHECK(dinof_shutdown(-1) == DINOF_STATUS_OK);  // every model and job gone, detached threads joined
    std::printf("C++ engine core tests: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
