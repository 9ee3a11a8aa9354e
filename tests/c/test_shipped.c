/* The shipped MNIST bundle (1×28×28, flows at T_m 0.4 and 0.6) through the C API: info, float and RGBA8 output, a
   job, and both flows beside the default Gaussian start; the images are digits by the statistic of digits.h, which
   noise and a broken sampler fail. */
#include "check.h"
#include "digits.h"

int main(void) {
    dinof_model *m = load_or_die(mnist_path());
    dinof_model_info info;
    dinof_sample_report r;
    const size_t n = quick() ? 1 : 4;
    /* 0: the bundle's default sampling (Gaussian start, DPM-Solver++(2M) SDE, 9 steps on the log-SNR grid) */
    const uint32_t steps = quick() ? 2 : 0;
    float *pix = (float *)malloc(n * 784 * sizeof(float));
    float *pix2 = (float *)malloc(n * 784 * sizeof(float));
    uint8_t *rgba = (uint8_t *)malloc(n * 784 * 4);
    dinof_sample_options o = sample_defaults();
    size_t i;
    int quantised = 1;

    info.struct_size = sizeof info;
    r.struct_size = sizeof r;
    CHECK_OK(dinof_model_get_info(m, &info));
    CHECK(info.channels == 1 && info.height == 28 && info.width == 28 && info.image_len == 784);
    CHECK(info.rgba8_len == 784 * 4 && info.classes == 0 && info.sde == DINOF_SDE_VP);
    CHECK(info.t_m_count == 2 && fabs(info.t_m[0] - 0.4) < 1e-9 && fabs(info.t_m[1] - 0.6) < 1e-9);
    /* The Gaussian start is the default (docs/flow-prior.md: no flow beats it); the flows stay available. */
    CHECK(info.has_flow_start && info.default_start == DINOF_START_GAUSSIAN && info.gaussian_t_m_count == 2);

    o.n = n;
    o.seed = 2024;
    o.random_seed = false;
    o.steps = steps;
    CHECK_OK(dinof_sample(m, &o, pix, n * 784, NULL, NULL, &r));
    if (!quick()) { /* 2 steps (valgrind) do not make digits */
        float ref[DIGIT_LEN];
        double mean_corr = 0.0;
        size_t like = 0;
        CHECK(digit_load_reference(ref) == 0);
        like = digit_count(pix, n, ref, &mean_corr);
        fprintf(stderr, "%zu of %zu images digit-like; mean image's correlation with the mean digit %.3f\n", like, n,
                mean_corr);
        CHECK(like >= n - n / 4);
        CHECK(mean_corr >= DIGIT_SET_CORR_MIN);
        /* The statistic can fail: uniform noise in [0, 1] has no digit-like image. */
        {
            uint32_t state = 12345u;
            for (i = 0; i < n * 784; i++) {
                state = state * 1664525u + 1013904223u;
                pix2[i] = (float)(state >> 8) / 16777216.0f;
            }
            CHECK(digit_count(pix2, n, ref, &mean_corr) == 0 && mean_corr < DIGIT_SET_CORR_MIN);
        }
    }
    /* dpmpp_2m_sde: one score evaluation per step, plus the final denoise */
    CHECK(r.flow_evals == 1 && r.score_evals == (steps ? steps : 9) + 1 && fabs(r.t_start - 0.6) < 1e-9);
    CHECK(r.method == DINOF_METHOD_SDE && r.solver == DINOF_SOLVER_DPMPP_2M_SDE && r.schedule == DINOF_SCHEDULE_LOGSNR);

    CHECK_OK(dinof_sample_rgba8(m, &o, rgba, n * 784 * 4, NULL, NULL, NULL));
    for (i = 0; i < n * 784; i++) {
        uint8_t g = (uint8_t)lrintf(pix[i] * 255.0f);
        if (rgba[4 * i] != g || rgba[4 * i + 1] != g || rgba[4 * i + 2] != g || rgba[4 * i + 3] != 255) quantised = 0;
    }
    CHECK(quantised);

    /* A flow (the default start is the Gaussian). */
    o.start = DINOF_START_FLOW;
    o.t_m = 0.4;
    CHECK_OK(dinof_sample(m, &o, pix2, n * 784, NULL, NULL, &r));
    CHECK(fabs(r.t_start - 0.4) < 1e-9 && memcmp(pix, pix2, n * 784 * sizeof(float)) != 0);

    /* A job gives the same images as the synchronous call. */
    {
        dinof_job *job = NULL;
        o.start = DINOF_START_DEFAULT;
        o.t_m = 0.0;
        CHECK_OK(dinof_job_start(m, &o, NULL, NULL, &job));
        CHECK_OK(dinof_job_wait(job, -1));
        CHECK_OK(dinof_job_result(job, pix2, n * 784));
        CHECK(memcmp(pix, pix2, n * 784 * sizeof(float)) == 0);
        dinof_job_free(job);
    }

    free(pix);
    free(pix2);
    free(rgba);
    dinof_model_free(m);
    return finish("test_shipped");
}
