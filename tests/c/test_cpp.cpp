// The C++17 wrapper (bindings/cpp/dinof.hpp): RAII, exceptions, vectors, std::function progress, jobs.
#include "dinof.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

static int checks_run = 0, checks_failed = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        checks_run++;                                                                 \
        if (!(cond)) {                                                                \
            checks_failed++;                                                          \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                             \
    } while (0)

// `expr` must throw dinof::Error with status `want`.
#define CHECK_THROWS(expr, want)                                                         \
    do {                                                                                   \
        bool thrown_ = false;                                                              \
        try {                                                                              \
            (void)(expr);                                                                  \
        } catch (const dinof::Error& e_) {                                                 \
            thrown_ = e_.status() == (want) && std::strlen(e_.what()) > 0;               \
            if (!thrown_) std::fprintf(stderr, "%s:%d: wrong error: %s\n", __FILE__, __LINE__, e_.what()); \
        }                                                                                  \
        checks_run++;                                                                      \
        if (!thrown_) {                                                                    \
            checks_failed++;                                                               \
            std::fprintf(stderr, "%s:%d: %s did not throw %s\n", __FILE__, __LINE__, #expr, #want); \
        }                                                                                  \
    } while (0)

static std::string fixture(const char* name) {
    const char* dir = std::getenv("DINOF_FIXTURES");
    return std::string(dir ? dir : "tests/fixtures/bundles") + "/" + name;
}

static bool quick() {
    const char* q = std::getenv("DINOF_TEST_QUICK");
    return q && std::string(q) == "1";
}

int main() {
    const uint32_t steps = quick() ? 4 : 30;
    dinof::Model model(fixture("gauss-vp"));

    dinof::ModelInfo info = model.info();
    CHECK(info.name == "gauss-vp" && info.image_len == 16 && info.rgba8_len == 64);
    CHECK(info.t_m.size() == 2 && info.t_m[1] == 0.6 && info.backend == "tract");
    CHECK(!info.execution_providers.empty() && info.execution_providers[0] == "cpu");

    dinof::SampleOptions opts(3);
    opts.with_seed(11);
    opts.steps = steps;
    dinof_sample_report report{};
    report.struct_size = sizeof report;
    std::vector<float> a = model.sample(opts, {}, &report);
    CHECK(a.size() == 3 * 16 && report.seed == 11 && report.steps == steps);
    std::vector<float> b = model.sample(opts);
    CHECK(a == b);
    std::vector<uint8_t> rgba = model.sample_rgba8(opts);
    CHECK(rgba.size() == 3 * 64 && rgba[3] == 255 && rgba[0] == static_cast<uint8_t>(std::lrint(a[0] * 255.0f)));

    // Progress through std::function; returning false cancels.
    int calls = 0;
    std::vector<float> c = model.sample(opts, [&](const dinof_progress& p) {
        calls++;
        return p.fraction >= 0.0;
    });
    CHECK(calls == static_cast<int>(steps) + 1 && c == a);
    calls = 0;
    CHECK_THROWS(model.sample(opts, [&](const dinof_progress&) { return ++calls < 3; }), DINOF_STATUS_CANCELLED);
    CHECK(calls == 3);

    // An exception from the callback cancels the run and reaches the caller unchanged.
    bool caught = false;
    try {
        model.sample(opts, [](const dinof_progress&) -> bool { throw std::runtime_error("from the callback"); });
    } catch (const std::runtime_error& e) {
        caught = std::string(e.what()) == "from the callback";
    }
    CHECK(caught);

    // The Gaussian start (issue 19): the bundle's Gaussian T_m values, with_start, and a missing T_m's error.
    CHECK(info.gaussian_t_m.empty() && !info.has_gaussian_start);
    {
        dinof::Model aniso(fixture("gauss-vp-aniso"));
        dinof::ModelInfo gi = aniso.info();
        CHECK(gi.gaussian_t_m == std::vector<double>({0.4, 0.6}) && gi.has_gaussian_start && gi.t_m.empty());
        CHECK(gi.default_start == DINOF_START_GAUSSIAN && gi.default_t_start == 0.6);
        dinof::SampleOptions g(2);
        g.with_seed(3).with_start(DINOF_START_GAUSSIAN, 0.4);
        g.steps = steps;
        dinof_sample_report gr{};
        gr.struct_size = sizeof gr;
        CHECK(aniso.sample(g, {}, &gr).size() == 2 * 16 && gr.start == DINOF_START_GAUSSIAN && gr.t_start == 0.4 && gr.flow_evals == 1);
        CHECK_THROWS(aniso.sample(g.with_start(DINOF_START_GAUSSIAN, 0.5)), DINOF_STATUS_INVALID_ARGUMENT);
        CHECK_THROWS(model.sample(dinof::SampleOptions(1).with_start(DINOF_START_GAUSSIAN)), DINOF_STATUS_INVALID_ARGUMENT);
    }

    // Errors carry their status.
    CHECK_THROWS(dinof::Model(fixture("bad-version")), DINOF_STATUS_UNSUPPORTED_VERSION);
    CHECK_THROWS(dinof::Model("/nonexistent"), DINOF_STATUS_MISSING_FILE);
    dinof::SampleOptions bad(2);
    bad.t_m = 0.123;
    CHECK_THROWS(model.sample(bad), DINOF_STATUS_INVALID_ARGUMENT);
    // The message names its kind once ("invalid argument: ..."), not twice. (A T_m without a flow is a start error
    // since issue 19: INVALID_ARGUMENT, its message names the T_m values there are.)
    try {
        model.sample(bad);
    } catch (const dinof::Error& e) {
        CHECK(std::string(e.what()).find("no flow for T_m = 0.123") != std::string::npos);
    }
    bad = dinof::SampleOptions(2);
    bad.steps = 2000000; /* over MAX_STEPS (10^6): a plain invalid argument */
    CHECK_THROWS(model.sample(bad), DINOF_STATUS_INVALID_ARGUMENT);
    try {
        model.sample(bad);
    } catch (const dinof::Error& e) {
        std::string what = e.what();
        CHECK(what.rfind("invalid argument: ", 0) == 0 && what.find("invalid argument: invalid argument") == std::string::npos);
    }
    bad = dinof::SampleOptions(0);
    CHECK_THROWS(model.sample(bad), DINOF_STATUS_INVALID_ARGUMENT);

    // Labels on the class-conditional model.
    {
        dinof::Model cls(fixture("gauss-vp-class"));
        std::vector<int64_t> labels{1};
        dinof::SampleOptions lo(2);
        lo.with_seed(1).with_labels(labels);
        lo.steps = steps;
        CHECK(cls.sample(lo).size() == 32);
        lo.with_labels({5});
        CHECK_THROWS(cls.sample(lo), DINOF_STATUS_INVALID_ARGUMENT);

        // Labels from a temporary are copied: the options stay valid after the temporary is gone, and so do copies.
        dinof::SampleOptions per_image(4);
        per_image.with_seed(3).with_labels({0, 1, 0, 1});
        per_image.steps = steps;
        std::vector<int64_t> churn(4096, 12345);  // reuses the freed temporary's memory, if it were still referenced
        dinof::SampleOptions copy = per_image;
        std::vector<int64_t> kept{0, 1, 0, 1};
        dinof_sample_options raw = copy;
        raw.labels = kept.data();
        raw.label_count = kept.size();
        CHECK(cls.sample(per_image) == cls.sample(raw) && cls.sample(copy) == cls.sample(raw) && churn[0] == 12345);
    }

    // Class names and guidance (gauss-vp-class-cfg: "Low", "High", null label for guidance).
    {
        dinof::Model cfg(fixture("gauss-vp-class-cfg"));
        dinof::ModelInfo ci = cfg.info();
        CHECK(ci.label_names == (std::vector<std::string>{"Low", "High"}) && ci.has_guidance && ci.default_guidance == 0.0);
        CHECK(cfg.label_indices({"high", "0", "LOW"}) == (std::vector<int64_t>{1, 0, 0}));
        CHECK_THROWS(cfg.label_index("Medium"), DINOF_STATUS_INVALID_ARGUMENT);
        dinof::SampleOptions go(2);
        go.with_seed(1).with_labels(cfg.label_indices({"High"}));
        go.steps = steps;
        dinof_sample_report plain{}, guided{};
        plain.struct_size = guided.struct_size = sizeof plain;
        std::vector<float> a0 = cfg.sample(go, {}, &plain);
        go.with_guidance(0.0);  // explicitly none: the same images
        CHECK(cfg.sample(go) == a0);
        go.with_guidance(1.0);
        cfg.sample(go, {}, &guided);
        CHECK(guided.score_evals == 2 * plain.score_evals && guided.guidance == 1.0);
        dinof::Model cls(fixture("gauss-vp-class"));
        CHECK(!cls.info().has_guidance && cls.info().label_names.empty());
        CHECK_THROWS(cls.sample(go), DINOF_STATUS_INVALID_ARGUMENT);
    }

    // Jobs: same images as the synchronous call; move-only handles.
    {
        int job_calls = 0;
        dinof::Job job = model.start(opts, [&](const dinof_progress&) {
            job_calls++;
            return true;
        });
        dinof::Job moved = std::move(job);
        CHECK(moved.result() == a);
        CHECK(moved.result_rgba8() == rgba);
        CHECK(moved.report().seed == 11 && job_calls == static_cast<int>(steps) + 1);
        CHECK(moved.done() && moved.progress().phase == DINOF_PHASE_FINISHED);
        CHECK_THROWS(job.wait(), DINOF_STATUS_NULL_POINTER);  // the moved-from handle
    }
    {
        dinof::SampleOptions longer(2);
        longer.steps = 1000000;
        dinof::Job job = model.start(longer);
        CHECK(!job.wait(std::chrono::milliseconds(5)));
        job.cancel();
        CHECK_THROWS(job.wait(), DINOF_STATUS_CANCELLED);
    }
    {
        // Destroying a running job cancels and detaches it (ABI 2: returns at once); the thread ends on its own and
        // dinof_shutdown below joins it.
        dinof::SampleOptions longer(2);
        longer.steps = 1000000;
        dinof::Job job = model.start(longer, [](const dinof_progress&) { return true; });
    }
    {
        dinof::Model moved = std::move(model);
        CHECK(moved.sample(opts) == a);
        model = std::move(moved);
        CHECK(model.sample(opts) == a);
    }

    // Release the model, then join every dinof thread (the detached job's included) before exit, as a host
    // process does before unloading the library: nothing is left running for valgrind to call lost.
    { dinof::Model released = std::move(model); }
    CHECK(dinof_shutdown(-1) == DINOF_STATUS_OK);

    std::printf("test_cpp: %d checks, %d failed\n", checks_run, checks_failed);
    return checks_failed == 0 ? 0 : 1;
}
