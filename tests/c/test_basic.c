/* Happy paths on the analytic bundles: version, status strings, defaults, model info, float and RGBA8 sampling,
   determinism across calls / batch sizes / index splits, start modes, methods, labels, progress callbacks. */
#include "check.h"

static void test_version(void) {
    char expect[64];
    snprintf(expect, sizeof expect, "%u.%u.%u", dinof_version_major(), dinof_version_minor(), dinof_version_patch());
    CHECK(dinof_version_string() != NULL);
    CHECK(strcmp(dinof_version_string(), expect) == 0);
    CHECK(dinof_abi_version() == DINOF_ABI_VERSION);
}

static void test_status_strings(void) {
    const dinof_status all[] = {
        DINOF_STATUS_OK, DINOF_STATUS_INVALID_ARGUMENT, DINOF_STATUS_BUFFER_TOO_SMALL, DINOF_STATUS_IO,
        DINOF_STATUS_INVALID_MANIFEST, DINOF_STATUS_UNSUPPORTED_VERSION, DINOF_STATUS_MISSING_FILE,
        DINOF_STATUS_CHECKSUM_MISMATCH, DINOF_STATUS_INVALID_ONNX, DINOF_STATUS_NETWORK_MISMATCH,
        DINOF_STATUS_BACKEND, DINOF_STATUS_BACKEND_UNAVAILABLE, DINOF_STATUS_EXECUTION_PROVIDER_UNAVAILABLE,
        DINOF_STATUS_NON_FINITE, DINOF_STATUS_CANCELLED, DINOF_STATUS_INTERNAL, DINOF_STATUS_NULL_POINTER,
        DINOF_STATUS_STRUCT_SIZE, DINOF_STATUS_BAD_ENUM_VALUE, DINOF_STATUS_TIMEOUT, DINOF_STATUS_PANIC,
        DINOF_STATUS_NOT_READY, DINOF_STATUS_OUT_OF_MEMORY, DINOF_STATUS_BAD_FILE_NAME,
        DINOF_STATUS_FILE_OUTSIDE_BUNDLE, DINOF_STATUS_NOT_A_REGULAR_FILE, DINOF_STATUS_MANIFEST_TOO_LARGE,
        DINOF_STATUS_CALLED_FROM_CALLBACK, DINOF_STATUS_BUSY,
    };
    size_t i;
    for (i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *s = dinof_status_string(all[i]);
        CHECK(s != NULL && s[0] != '\0' && strcmp(s, "unknown status") != 0);
    }
    /* The numbers are part of the ABI. */
    CHECK(DINOF_STATUS_OK == 0 && DINOF_STATUS_CANCELLED == 14 && DINOF_STATUS_NULL_POINTER == 100);
    CHECK(DINOF_STATUS_PANIC == 104 && DINOF_STATUS_NOT_READY == 105);
    CHECK(DINOF_STATUS_OUT_OF_MEMORY == 16 && DINOF_STATUS_MANIFEST_TOO_LARGE == 20 && DINOF_STATUS_BUSY == 107);
    CHECK(sizeof(dinof_status) == 4 && sizeof(dinof_start) == 4 && sizeof(dinof_phase) == 4);
    CHECK(strcmp(dinof_status_string(DINOF_STATUS_CANCELLED), "cancelled") == 0);
    CHECK(dinof_last_error_message() != NULL);
}

static void test_defaults(void) {
    dinof_sample_options o = sample_defaults();
    dinof_load_options l = load_defaults();
    CHECK(o.struct_size == sizeof o && o.n == 1 && o.random_seed == 1 && o.start == DINOF_START_DEFAULT);
    CHECK(o.method == DINOF_METHOD_DEFAULT && o.steps == 0 && o.t_m == 0.0 && o.labels == NULL);
    CHECK(l.struct_size == sizeof l && l.backend == DINOF_BACKEND_DEFAULT && l.verify_checksums && l.threads == 0);
    CHECK(l.ort_library_path == NULL && !l.allow_fallback);
}

