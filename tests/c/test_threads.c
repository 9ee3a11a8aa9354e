/* One model shared by 8 threads: every thread's images must equal those of a sequential run with the same seeds,
   for synchronous calls and for jobs running at once. */
#define _XOPEN_SOURCE 700
#include <pthread.h>

#include "check.h"

enum { THREADS = 8, N = 3, LEN = 16 };

typedef struct {
    const dinof_model *model;
    dinof_sample_options opts;
    float out[N * LEN];
    dinof_status status;
} task;

static dinof_sample_options options_for(int k, uint32_t steps) {
    dinof_sample_options o = sample_defaults();
    o.n = N;
    o.seed = 100 + (uint64_t)k;
    o.random_seed = false;
    o.steps = steps;
    /* Vary the work too, so threads are not in lockstep. */
    if (k % 3 == 1) {
        o.method = DINOF_METHOD_ODE;
    } else if (k % 3 == 2) {
        o.start = DINOF_START_PRIOR;
        o.batch_size = 1;
    }
    return o;
}

static void *run(void *arg) {
    task *t = (task *)arg;
    t->status = dinof_sample(t->model, &t->opts, t->out, N * LEN, NULL, NULL, NULL);
    return NULL;
}

static void test_shared_model(const char *bundle) {
    dinof_model *m = load_or_die(fixture(bundle));
    const uint32_t steps = quick() ? 4 : 60;
    static task seq[THREADS], par[THREADS];
    pthread_t threads[THREADS];
    int k;

    for (k = 0; k < THREADS; k++) {
        seq[k].model = m;
        seq[k].opts = options_for(k, steps);
        run(&seq[k]);
        CHECK_OK(seq[k].status);
    }
    for (k = 0; k < THREADS; k++) {
        par[k].model = m;
        par[k].opts = options_for(k, steps);
        CHECK(pthread_create(&threads[k], NULL, run, &par[k]) == 0);
    }
    for (k = 0; k < THREADS; k++) {
        pthread_join(threads[k], NULL);
        CHECK_OK(par[k].status);
        CHECK(memcmp(seq[k].out, par[k].out, sizeof seq[k].out) == 0);
    }
    /* Different seeds gave different images (the comparison above is not vacuous). */
    CHECK(memcmp(seq[0].out, seq[3].out, sizeof seq[0].out) != 0);

    /* The same through 8 jobs running at once. */
    {
        dinof_job *jobs[THREADS];
        float out[N * LEN];
        for (k = 0; k < THREADS; k++) {
            dinof_sample_options o = options_for(k, steps);
            CHECK_OK(dinof_job_start(m, &o, NULL, NULL, &jobs[k]));
        }
        for (k = 0; k < THREADS; k++) {
            CHECK_OK(dinof_job_wait(jobs[k], -1));
            CHECK_OK(dinof_job_result(jobs[k], out, N * LEN));
            CHECK(memcmp(seq[k].out, out, sizeof out) == 0);
            dinof_job_free(jobs[k]);
        }
    }
    dinof_model_free(m);
}

int main(void) {
    test_shared_model("mixture-vp");
    if (!quick()) test_shared_model("gauss-ve");
    return finish("test_threads");
}
