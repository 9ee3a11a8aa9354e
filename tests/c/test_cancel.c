/* Cancellation: from the progress callback, from dinof_job_cancel (also from another thread), and by freeing a
   running job. Each must end promptly with DINOF_STATUS_CANCELLED and leave the model usable. */
#define _XOPEN_SOURCE 700
#include <pthread.h>
#include <time.h>

#include "check.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Valgrind slows everything ~50x: scale the "promptly" bounds. */
static double slack(void) {
    return quick() ? 30.0 : 1.0;
}

static dinof_sample_options seeded(size_t n, uint32_t steps) { return seeded_options(n, 42, steps); }

typedef struct {
    int calls;
    int cancel_at; /* return nonzero on this call */
} stopper;

static int stop_at(const dinof_progress *p, void *user) {
    stopper *s = (stopper *)user;
    (void)p;
    s->calls++;
    return s->calls >= s->cancel_at;
}

static void test_callback_cancel(dinof_model *m) {
    float out[4 * 16], ref[4 * 16];
    dinof_sample_options o = seeded(4, 1000);
    stopper s = {0, 4};
    double t0;

    /* Cancel on the 4th report (flow + 3 steps): no further callbacks, status CANCELLED. */
    t0 = now();
    CHECK_STATUS(dinof_sample(m, &o, out, 64, stop_at, &s, NULL), DINOF_STATUS_CANCELLED);
    CHECK(s.calls == 4);
    CHECK(now() - t0 < 2.0 * slack());
    CHECK_MESSAGE("cancel");

    /* Cancel at the very first report (before the flow). */
    s.calls = 0;
    s.cancel_at = 1;
    CHECK_STATUS(dinof_sample_rgba8(m, &o, (uint8_t *)out, sizeof out, stop_at, &s, NULL), DINOF_STATUS_CANCELLED);
    CHECK(s.calls == 1);

    /* The model is unaffected: a full run gives the same images as a run that was never interrupted. */
    o = seeded(4, 10);
    CHECK_OK(dinof_sample(m, &o, out, 64, NULL, NULL, NULL));
    s.calls = 0;
    s.cancel_at = 1000000;
    CHECK_OK(dinof_sample(m, &o, ref, 64, stop_at, &s, NULL));
    CHECK(s.calls == 11 && memcmp(out, ref, sizeof out) == 0);
}

/* Waits until the job has made a few steps, so cancellation really happens mid-run. */
static void wait_for_steps(dinof_job *job, size_t steps) {
    dinof_progress p;
    p.struct_size = sizeof p;
    do {
        CHECK_STATUS(dinof_job_wait(job, 5), DINOF_STATUS_TIMEOUT);
        CHECK_OK(dinof_job_progress(job, &p));
    } while (p.step < steps && p.phase != DINOF_PHASE_FINISHED);
}

static void test_job_cancel(dinof_model *m) {
    dinof_job *job = NULL;
    dinof_progress p;
    float out[4 * 16];
    dinof_sample_options o = seeded(4, 1000000); /* far longer than the test */
    double t0;

    CHECK_OK(dinof_job_start(m, &o, NULL, NULL, &job));
    wait_for_steps(job, 3);
    t0 = now();
    CHECK_OK(dinof_job_cancel(job));
    CHECK_STATUS(dinof_job_wait(job, -1), DINOF_STATUS_CANCELLED);
    CHECK(now() - t0 < 1.0 * slack());
    CHECK_MESSAGE("cancel");
    /* Cancelling twice, waiting twice: same answers. */
    CHECK_OK(dinof_job_cancel(job));
    CHECK_STATUS(dinof_job_wait(job, 0), DINOF_STATUS_CANCELLED);
    p.struct_size = sizeof p;
    CHECK_OK(dinof_job_progress(job, &p));
    CHECK(p.phase == DINOF_PHASE_FINISHED && p.step >= 3 && p.done == 0);
    CHECK_STATUS(dinof_job_result(job, out, 64), DINOF_STATUS_CANCELLED);
    dinof_job_free(job);
}

static void *cancel_later(void *arg) {
    dinof_job *job = (dinof_job *)arg;
    wait_for_steps(job, 2);
    dinof_job_cancel(job);
    return NULL;
}

static void test_cancel_from_other_thread(dinof_model *m) {
    dinof_job *job = NULL;
    pthread_t t;
    dinof_sample_options o = seeded(2, 1000000);
    CHECK_OK(dinof_job_start(m, &o, NULL, NULL, &job));
    CHECK(pthread_create(&t, NULL, cancel_later, job) == 0);
    /* This thread blocks forever; the other thread's cancel must end the wait. */
    CHECK_STATUS(dinof_job_wait(job, -1), DINOF_STATUS_CANCELLED);
    pthread_join(t, NULL);
    dinof_job_free(job);
}

static void test_job_callback_cancel(dinof_model *m) {
    dinof_job *job = NULL;
    stopper s = {0, 6};
    dinof_sample_options o = seeded(2, 1000000);
    CHECK_OK(dinof_job_start(m, &o, stop_at, &s, &job));
    CHECK_STATUS(dinof_job_wait(job, -1), DINOF_STATUS_CANCELLED);
    CHECK(s.calls == 6);
    dinof_job_free(job);
}

static void test_free_running_job(dinof_model *m) {
    dinof_job *job = NULL;
    dinof_sample_options o = seeded(2, 1000000);
    double t0;
    CHECK_OK(dinof_job_start(m, &o, NULL, NULL, &job));
    wait_for_steps(job, 1);
    t0 = now();
    CHECK_OK(dinof_job_free(job)); /* cancels and detaches; dinof_shutdown joins the thread */
    CHECK(now() - t0 < 1.0 * slack());
}

int main(void) {
    dinof_model *m = load_or_die(fixture("gauss-vp"));
    test_callback_cancel(m);
    test_job_cancel(m);
    test_cancel_from_other_thread(m);
    test_job_callback_cancel(m);
    test_free_running_job(m);
    {
        /* Still usable after every kind of cancellation. */
        float out[2 * 16];
        dinof_sample_options o = seeded(2, 5);
        CHECK_OK(dinof_sample(m, &o, out, 32, NULL, NULL, NULL));
    }
    dinof_model_free(m);
    CHECK_OK(dinof_shutdown(-1)); /* every thread joined before exit */
    return finish("test_cancel");
}