static void test_info(dinof_model *m) {
    dinof_model_info info;
    memset(&info, 0xAB, sizeof info);
    info.struct_size = sizeof info;
    CHECK_OK(dinof_model_get_info(m, &info));
    CHECK(info.struct_size == sizeof info);
    CHECK(strcmp(info.name, "gauss-vp") == 0);
    CHECK(info.channels == 1 && info.height == 4 && info.width == 4);
    CHECK(info.image_len == 16 && info.rgba8_len == 64);
    CHECK(info.classes == 0 && info.sde == DINOF_SDE_VP);
    /* 1e-12: the manifest's decimals parsed to the nearest double, so equal in fact; any tolerance < 0.1 works */
    CHECK(info.t_m_count == 2 && fabs(info.t_m[0] - 0.4) < 1e-12 && fabs(info.t_m[1] - 0.6) < 1e-12);
    CHECK(info.has_flow_start && info.has_prior_start);
    CHECK(info.default_start == DINOF_START_FLOW && fabs(info.default_t_start - 0.6) < 1e-12);
    CHECK(info.default_steps == 600);
    CHECK(strcmp(info.backend, "tract") == 0);
    CHECK(info.execution_provider_count >= 1 && strcmp(info.execution_providers[0], "cpu") == 0);
    CHECK(!info.fell_back && info.threads >= 1 && info.sub_batch >= 1);
    CHECK(dinof_last_error_message()[0] == '\0');
}

static int in_unit_range(const float *v, size_t len) {
    size_t i;
    for (i = 0; i < len; i++) {
        if (!(v[i] >= 0.0f && v[i] <= 1.0f)) return 0;
    }
    return 1;
}


static void test_sample(dinof_model *m) {
    const uint32_t steps = quick() ? 5 : 40;
    float a[4 * 16], b[4 * 16], c[4 * 16];
    uint8_t rgba[4 * 64];
    dinof_sample_report r;
    dinof_sample_options o = seeded_options(4, 7, steps);
    size_t i;

    r.struct_size = sizeof r;
    CHECK_OK(dinof_sample(m, &o, a, 64, NULL, NULL, &r));
    CHECK(in_unit_range(a, 64));
    CHECK(r.seed == 7 && r.score_evals == steps && r.flow_evals == 1 && r.network_calls > 0);
    CHECK(r.seconds >= 0.0 && r.network_seconds >= 0.0 && r.struct_size == sizeof r);
    CHECK(r.start == DINOF_START_FLOW && fabs(r.t_start - 0.6) < 1e-12 && r.steps == steps);
    CHECK(r.method == DINOF_METHOD_SDE && r.predictor == DINOF_PREDICTOR_EULER_MARUYAMA);
    CHECK(r.corrector == DINOF_CORRECTOR_NONE && r.denoise && fabs(r.temperature - 1.0) < 1e-12);

    /* Same seed, same images; a different seed, different images. */
    CHECK_OK(dinof_sample(m, &o, b, 64, NULL, NULL, NULL));
    CHECK(memcmp(a, b, sizeof a) == 0);
    o.seed = 8;
    CHECK_OK(dinof_sample(m, &o, b, 64, NULL, NULL, NULL));
    CHECK(memcmp(a, b, sizeof a) != 0);

    /* Batch size and splitting by first_index never change the images. */
    o = seeded_options(4, 7, steps);
    o.batch_size = 1;
    CHECK_OK(dinof_sample(m, &o, b, 64, NULL, NULL, NULL));
    CHECK(memcmp(a, b, sizeof a) == 0);
    o = seeded_options(2, 7, steps);
    CHECK_OK(dinof_sample(m, &o, c, 32, NULL, NULL, NULL));
    o.first_index = 2;
    CHECK_OK(dinof_sample(m, &o, c + 32, 32, NULL, NULL, NULL));
    CHECK(memcmp(a, c, sizeof a) == 0);

    /* A larger buffer than needed is fine; the tail is untouched. */
    {
        float big[80];
        for (i = 0; i < 80; i++) big[i] = -5.0f;
        o = seeded_options(4, 7, steps);
        CHECK_OK(dinof_sample(m, &o, big, 80, NULL, NULL, NULL));
        CHECK(memcmp(big, a, sizeof a) == 0 && big[64] == -5.0f && big[79] == -5.0f);
    }

    /* RGBA8 is the float output quantised, grey to RGB, alpha 255; converted batch by batch (3 + 1 images here),
       with the same bytes. */
    for (i = 0; i < 2; i++) {
        size_t k;
        int ok = 1;
        o = seeded_options(4, 7, steps);
        o.batch_size = i == 0 ? 0 : 3;
        memset(rgba, 0, sizeof rgba);
        CHECK_OK(dinof_sample_rgba8(m, &o, rgba, sizeof rgba, NULL, NULL, NULL));
        for (k = 0; k < 64; k++) {
            uint8_t g = (uint8_t)lrintf(a[k] * 255.0f);
            const uint8_t *p = rgba + 4 * k;
            if (p[0] != g || p[1] != g || p[2] != g || p[3] != 255) ok = 0;
        }
        CHECK(ok);
    }

    /* A random seed is reported and reproduces the images. */
    o = sample_defaults();
    o.n = 4;
    o.steps = steps;
    CHECK_OK(dinof_sample(m, &o, b, 64, NULL, NULL, &r));
    o.random_seed = 0;
    o.seed = r.seed;
    CHECK_OK(dinof_sample(m, &o, c, 64, NULL, NULL, NULL));
    CHECK(memcmp(b, c, sizeof b) == 0);

    /* Raw output is SDE space: pixels = clamp(raw * 0.5 + 0.5). */
    o = seeded_options(4, 7, steps);
    o.raw = 1;
    CHECK_OK(dinof_sample(m, &o, b, 64, NULL, NULL, NULL));
    {
        int ok = 1;
        for (i = 0; i < 64; i++) {
            float p = b[i] * 0.5f + 0.5f;
            p = p < 0.0f ? 0.0f : (p > 1.0f ? 1.0f : p);
            if (fabsf(p - a[i]) > 1e-6f) ok = 0; /* ×0.5 is exact, so one rounding either side: ≤ 6e-8 */
        }
        CHECK(ok);
    }
}

