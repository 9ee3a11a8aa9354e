/* The C ABI's side of scripts/bench.sh: load the bundle, one image with one step (load -> first image), then a
   timed batch, all through libdinof. Prints one JSON line like bench/ort_loop.py.
   usage: bench_c BUNDLE BACKEND(default|tract|ort) N STEPS THREADS SEED */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dinof.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(const char *what, dinof_status st) {
    fprintf(stderr, "bench_c: %s: %s: %s\n", what, dinof_status_string(st), dinof_last_error_message());
    return 1;
}

int main(int argc, char **argv) {
    dinof_load_options lo;
    dinof_sample_options so;
    dinof_sample_report rep;
    dinof_model_info info;
    dinof_model *model = NULL;
    dinof_status st;
    float *pixels;
    double t0, first, t1, seconds;
    unsigned long n, steps;
    if (argc != 7) {
        fprintf(stderr, "usage: bench_c BUNDLE BACKEND(default|tract|ort) N STEPS THREADS SEED\n");
        return 2;
    }
    n = strtoul(argv[3], NULL, 10);
    steps = strtoul(argv[4], NULL, 10);
    t0 = now();
    dinof_load_options_init(&lo, sizeof lo);
    lo.backend = strcmp(argv[2], "tract") == 0 ? DINOF_BACKEND_TRACT
               : strcmp(argv[2], "ort") == 0   ? DINOF_BACKEND_ORT
                                               : DINOF_BACKEND_DEFAULT;
    lo.threads = (uint32_t)strtoul(argv[5], NULL, 10);
    if ((st = dinof_model_load(argv[1], &lo, &model)) != DINOF_STATUS_OK) return fail("load", st);
    info.struct_size = sizeof info;
    if ((st = dinof_model_get_info(model, &info)) != DINOF_STATUS_OK) return fail("info", st);
    pixels = (float *)malloc(n * info.image_len * sizeof(float));
    if (pixels == NULL) return fail("malloc", DINOF_STATUS_OUT_OF_MEMORY);

    dinof_sample_options_init(&so, sizeof so);
    so.n = 1;
    so.steps = 1;
    /* The flow start and Euler-Maruyama, as the Python and PyTorch loops (the bundle's defaults may be others) */
    so.start = DINOF_START_FLOW;
    so.predictor = DINOF_PREDICTOR_EULER_MARUYAMA;
    so.corrector = DINOF_CORRECTOR_NONE;
    so.seed = strtoull(argv[6], NULL, 10);
    so.random_seed = 0;
    if ((st = dinof_sample(model, &so, pixels, info.image_len, NULL, NULL, NULL)) != DINOF_STATUS_OK)
        return fail("first image", st);
    first = now() - t0;

    so.n = n;
    so.steps = (uint32_t)steps;
    rep.struct_size = sizeof rep;
    t1 = now();
    if ((st = dinof_sample(model, &so, pixels, n * info.image_len, NULL, NULL, &rep)) != DINOF_STATUS_OK)
        return fail("sample", st);
    seconds = now() - t1;
    printf("{\"first_image_s\": %.6f, \"seconds\": %.6f, \"network_seconds\": %.6f, \"n\": %lu, \"steps\": %lu, "
           "\"backend\": \"%s\", \"threads\": %u, \"score_evals\": %llu}\n",
           first, seconds, rep.network_seconds, n, steps, info.backend, info.threads,
           (unsigned long long)rep.score_evals);
    free(pixels);
    dinof_model_free(model);
    return 0;
}
