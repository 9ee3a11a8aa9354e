/* The Gaussian start through the C ABI (issue 19): DINOF_START_GAUSSIAN (3, appended), dinof_model_info's
   gaussian_t_m / gaussian_t_m_count (appended at the tail), the typed errors for a missing Gaussian, and the samples'
   law on the analytic fixture gauss-vp-aniso (data N(0.3, Q diag(lambda) Q^T) in 1x4x4, exact score and exact
   Gaussian starts at T_m 0.4 and 0.6; tests/gaussian_start.rs has the full statistics). */
#include <stddef.h>

#include "check.h"

/* Q[i][k] = (-1)^popcount(i & k) / 4: the fixture's eigenvectors (Sylvester-Hadamard / 4). */
static double q(int i, int k) {
    int v = i & k, parity = 0;
    while (v) {
        parity ^= v & 1;
        v >>= 1;
    }
    return parity ? -0.25 : 0.25;
}

static void test_info(dinof_model *m) {
    dinof_model_info info;
    memset(&info, 0xAB, sizeof info);
    info.struct_size = sizeof info;
    CHECK_OK(dinof_model_get_info(m, &info));
    CHECK(DINOF_START_GAUSSIAN == 3);
    CHECK(info.gaussian_t_m_count == 2 && info.gaussian_t_m != NULL);
    CHECK(fabs(info.gaussian_t_m[0] - 0.4) < 1e-12 && fabs(info.gaussian_t_m[1] - 0.6) < 1e-12);
    CHECK(info.t_m_count == 0 && info.t_m == NULL && !info.has_flow_start && info.has_prior_start);
    CHECK(info.default_start == DINOF_START_GAUSSIAN && fabs(info.default_t_start - 0.6) < 1e-12);
    /* The layout binding generators read. */
    {
        uint32_t off = 0, size = 0;
        CHECK_OK(dinof_struct_layout(DINOF_STRUCT_MODEL_INFO, "gaussian_t_m", &off, &size));
        CHECK(off == offsetof(dinof_model_info, gaussian_t_m) && size == sizeof(const double *));
        CHECK_OK(dinof_struct_layout(DINOF_STRUCT_MODEL_INFO, "gaussian_t_m_count", &off, &size));
        CHECK(off == offsetof(dinof_model_info, gaussian_t_m_count) && size == 8);
    }
    /* An older caller (the struct up to default_guidance) gets its fields; the memory beyond is left alone. */
    {
        unsigned char buf[sizeof(dinof_model_info)];
        dinof_model_info *old = (dinof_model_info *)(void *)buf;
        const size_t old_size = offsetof(dinof_model_info, gaussian_t_m);
        size_t i;
        int untouched = 1;
        memset(buf, 0xCD, sizeof buf);
        old->struct_size = (uint32_t)old_size;
        CHECK_OK(dinof_model_get_info(m, old));
        CHECK(old->default_start == DINOF_START_GAUSSIAN && old->struct_size == old_size);
        for (i = old_size; i < sizeof buf; i++) untouched &= buf[i] == 0xCD;
        CHECK(untouched);
    }
}

/* The probability-flow ODE (rk45, no denoising step) maps the exact start N(a mu, a^2 Sigma + s^2 I) at T_m onto the
   exact marginal at eps, per eigen-coordinate u_k = (Q^T x)_k: N(4 a mu [k = 0], tau^2 (a^2 lambda_k + s^2)) with a,
   s at eps. Checked for the widest and narrowest coordinates at 5 standard errors (mean: sqrt(v/n), variance:
   v sqrt(2/(n-1))); the 100x spread of lambda makes a wrong covariance factor fail by far more. */