static void test_settings(dinof_model *m) {
    const uint32_t steps = quick() ? 4 : 20;
    float out[2 * 16];
    dinof_sample_report r;
    dinof_sample_options o = seeded_options(2, 3, steps);
    r.struct_size = sizeof r;

    o.start = DINOF_START_PRIOR;
    CHECK_OK(dinof_sample(m, &o, out, 32, NULL, NULL, &r));
    CHECK(r.start == DINOF_START_PRIOR && r.t_start == 1.0 && r.flow_evals == 0 && in_unit_range(out, 32));

    o = seeded_options(2, 3, steps);
    o.t_m = 0.4;
    CHECK_OK(dinof_sample(m, &o, out, 32, NULL, NULL, &r));
    CHECK(fabs(r.t_start - 0.4) < 1e-12);

    o = seeded_options(2, 3, steps);
    o.method = DINOF_METHOD_ODE;
    o.solver = DINOF_SOLVER_EULER;
    CHECK_OK(dinof_sample(m, &o, out, 32, NULL, NULL, &r));
    CHECK(r.method == DINOF_METHOD_ODE && r.solver == DINOF_SOLVER_EULER && in_unit_range(out, 32));
    o.solver = DINOF_SOLVER_HEUN;
    CHECK_OK(dinof_sample(m, &o, out, 32, NULL, NULL, &r));
    CHECK(r.solver == DINOF_SOLVER_HEUN);
    /* The few-step solvers and grids appended in ABI 2 (issue 10): DPM-Solver++(2M) on the log-SNR grid makes one
       score evaluation per step plus the final denoising one; rk45 reports the evaluations it actually made. */
    float heun[32], uniform_t[32];
    memcpy(heun, out, sizeof heun);
    o.solver = DINOF_SOLVER_DPMPP_2M;
    o.schedule = DINOF_SCHEDULE_TIME; /* a caller's grid always wins over the solver's default */
    CHECK_OK(dinof_sample(m, &o, uniform_t, 32, NULL, NULL, &r));
    CHECK(r.schedule == DINOF_SCHEDULE_TIME); /* the report's appended fields: the resolved grid */
    o.schedule = DINOF_SCHEDULE_DEFAULT;      /* dpmpp_2m's own default grid is log-SNR (issue 24) */
    CHECK_OK(dinof_sample(m, &o, out, 32, NULL, NULL, &r));
    CHECK(r.solver == DINOF_SOLVER_DPMPP_2M && r.score_evals == steps + 1 && in_unit_range(out, 32));
    CHECK(r.schedule == DINOF_SCHEDULE_LOGSNR && r.rtol == 1e-5 && r.atol == 1e-5 && r.churn == 0.0);
    /* Another solver, and another grid, give other images: the options reach the sampler. */
    CHECK(memcmp(heun, out, sizeof heun) != 0 && memcmp(uniform_t, out, sizeof out[0] * 32) != 0);
    o.solver = DINOF_SOLVER_RK45;
    o.schedule = DINOF_SCHEDULE_DEFAULT;
    o.rtol = 1e-3;
    o.atol = 1e-3;
    CHECK_OK(dinof_sample(m, &o, out, 32, NULL, NULL, &r));
    CHECK(r.solver == DINOF_SOLVER_RK45 && r.score_evals > 2 && in_unit_range(out, 32));
    CHECK(r.rtol == 1e-3 && r.atol == 1e-3);

    o = seeded_options(2, 3, steps);
    o.predictor = DINOF_PREDICTOR_REVERSE_DIFFUSION;
    o.corrector = DINOF_CORRECTOR_LANGEVIN;
    o.snr = 0.1;
    o.corrector_steps = 2;
    o.langevin_norm = DINOF_LANGEVIN_NORM_BATCH;
    o.temperature = 0.5;
    o.denoise = DINOF_DENOISE_OFF;
    CHECK_OK(dinof_sample(m, &o, out, 32, NULL, NULL, &r));
    CHECK(r.predictor == DINOF_PREDICTOR_REVERSE_DIFFUSION && r.corrector == DINOF_CORRECTOR_LANGEVIN);
    CHECK(r.snr == 0.1 && r.corrector_steps == 2 && r.langevin_norm == DINOF_LANGEVIN_NORM_BATCH);
    CHECK(r.temperature == 0.5 && !r.denoise);
    o.predictor = DINOF_PREDICTOR_ANCESTRAL;
    CHECK_OK(dinof_sample(m, &o, out, 32, NULL, NULL, &r));
    CHECK(r.predictor == DINOF_PREDICTOR_ANCESTRAL);
}

