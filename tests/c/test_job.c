/* The job API end to end: start, poll progress, wait with timeouts, collect float and RGBA8 results and the report,
   and check they equal the synchronous API's output for the same seed. */
#include "check.h"


typedef struct {
    int calls;
    dinof_phase last_phase;
} counter;

static int count(const dinof_progress *p, void *user) {
    counter *c = (counter *)user;
    c->calls++;
    c->last_phase = p->phase;
    return 0;
}

static void test_end_to_end(dinof_model *m) {
    const uint32_t steps = quick() ? 5 : 200;
    enum { N = 6 };
    float ref[N * 16], out[N * 16];
    uint8_t ref8[N * 64], out8[N * 64];
    dinof_sample_report want, got;
    dinof_progress p;
    dinof_job *job = NULL;
    counter c = {0, DINOF_PHASE_PENDING};
    dinof_sample_options o = seeded_options(N, 99, steps);
    double last_fraction = 0.0;
    int polls = 0, monotone = 1;

    want.struct_size = sizeof want;
    got.struct_size = sizeof got;
    p.struct_size = sizeof p;
    o.batch_size = 4; /* two batches */
    CHECK_OK(dinof_sample(m, &o, ref, N * 16, NULL, NULL, &want));
    CHECK_OK(dinof_sample_rgba8(m, &o, ref8, sizeof ref8, NULL, NULL, NULL));

    CHECK_OK(dinof_job_start(m, &o, count, &c, &job));
    CHECK(job != NULL);
    /* A game loop: poll once per "frame" until done. */
    for (;;) {
        dinof_status s = dinof_job_wait(job, 0);
        CHECK_OK(dinof_job_progress(job, &p));
        if (p.fraction < last_fraction || p.fraction > 1.0 || p.total != N) monotone = 0;
        last_fraction = p.fraction;
        polls++;
        if (s != DINOF_STATUS_TIMEOUT) {
            CHECK_OK(s);
            break;
        }
        (void)dinof_job_wait(job, 1); /* the rest of the frame */
    }
    CHECK(monotone && polls >= 1);
    CHECK_OK(dinof_job_progress(job, &p));
    CHECK(p.phase == DINOF_PHASE_FINISHED && p.fraction == 1.0 && p.done == N && p.total == N);
    /* 2 batches × (flow + steps) progress reports, all on the job's thread. */
    CHECK(c.calls == (int)(2 * (steps + 1)) && c.last_phase == DINOF_PHASE_STEPS);

    CHECK_OK(dinof_job_result(job, out, N * 16));
    CHECK(memcmp(ref, out, sizeof out) == 0);
    CHECK_OK(dinof_job_result_rgba8(job, out8, sizeof out8));
    CHECK(memcmp(ref8, out8, sizeof out8) == 0);
    /* Results can be fetched again. */
    memset(out, 0, sizeof out);
    CHECK_OK(dinof_job_result(job, out, N * 16));
    CHECK(memcmp(ref, out, sizeof out) == 0);
    CHECK_OK(dinof_job_report(job, &got));
    CHECK(got.seed == 99 && got.steps == steps && got.score_evals == want.score_evals);
    CHECK(got.network_calls == want.network_calls && got.start == want.start && got.t_start == want.t_start);
    CHECK_OK(dinof_job_wait(job, -1));
    CHECK_OK(dinof_job_wait(job, 0));
    dinof_job_free(job);
}

static void test_not_ready_and_timeout(dinof_model *m) {
    dinof_job *job = NULL;
    dinof_sample_report r;
    float out[2 * 16];
    dinof_sample_options o = seeded_options(2, 1, 1000000);
    r.struct_size = sizeof r;
    CHECK_OK(dinof_job_start(m, &o, NULL, NULL, &job));
    CHECK_STATUS(dinof_job_wait(job, 0), DINOF_STATUS_TIMEOUT);
    CHECK_STATUS(dinof_job_wait(job, 20), DINOF_STATUS_TIMEOUT);
    CHECK_MESSAGE("still running");
    CHECK_STATUS(dinof_job_result(job, out, 32), DINOF_STATUS_NOT_READY);
    CHECK_STATUS(dinof_job_result_rgba8(job, (uint8_t *)out, sizeof out), DINOF_STATUS_NOT_READY);
    CHECK_STATUS(dinof_job_report(job, &r), DINOF_STATUS_NOT_READY);
    CHECK_OK(dinof_job_cancel(job));
    CHECK_STATUS(dinof_job_wait(job, -1), DINOF_STATUS_CANCELLED);
    dinof_job_free(job);
}

static void test_job_outlives_model(void) {
    dinof_model *m = load_or_die(fixture("gauss-vp"));
    dinof_job *job = NULL;
    float ref[2 * 16], out[2 * 16];
    dinof_sample_options o = seeded_options(2, 5, quick() ? 3 : 50);
    CHECK_OK(dinof_sample(m, &o, ref, 32, NULL, NULL, NULL));
    CHECK_OK(dinof_job_start(m, &o, NULL, NULL, &job));
    dinof_model_free(m); /* the job holds its own reference */
    CHECK_OK(dinof_job_wait(job, -1));
    CHECK_OK(dinof_job_result(job, out, 32));
    CHECK(memcmp(ref, out, sizeof out) == 0);
    dinof_job_free(job); /* frees the model too */
}

static void test_random_seed_job(dinof_model *m) {
    dinof_job *job = NULL;
    dinof_sample_report r;
    float a[2 * 16], b[2 * 16];
    dinof_sample_options o = sample_defaults();
    o.n = 2;
    o.steps = 5;
    r.struct_size = sizeof r;
    CHECK_OK(dinof_job_start(m, &o, NULL, NULL, &job));
    CHECK_OK(dinof_job_wait(job, -1));
    CHECK_OK(dinof_job_result(job, a, 32));
    CHECK_OK(dinof_job_report(job, &r));
    dinof_job_free(job);
    o.random_seed = false;
    o.seed = r.seed;
    CHECK_OK(dinof_sample(m, &o, b, 32, NULL, NULL, NULL));
    CHECK(memcmp(a, b, sizeof a) == 0);
}

static void test_labels_are_copied(void) {
    dinof_model *m = load_or_die(fixture("gauss-vp-class"));
    dinof_job *job = NULL;
    int64_t labels[2] = {1, 1};
    float ref[2 * 16], out[2 * 16];
    dinof_sample_options o = seeded_options(2, 3, 5);
    o.labels = labels;
    o.label_count = 2;
    CHECK_OK(dinof_sample(m, &o, ref, 32, NULL, NULL, NULL));
    CHECK_OK(dinof_job_start(m, &o, NULL, NULL, &job));
    labels[0] = labels[1] = 0; /* the job copied them at start */
    CHECK_OK(dinof_job_wait(job, -1));
    CHECK_OK(dinof_job_result(job, out, 32));
    CHECK(memcmp(ref, out, sizeof out) == 0);
    dinof_job_free(job);
    dinof_model_free(m);
}

int main(void) {
    dinof_model *m = load_or_die(fixture("gauss-vp"));
    test_end_to_end(m);
    test_not_ready_and_timeout(m);
    test_random_seed_job(m);
    dinof_model_free(m);
    test_job_outlives_model();
    test_labels_are_copied();
    return finish("test_job");
}