static void test_samples(dinof_model *m) {
    const double lambda[2] = {0.25, 0.0025}, mu = 0.3, beta_min = 0.1, beta_max = 20.0, eps = 1e-3;
    const int coords[2] = {0, 15};
    const size_t n = quick() ? 512 : 4096;
    const double tau = 0.5;
    const double log_a = -0.25 * eps * eps * (beta_max - beta_min) - 0.5 * eps * beta_min;
    const double a = exp(log_a), s2 = 1.0 - exp(2.0 * log_a);
    dinof_sample_options o = seeded_options(n, 19, 0);
    dinof_sample_report r;
    float *x = (float *)malloc(n * 16 * sizeof(float));
    int c;
    o.start = DINOF_START_GAUSSIAN;
    o.t_m = 0.4;
    o.temperature = tau;
    o.method = DINOF_METHOD_ODE;
    o.solver = DINOF_SOLVER_RK45;
    o.denoise = DINOF_DENOISE_OFF;
    o.raw = 1;
    o.batch_size = n;
    r.struct_size = sizeof r;
    CHECK_OK(dinof_sample(m, &o, x, n * 16, NULL, NULL, &r));
    CHECK(r.start == DINOF_START_GAUSSIAN && fabs(r.t_start - 0.4) < 1e-12 && r.flow_evals == 1 && r.temperature == tau);
    for (c = 0; c < 2; c++) {
        const int k = coords[c];
        const double want_m = k == 0 ? 4.0 * a * mu : 0.0, want_v = tau * tau * (a * a * lambda[c] + s2);
        double sum = 0.0, sq = 0.0, mean, var;
        size_t j;
        int i;
        for (j = 0; j < n; j++) {
            double u = 0.0;
            for (i = 0; i < 16; i++) u += q(i, k) * x[j * 16 + i];
            sum += u;
            sq += u * u;
        }
        mean = sum / n;
        var = (sq - n * mean * mean) / (n - 1);
        printf("u%d: mean %.4f (want %.4f), var %.6f (want %.6f)\n", k, mean, want_m, var, want_v);
        CHECK(fabs(mean - want_m) <= 5.0 * sqrt(want_v / n));
        CHECK(fabs(var - want_v) <= 5.0 * want_v * sqrt(2.0 / (n - 1)));
    }
    free(x);
}

static void test_errors(dinof_model *m) {
    dinof_sample_options o = seeded_options(1, 1, 5);
    float x[16];
    int untouched = 1, i;
    for (i = 0; i < 16; i++) x[i] = 7.0f;
    o.start = DINOF_START_GAUSSIAN;
    o.t_m = 0.5;
    CHECK_FAILS(dinof_sample(m, &o, x, 16, NULL, NULL, NULL), DINOF_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("no Gaussian start for T_m = 0.5");
    CHECK_MESSAGE("[0.4, 0.6]");
    for (i = 0; i < 16; i++) untouched &= x[i] == 7.0f;
    CHECK(untouched);
    o.start = DINOF_START_FLOW;
    o.t_m = 0.0;
    CHECK_FAILS(dinof_sample(m, &o, x, 16, NULL, NULL, NULL), DINOF_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("needs a bundle with a flow");
    o.start = 4; /* the next value, not defined yet */
    CHECK_FAILS(dinof_sample(m, &o, x, 16, NULL, NULL, NULL), DINOF_STATUS_BAD_ENUM_VALUE);
    CHECK_MESSAGE("start = 4");
}

/* A bundle from before the Gaussian start: no Gaussians, and asking for one says so. */
static void test_old_bundle(void) {
    dinof_model *m = load_or_die(fixture("gauss-vp"));
    dinof_model_info info;
    dinof_sample_options o = seeded_options(1, 1, 5);
    float x[16];
    info.struct_size = sizeof info;
    CHECK_OK(dinof_model_get_info(m, &info));
    CHECK(info.gaussian_t_m == NULL && info.gaussian_t_m_count == 0 && info.default_start == DINOF_START_FLOW);
    o.start = DINOF_START_GAUSSIAN;
    CHECK_FAILS(dinof_sample(m, &o, x, 16, NULL, NULL, NULL), DINOF_STATUS_INVALID_ARGUMENT);
    CHECK_MESSAGE("needs a bundle with a Gaussian start");
    dinof_model_free(m);
    CHECK_FAILS(dinof_model_load(fixture("bad-gaussian-tm"), NULL, &m), DINOF_STATUS_INVALID_MANIFEST);
    CHECK_MESSAGE("gaussians");
}

int main(void) {
    dinof_model *m = load_or_die(fixture("gauss-vp-aniso"));
    test_info(m);
    test_samples(m);
    test_errors(m);
    dinof_model_free(m);
    test_old_bundle();
    return finish("test_gaussian");
}