static double mean(const float *v, size_t len) {
    double s = 0.0;
    size_t i;
    for (i = 0; i < len; i++) s += v[i];
    return s / (double)len;
}

static void test_labels(void) {
    dinof_model *m = load_or_die(fixture("gauss-vp-class"));
    dinof_model_info info;
    const uint32_t steps = 30; /* fewer steps blur the class means */
    enum { N = 8 };
    float a[N * 16], b[N * 16], c[N * 16];
    int64_t zero = 0, one = 1;
    int64_t per_image[N] = {0, 1, 0, 1, 0, 1, 0, 1};
    dinof_sample_options o = seeded_options(N, 5, steps);

    info.struct_size = sizeof info;
    CHECK_OK(dinof_model_get_info(m, &info));
    CHECK(info.classes == 2 && info.t_m_count == 1);

    o.labels = &zero;
    o.label_count = 1;
    CHECK_OK(dinof_sample(m, &o, a, N * 16, NULL, NULL, NULL));
    o.labels = &one;
    CHECK_OK(dinof_sample(m, &o, b, N * 16, NULL, NULL, NULL));
    /* Class means are -0.4 and 0.4 in SDE space: pixels around 0.3 and 0.7. */
    /* 128 pixels of sd 0.1 per class: se 0.009, so 0.1 from the class mean is 11 se */
    CHECK(mean(a, N * 16) < 0.4 && mean(b, N * 16) > 0.6);

    /* One label per image: image k is the image of its own label whatever the others (k even: a's, k odd: b's). */
    o.labels = per_image;
    o.label_count = N;
    CHECK_OK(dinof_sample(m, &o, c, N * 16, NULL, NULL, NULL));
    CHECK(memcmp(c, a, 16 * sizeof(float)) == 0 && memcmp(c + 16, b + 16, 16 * sizeof(float)) == 0);
    CHECK(memcmp(c + 7 * 16, b + 7 * 16, 16 * sizeof(float)) == 0);
    dinof_model_free(m);
}

/* Class names and classifier-free guidance (gauss-vp-class-cfg: classes "Low" / "High" with means -0.4 / 0.4, and a
   null label whose data are N(0, 0.2^2): guidance w gives class means (1 + w) mu_y exactly). */
