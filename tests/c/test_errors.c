/* Bad input at every entry point: NULLs, zero n, small buffers, wrong struct sizes, bad enum values, bad option
   values, broken and mismatched bundles. Each must fail with its own status and a message, touch nothing it should
   not, and leave the model usable. */
#define _XOPEN_SOURCE 700
#include "check.h"
#include "portable.h"

/* Loading `name` must fail with `expected`, leave *out NULL and explain why (mentioning `needle`). */
static void load_fails(const char *path, dinof_status expected, const char *needle) {
    dinof_model *m = (dinof_model *)&m; /* garbage that must be overwritten with NULL */
    CHECK_FAILS(dinof_model_load(path, NULL, &m), expected);
    CHECK(m == NULL);
    if (needle) CHECK_MESSAGE(needle);
}

static void test_load_errors(void) {
    dinof_model *m = NULL;
    dinof_load_options l = load_defaults();
    struct {
        dinof_load_options o;
        unsigned char future[64];
    } big;

    CHECK_FAILS(dinof_model_load(NULL, NULL, &m), DINOF_STATUS_NULL_POINTER);
    CHECK_MESSAGE("path");
    CHECK_FAILS(dinof_model_load(fixture("gauss-vp"), NULL, NULL), DINOF_STATUS_NULL_POINTER);
    CHECK_MESSAGE("out");

    l.struct_size = 0;
    CHECK_FAILS(dinof_model_load(fixture("gauss-vp"), &l, &m), DINOF_STATUS_STRUCT_SIZE);
    CHECK_MESSAGE("struct_size");
    l.struct_size = sizeof l - 1;
    CHECK_FAILS(dinof_model_load(fixture("gauss-vp"), &l, &m), DINOF_STATUS_STRUCT_SIZE);
    l = load_defaults();
    *(int *)&l.backend = 7;
    CHECK_FAILS(dinof_model_load(fixture("gauss-vp"), &l, &m), DINOF_STATUS_BAD_ENUM_VALUE);
    CHECK_MESSAGE("backend = 7");
    l = load_defaults();
    *(int *)&l.execution_provider = -1;
    CHECK_FAILS(dinof_model_load(fixture("gauss-vp"), &l, &m), DINOF_STATUS_BAD_ENUM_VALUE);
    CHECK_MESSAGE("execution_provider");
    l = load_defaults();
    l.threads = 1000000;
    CHECK_FAILS(dinof_model_load(fixture("gauss-vp"), &l, &m), DINOF_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("threads");
    l = load_defaults();
    l.backend = DINOF_BACKEND_ORT;
    l.ort_library_path = "/nonexistent/libonnxruntime.so";
    CHECK_FAILS(dinof_model_load(fixture("gauss-vp"), &l, &m), DINOF_STATUS_BACKEND_UNAVAILABLE);
    CHECK(m == NULL);

    /* A newer header's larger struct is refused: this library cannot honour fields it does not know. */
    memset(&big, 0xFF, sizeof big);
    big.o = load_defaults();
    big.o.struct_size = sizeof big;
    CHECK_FAILS(dinof_model_load(fixture("gauss-vp"), &big.o, &m), DINOF_STATUS_STRUCT_SIZE);
    CHECK_MESSAGE("newer");
    CHECK(m == NULL);
    CHECK_FAILS(dinof_load_options_init(&big.o, sizeof big), DINOF_STATUS_STRUCT_SIZE);
    CHECK_FAILS(dinof_load_options_init(NULL, sizeof big.o), DINOF_STATUS_NULL_POINTER);

    load_fails("/nonexistent/bundle", DINOF_STATUS_MISSING_FILE, "/nonexistent/bundle");
    load_fails(fixture("bad-missing-file"), DINOF_STATUS_MISSING_FILE, "flow_t0.4.onnx");
    load_fails(fixture("bad-version"), DINOF_STATUS_UNSUPPORTED_VERSION, "version");
    load_fails(fixture("bad-corrupt-onnx"), DINOF_STATUS_INVALID_ONNX, "score.onnx");
    load_fails(fixture("bad-shape"), DINOF_STATUS_NETWORK_MISMATCH, "shape");
    load_fails(fixture("bad-output-name"), DINOF_STATUS_NETWORK_MISMATCH, "score");
    load_fails(fixture("bad-checksum"), DINOF_STATUS_CHECKSUM_MISMATCH, "checksum");
    load_fails(fixture("bad-json"), DINOF_STATUS_INVALID_MANIFEST, "dinof.json");
    load_fails(fixture("bad-kind"), DINOF_STATUS_INVALID_MANIFEST, "kind");
    load_fails(fixture("bad-eps"), DINOF_STATUS_INVALID_MANIFEST, "eps");
    load_fails(fixture("bad-negative-beta"), DINOF_STATUS_INVALID_MANIFEST, "beta");
    load_fails(fixture("bad-tm"), DINOF_STATUS_INVALID_MANIFEST, "t_m");
    load_fails(fixture("bad-unknown-field"), DINOF_STATUS_INVALID_MANIFEST, NULL);

    /* Checksums can be skipped on purpose. */
    l = load_defaults();
    l.verify_checksums = 0;
    CHECK_OK(dinof_model_load(fixture("bad-checksum"), &l, &m));
    dinof_model_free(m);

    /* A directory in the manifest's place is not a regular file. */
    {
        char dir[4096];
        char manifest[4200];
        temp_template(dir, sizeof dir, "dinof-test-");
        if (mkdtemp(dir) != NULL) {
            snprintf(manifest, sizeof manifest, "%s/dinof.json", dir);
            mkdir(manifest, 0700);
            load_fails(dir, DINOF_STATUS_NOT_A_REGULAR_FILE, "dinof.json");
            rmdir(manifest);
            rmdir(dir);
        } else {
            CHECK(!"mkdtemp failed");
        }
    }
}

static dinof_sample_options seeded(size_t n, uint32_t steps) { return seeded_options(n, 1, steps); }

/* A sample call with these options must fail with `expected`. */
#define SAMPLE_FAILS(m, o, expected)                                                      \
    do {                                                                                  \
        float out_[4 * 16];                                                               \
        CHECK_FAILS(dinof_sample((m), &(o), out_, 4 * 16, NULL, NULL, NULL), (expected)); \
    } while (0)

static void test_sample_errors(dinof_model *m) {
    float out[4 * 16];
    uint8_t rgba[4 * 64];
    size_t i;
    int canary_ok;
    dinof_sample_report r;
    dinof_sample_options o = seeded(4, 5);
    struct {
        dinof_sample_options o;
        unsigned char future[64];
    } big;

    CHECK_FAILS(dinof_sample(NULL, &o, out, 64, NULL, NULL, NULL), DINOF_STATUS_NULL_POINTER);
    CHECK_MESSAGE("model");
    CHECK_FAILS(dinof_sample(m, NULL, out, 64, NULL, NULL, NULL), DINOF_STATUS_NULL_POINTER);
    CHECK_MESSAGE("opts");
    CHECK_FAILS(dinof_sample(m, &o, NULL, 64, NULL, NULL, NULL), DINOF_STATUS_NULL_POINTER);
    CHECK_MESSAGE("out");
    CHECK_FAILS(dinof_sample(m, &o, NULL, 0, NULL, NULL, NULL), DINOF_STATUS_NULL_POINTER);

    /* Too-small buffers: refused before anything is written. */
    for (i = 0; i < 64; i++) out[i] = -1.0f;
    CHECK_FAILS(dinof_sample(m, &o, out, 63, NULL, NULL, NULL), DINOF_STATUS_BUFFER_TOO_SMALL);
    CHECK_MESSAGE("64");
    CHECK_FAILS(dinof_sample(m, &o, out, 0, NULL, NULL, NULL), DINOF_STATUS_BUFFER_TOO_SMALL);
    canary_ok = 1;
    for (i = 0; i < 64; i++) canary_ok &= out[i] == -1.0f;
    CHECK(canary_ok);
    CHECK_FAILS(dinof_sample_rgba8(m, &o, rgba, 4 * 64 - 1, NULL, NULL, NULL), DINOF_STATUS_BUFFER_TOO_SMALL);
    CHECK_FAILS(dinof_sample_rgba8(m, &o, NULL, 4 * 64, NULL, NULL, NULL), DINOF_STATUS_NULL_POINTER);
    CHECK_FAILS(dinof_sample_rgba8(NULL, &o, rgba, 4 * 64, NULL, NULL, NULL), DINOF_STATUS_NULL_POINTER);
    CHECK_FAILS(dinof_sample_rgba8(m, NULL, rgba, 4 * 64, NULL, NULL, NULL), DINOF_STATUS_NULL_POINTER);

    /* Zero and absurd n. */
    o.n = 0;
    SAMPLE_FAILS(m, o, DINOF_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("n is 0");
    CHECK_FAILS(dinof_sample_rgba8(m, &o, rgba, sizeof rgba, NULL, NULL, NULL), DINOF_STATUS_INVALID_ARGUMENT);
    o.n = SIZE_MAX / 2; /* n × 16 overflows size_t */
    SAMPLE_FAILS(m, o, DINOF_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("overflow");
    o.n = (size_t)1 << 40;
    SAMPLE_FAILS(m, o, DINOF_STATUS_BUFFER_TOO_SMALL);
    /* Image indices first_index .. first_index + n - 1 must fit in 64 bits. */
    o = seeded(2, 5);
    o.first_index = UINT64_MAX;
    SAMPLE_FAILS(m, o, DINOF_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("first_index");
    o.n = 1;
    CHECK_OK(dinof_sample(m, &o, out, 16, NULL, NULL, NULL));

    /* Struct sizes. */
    o = seeded(4, 5);
    o.struct_size = 0;
    SAMPLE_FAILS(m, o, DINOF_STATUS_STRUCT_SIZE);
    o.struct_size = 4;
    SAMPLE_FAILS(m, o, DINOF_STATUS_STRUCT_SIZE);
    o.struct_size = sizeof o - 1;
    SAMPLE_FAILS(m, o, DINOF_STATUS_STRUCT_SIZE);
    CHECK_MESSAGE("struct_size");
    o = seeded(4, 5);
    r.struct_size = 4;
    CHECK_FAILS(dinof_sample(m, &o, out, 64, NULL, NULL, &r), DINOF_STATUS_STRUCT_SIZE);
    CHECK_MESSAGE("report");
    memset(&big, 0xFF, sizeof big);
    big.o = seeded(4, 5);
    big.o.struct_size = sizeof big;
    CHECK_FAILS(dinof_sample(m, &big.o, out, 64, NULL, NULL, NULL), DINOF_STATUS_STRUCT_SIZE);

    /* Enum values that are not constants of their enum. */
#define BAD_ENUM(field, value, name)                    \
    do {                                                \
        o = seeded(4, 5);                               \
        *(int *)&o.field = (value);                     \
        SAMPLE_FAILS(m, o, DINOF_STATUS_BAD_ENUM_VALUE); \
        CHECK_MESSAGE(name);                            \
    } while (0)
    BAD_ENUM(start, 4, "start = 4"); /* 3 is DINOF_START_GAUSSIAN (issue 19) */
    BAD_ENUM(start, -1, "start = -1");
    BAD_ENUM(method, 5, "method = 5");
    BAD_ENUM(predictor, 99, "predictor = 99");
    BAD_ENUM(corrector, -7, "corrector = -7");
    BAD_ENUM(solver, 7, "solver = 7");
    BAD_ENUM(schedule, 5, "schedule = 5");
    BAD_ENUM(langevin_norm, 1000000, "langevin_norm");
    BAD_ENUM(denoise, 3, "denoise = 3");
#undef BAD_ENUM

    /* Option values the model refuses. */
    o = seeded(4, 5);
    o.t_m = 0.5;
    SAMPLE_FAILS(m, o, DINOF_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("0.5");
    o.t_m = NAN;
    SAMPLE_FAILS(m, o, DINOF_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("NaN");
    o = seeded(4, 5);
    o.temperature = NAN;
    SAMPLE_FAILS(m, o, DINOF_STATUS_INVALID_ARGUMENT);
    o.temperature = INFINITY;
    SAMPLE_FAILS(m, o, DINOF_STATUS_INVALID_ARGUMENT);
    o = seeded(4, 5);
    o.snr = NAN;
    SAMPLE_FAILS(m, o, DINOF_STATUS_INVALID_ARGUMENT);
    o = seeded(4, 2000000);
    SAMPLE_FAILS(m, o, DINOF_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("steps");
    o = seeded(4, 5);
    o.start = DINOF_START_PRIOR;
    o.t_m = 0.6;
    SAMPLE_FAILS(m, o, DINOF_STATUS_INVALID_ARGUMENT);
    o = seeded(4, 5);
    o.predictor = DINOF_PREDICTOR_NONE;
    o.corrector = DINOF_CORRECTOR_NONE;
    SAMPLE_FAILS(m, o, DINOF_STATUS_INVALID_ARGUMENT);
    {
        int64_t label = 0;
        o = seeded(4, 5);
        o.labels = &label;
        o.label_count = 1;
        SAMPLE_FAILS(m, o, DINOF_STATUS_INVALID_ARGUMENT);
        CHECK_MESSAGE("unconditional");
        o.labels = NULL;
        o.label_count = 2;
        SAMPLE_FAILS(m, o, DINOF_STATUS_NULL_POINTER);
        CHECK_MESSAGE("labels");
    }
    o = seeded(4, 5);
    o.raw = 1;
    CHECK_FAILS(dinof_sample_rgba8(m, &o, rgba, sizeof rgba, NULL, NULL, NULL), DINOF_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("raw");
}

static void test_label_errors(void) {
    dinof_model *m = load_or_die(fixture("gauss-vp-class"));
    dinof_sample_options o = seeded(4, 5);
    int64_t labels[4] = {0, 1, 0, 1};
    o.labels = labels;
    o.label_count = 3;
    SAMPLE_FAILS(m, o, DINOF_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("3 labels for 4 images");
    labels[2] = 2;
    o.label_count = 4;
    SAMPLE_FAILS(m, o, DINOF_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("label 2");
    labels[2] = -1;
    SAMPLE_FAILS(m, o, DINOF_STATUS_INVALID_ARGUMENT);
    labels[2] = 0;
    {
        float out[4 * 16];
        CHECK_OK(dinof_sample(m, &o, out, 64, NULL, NULL, NULL));
    }
    /* No labels for a conditional model: refused, not guessed. */
    o.labels = NULL;
    o.label_count = 0;
    SAMPLE_FAILS(m, o, DINOF_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("no labels given");
    o.labels = labels;
    o.label_count = 4;
    {
        /* Names: this bundle has none (an index as text still works); guidance needs a null label. */
        int64_t label = -7;
        CHECK_FAILS(dinof_model_label_index(m, "High", &label), DINOF_STATUS_INVALID_ARGUMENT);
        CHECK_MESSAGE("no class names");
        CHECK(label == -7);
        CHECK_OK(dinof_model_label_index(m, "1", &label));
        CHECK(label == 1);
        o.guidance = 1.0;
        SAMPLE_FAILS(m, o, DINOF_STATUS_INVALID_ARGUMENT);
        CHECK_MESSAGE("null label");
    }
    dinof_model_free(m);
}

/* Class names (gauss-vp-class-cfg: "Low", "High"): each wrong name or index is its own message. */
static void test_label_name_errors(dinof_model *unconditional) {
    dinof_model *m = load_or_die(fixture("gauss-vp-class-cfg"));
    dinof_sample_options o = seeded(2, 5);
    int64_t label = -7;
    CHECK_FAILS(dinof_model_label_index(m, "Medium", &label), DINOF_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("0 Low, 1 High"); /* the message lists the valid names */
    CHECK_FAILS(dinof_model_label_index(m, "2", &label), DINOF_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("out of range");
    CHECK_FAILS(dinof_model_label_index(m, NULL, &label), DINOF_STATUS_NULL_POINTER);
    CHECK_FAILS(dinof_model_label_index(m, "Low", NULL), DINOF_STATUS_NULL_POINTER);
    CHECK_FAILS(dinof_model_label_index(NULL, "Low", &label), DINOF_STATUS_NULL_POINTER);
    CHECK(label == -7); /* untouched by every failure */
    CHECK_FAILS(dinof_model_label_index(unconditional, "0", &label), DINOF_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("unconditional");
    o.guidance = NAN;
    SAMPLE_FAILS(m, o, DINOF_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("guidance");
    dinof_model_free(m);
}

static void test_nan_bundle(void) {
    dinof_model *m = load_or_die(fixture("bad-nan"));
    dinof_sample_options o = seeded(2, 5);
    float out[2 * 16];
    CHECK_FAILS(dinof_sample(m, &o, out, 32, NULL, NULL, NULL), DINOF_STATUS_NON_FINITE);
    CHECK_MESSAGE("score");
    dinof_model_free(m);
}

static void test_info_errors(dinof_model *m) {
    dinof_model_info info;
    struct {
        dinof_model_info info;
        unsigned char future[32];
    } big;
    size_t i;
    int untouched = 1;
    info.struct_size = sizeof info;
    CHECK_FAILS(dinof_model_get_info(NULL, &info), DINOF_STATUS_NULL_POINTER);
    CHECK_FAILS(dinof_model_get_info(m, NULL), DINOF_STATUS_NULL_POINTER);
    info.struct_size = 0;
    CHECK_FAILS(dinof_model_get_info(m, &info), DINOF_STATUS_STRUCT_SIZE);
    info.struct_size = sizeof info - 4;
    CHECK_FAILS(dinof_model_get_info(m, &info), DINOF_STATUS_STRUCT_SIZE);
    /* A newer header's larger output struct is refused and left alone. */
    memset(&big, 0x5A, sizeof big);
    big.info.struct_size = sizeof big;
    CHECK_FAILS(dinof_model_get_info(m, &big.info), DINOF_STATUS_STRUCT_SIZE);
    CHECK(big.info.struct_size == sizeof big);
    for (i = 0; i < sizeof big.future; i++) untouched &= big.future[i] == 0x5A;
    CHECK(untouched);
    CHECK(strcmp(dinof_status_string(-1), "unknown status") == 0);
    CHECK(strcmp(dinof_status_string(9999), "unknown status") == 0);
    CHECK(strcmp(dinof_status_string(21), "unknown status") == 0);
}

static void test_job_errors(dinof_model *m) {
    dinof_job *job = (dinof_job *)&job;
    dinof_sample_options o = seeded(2, 5);
    dinof_progress p;
    dinof_sample_report r;
    float out[2 * 16];
    uint8_t rgba[2 * 64];

    CHECK_FAILS(dinof_job_start(NULL, &o, NULL, NULL, &job), DINOF_STATUS_NULL_POINTER);
    CHECK(job == NULL);
    CHECK_FAILS(dinof_job_start(m, NULL, NULL, NULL, &job), DINOF_STATUS_NULL_POINTER);
    CHECK_FAILS(dinof_job_start(m, &o, NULL, NULL, NULL), DINOF_STATUS_NULL_POINTER);
    o.n = 0;
    CHECK_FAILS(dinof_job_start(m, &o, NULL, NULL, &job), DINOF_STATUS_INVALID_ARGUMENT);
    CHECK(job == NULL);
    o = seeded(2, 5);
    o.struct_size = 3;
    CHECK_FAILS(dinof_job_start(m, &o, NULL, NULL, &job), DINOF_STATUS_STRUCT_SIZE);
    o = seeded(2, 5);
    *(int *)&o.method = 77;
    CHECK_FAILS(dinof_job_start(m, &o, NULL, NULL, &job), DINOF_STATUS_BAD_ENUM_VALUE);
    o = seeded(2, 5);
    o.t_m = 0.123;
    CHECK_FAILS(dinof_job_start(m, &o, NULL, NULL, &job), DINOF_STATUS_INVALID_ARGUMENT);
    o = seeded((size_t)1 << 60, 5); /* n x 16 floats overflows size_t */
    CHECK_FAILS(dinof_job_start(m, &o, NULL, NULL, &job), DINOF_STATUS_INVALID_ARGUMENT);
    CHECK(job == NULL);

    p.struct_size = sizeof p;
    r.struct_size = sizeof r;
    CHECK_FAILS(dinof_job_wait(NULL, 0), DINOF_STATUS_NULL_POINTER);
    CHECK_FAILS(dinof_job_cancel(NULL), DINOF_STATUS_NULL_POINTER);
    CHECK_FAILS(dinof_job_progress(NULL, &p), DINOF_STATUS_NULL_POINTER);
    CHECK_FAILS(dinof_job_result(NULL, out, 32), DINOF_STATUS_NULL_POINTER);
    CHECK_FAILS(dinof_job_result_rgba8(NULL, rgba, sizeof rgba), DINOF_STATUS_NULL_POINTER);
    CHECK_FAILS(dinof_job_report(NULL, &r), DINOF_STATUS_NULL_POINTER);

    o = seeded(2, 5);
    CHECK_OK(dinof_job_start(m, &o, NULL, NULL, &job));
    CHECK_FAILS(dinof_job_progress(job, NULL), DINOF_STATUS_NULL_POINTER);
    p.struct_size = 0;
    CHECK_FAILS(dinof_job_progress(job, &p), DINOF_STATUS_STRUCT_SIZE);
    CHECK_OK(dinof_job_wait(job, -1));
    CHECK_FAILS(dinof_job_result(job, NULL, 32), DINOF_STATUS_NULL_POINTER);
    CHECK_FAILS(dinof_job_result(job, out, 31), DINOF_STATUS_BUFFER_TOO_SMALL);
    CHECK_FAILS(dinof_job_result_rgba8(job, NULL, sizeof rgba), DINOF_STATUS_NULL_POINTER);
    CHECK_FAILS(dinof_job_result_rgba8(job, rgba, sizeof rgba - 1), DINOF_STATUS_BUFFER_TOO_SMALL);
    CHECK_FAILS(dinof_job_report(job, NULL), DINOF_STATUS_NULL_POINTER);
    r.struct_size = 1;
    CHECK_FAILS(dinof_job_report(job, &r), DINOF_STATUS_STRUCT_SIZE);
    CHECK_OK(dinof_job_result(job, out, 32));
    dinof_job_free(job);

    /* A raw job has no RGBA8 form. */
    o = seeded(2, 5);
    o.raw = 1;
    CHECK_OK(dinof_job_start(m, &o, NULL, NULL, &job));
    CHECK_OK(dinof_job_wait(job, -1));
    CHECK_FAILS(dinof_job_result_rgba8(job, rgba, sizeof rgba), DINOF_STATUS_INVALID_ARGUMENT);
    dinof_job_free(job);

    /* A job that fails at run time reports its error from wait, result and report. */
    {
        dinof_model *nan = load_or_die(fixture("bad-nan"));
        r.struct_size = sizeof r;
        o = seeded(2, 5);
        CHECK_OK(dinof_job_start(nan, &o, NULL, NULL, &job));
        CHECK_FAILS(dinof_job_wait(job, -1), DINOF_STATUS_NON_FINITE);
        CHECK_FAILS(dinof_job_result(job, out, 32), DINOF_STATUS_NON_FINITE);
        CHECK_FAILS(dinof_job_report(job, &r), DINOF_STATUS_NON_FINITE);
        dinof_job_free(job);
        dinof_model_free(nan);
    }
}

int main(void) {
    dinof_model *m;
    test_load_errors();
    m = load_or_die(fixture("gauss-vp"));
    test_sample_errors(m);
    test_info_errors(m);
    test_job_errors(m);
    test_label_errors();
    test_label_name_errors(m);
    test_nan_bundle();
    {
        /* After all that, the model still works and a success clears the message. */
        dinof_sample_options o = seeded(2, 5);
        float out[2 * 16];
        CHECK_OK(dinof_sample(m, &o, out, 32, NULL, NULL, NULL));
        CHECK(dinof_last_error_message()[0] == '\0');
    }
    dinof_model_free(m);
    return finish("test_errors");
}