static void test_label_names_and_guidance(void) {
    dinof_model *m = load_or_die(fixture("gauss-vp-class-cfg"));
    dinof_model_info info;
    dinof_sample_report plain, guided;
    enum { N = 16 };
    float a[N * 16], b[N * 16];
    int64_t high = -1;
    dinof_sample_options o = seeded_options(N, 5, 200);

    info.struct_size = sizeof info;
    CHECK_OK(dinof_model_get_info(m, &info));
    CHECK(info.label_name_count == 2 && info.label_names != NULL);
    CHECK(strcmp(info.label_names[0], "Low") == 0 && strcmp(info.label_names[1], "High") == 0);
    CHECK(info.has_guidance == 1 && info.default_guidance == 0.0);
    CHECK_OK(dinof_model_label_index(m, "hIGH", &high)); /* names ignore case */
    CHECK(high == 1);

    o.start = DINOF_START_PRIOR;
    o.raw = 1;
    o.labels = &high;
    o.label_count = 1;
    plain.struct_size = guided.struct_size = sizeof plain;
    CHECK_OK(dinof_sample(m, &o, a, N * 16, NULL, NULL, &plain));
    o.guidance = -1.0; /* explicitly none: the same images */
    CHECK_OK(dinof_sample(m, &o, b, N * 16, NULL, NULL, NULL));
    CHECK(memcmp(a, b, sizeof a) == 0);
    o.guidance = 1.0;
    CHECK_OK(dinof_sample(m, &o, b, N * 16, NULL, NULL, &guided));
    /* Two score evaluations per step with guidance, both counted. */
    CHECK(guided.score_evals == 2 * plain.score_evals && plain.score_evals == 200);
    CHECK(guided.guidance == 1.0 && plain.guidance == 0.0);
    /* Class mean 0.4 without guidance, (1 + 1) * 0.4 = 0.8 with w = 1 (256 values, std 0.2: se 0.0125, so 0.06 is
       4.8 se, 4 plus 0.01 for 200 steps' bias; a wrong w moves the mean by 0.4 per unit). */
    CHECK(fabs(mean(a, N * 16) - 0.4) < 0.06);
    CHECK(fabs(mean(b, N * 16) - 0.8) < 0.06);
    dinof_model_free(m);
}

typedef struct {
    int calls;
    int flow_calls;
    int monotone;
    double last_fraction;
    size_t last_total;
    const void *self;
} progress_log;

static int log_progress(const dinof_progress *p, void *user) {
    progress_log *log = (progress_log *)user;
    if (log->self != log) return 1; /* the user pointer must come back unchanged */
    log->calls++;
    if (p->phase == DINOF_PHASE_FLOW) log->flow_calls++;
    if (p->fraction < log->last_fraction || p->fraction < 0.0 || p->fraction > 1.0) log->monotone = 0;
    if (p->struct_size != sizeof *p) log->monotone = 0;
    log->last_fraction = p->fraction;
    log->last_total = p->total;
    return 0;
}

static void test_progress(dinof_model *m) {
    float out[3 * 16];
    progress_log log = {0, 0, 1, 0.0, 0, NULL};
    dinof_sample_options o = seeded_options(3, 1, 10);
    log.self = &log;
    o.batch_size = 2; /* two batches: flow + 10 steps each */
    CHECK_OK(dinof_sample(m, &o, out, 48, log_progress, &log, NULL));
    CHECK(log.calls == 22 && log.flow_calls == 2 && log.monotone && log.last_total == 3);
    CHECK(log.last_fraction > 0.6);

    /* One batch of 4 images: the fraction climbs to nearly 1 during the batch (it used to stop at 1/n). */
    {
        float four[4 * 16];
        progress_log one = {0, 0, 1, 0.0, 0, NULL};
        dinof_sample_options o4 = seeded_options(4, 1, 10);
        one.self = &one;
        CHECK_OK(dinof_sample(m, &o4, four, 64, log_progress, &one, NULL));
        CHECK(one.monotone && one.calls == 11);
        CHECK(one.last_fraction > 0.99 && one.last_fraction <= 1.0);
    }
}

static void test_other_bundles(void) {
    const char *names[] = {"mixture-vp", "gauss-ve", "gauss-subvp", "mixture-ve"};
    size_t i;
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        dinof_model *m = load_or_die(fixture(names[i]));
        float out[2 * 16];
        dinof_sample_options o = seeded_options(2, 11, quick() ? 3 : 20);
        CHECK_OK(dinof_sample(m, &o, out, 32, NULL, NULL, NULL));
        CHECK(in_unit_range(out, 32));
        dinof_model_free(m);
    }
}

int main(void) {
    dinof_model *m;
    test_version();
    test_status_strings();
    test_defaults();
    m = load_or_die(fixture("gauss-vp"));
    test_info(m);
    test_sample(m);
    test_settings(m);
    test_progress(m);
    dinof_model_free(m);
    test_labels();
    test_label_names_and_guidance();
    test_other_bundles();
    dinof_model_free(NULL);
    dinof_job_free(NULL);
    return finish("test_basic");
}
