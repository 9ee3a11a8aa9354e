/* A tiny test harness shared by the C tests: CHECK macros that count, and helpers for fixture paths. */
#ifndef DINOF_TEST_CHECK_H
#define DINOF_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dinof.h"

static int checks_run = 0;
static int checks_failed = 0;
static int bad_inputs = 0; /* bad-input cases tried (CHECK_FAILS) */

#define CHECK(cond)                                                                     \
    do {                                                                                \
        checks_run++;                                                                   \
        if (!(cond)) {                                                                  \
            checks_failed++;                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);    \
        }                                                                               \
    } while (0)

/* expr must return `expected`; prints the library's message when it does not. */
#define CHECK_STATUS(expr, expected)                                                               \
    do {                                                                                           \
        dinof_status s_ = (expr);                                                                  \
        checks_run++;                                                                              \
        if (s_ != (expected)) {                                                                    \
            checks_failed++;                                                                       \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %s; message: %s\n", __FILE__,    \
                    __LINE__, #expr, (int)s_, dinof_status_string(s_), #expected,                  \
                    dinof_last_error_message());                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_OK(expr) CHECK_STATUS(expr, DINOF_STATUS_OK)

/* A bad-input case: expr must fail with `expected` and leave an explanation. */
#define CHECK_FAILS(expr, expected)                                                     \
    do {                                                                                \
        bad_inputs++;                                                                   \
        CHECK_STATUS(expr, expected);                                                   \
        CHECK(dinof_last_error_message() != NULL && dinof_last_error_message()[0] != '\0'); \
    } while (0)

/* The last error message must contain `needle`. */
#define CHECK_MESSAGE(needle)                                                                      \
    do {                                                                                           \
        checks_run++;                                                                              \
        if (strstr(dinof_last_error_message(), (needle)) == NULL) {                                \
            checks_failed++;                                                                       \
            fprintf(stderr, "%s:%d: message \"%s\" lacks \"%s\"\n", __FILE__, __LINE__,            \
                    dinof_last_error_message(), (needle));                                         \
        }                                                                                          \
    } while (0)

/* DINOF_TEST_QUICK=1 (valgrind runs): smaller workloads. */
static inline int quick(void) {
    const char *q = getenv("DINOF_TEST_QUICK");
    return q != NULL && strcmp(q, "1") == 0;
}

/* Path of a fixture bundle: $DINOF_FIXTURES/<name> (default tests/fixtures/bundles). Returns a static buffer. */
static inline const char *fixture(const char *name) {
    static char buf[4096];
    const char *dir = getenv("DINOF_FIXTURES");
    snprintf(buf, sizeof buf, "%s/%s", dir ? dir : "tests/fixtures/bundles", name);
    return buf;
}

/* The shipped MNIST bundle: $DINOF_MNIST (default onnx/models/mnist). */
static inline const char *mnist_path(void) {
    const char *dir = getenv("DINOF_MNIST");
    return dir ? dir : "onnx/models/mnist";
}

static inline dinof_model *load_or_die(const char *path) {
    dinof_model *m = NULL;
    dinof_status s = dinof_model_load(path, NULL, &m);
    if (s != DINOF_STATUS_OK || m == NULL) {
        fprintf(stderr, "cannot load %s: %s: %s\n", path, dinof_status_string(s), dinof_last_error_message());
        exit(2);
    }
    return m;
}

static inline size_t image_len(const dinof_model *m) {
    dinof_model_info info;
    info.struct_size = sizeof info;
    if (dinof_model_get_info(m, &info) != DINOF_STATUS_OK) {
        fprintf(stderr, "dinof_model_get_info: %s\n", dinof_last_error_message());
        exit(2);
    }
    return (size_t)info.image_len;
}

/* The library's default sample / load options (dinof_*_init with this header's struct size). */
static inline dinof_sample_options sample_defaults(void) {
    dinof_sample_options o;
    if (dinof_sample_options_init(&o, sizeof o) != DINOF_STATUS_OK) {
        fprintf(stderr, "dinof_sample_options_init: %s\n", dinof_last_error_message());
        exit(2);
    }
    return o;
}

static inline dinof_load_options load_defaults(void) {
    dinof_load_options o;
    if (dinof_load_options_init(&o, sizeof o) != DINOF_STATUS_OK) {
        fprintf(stderr, "dinof_load_options_init: %s\n", dinof_last_error_message());
        exit(2);
    }
    return o;
}

/* Sample options for n images with a fixed seed and step count; everything else at the bundle's defaults. */
static inline dinof_sample_options seeded_options(size_t n, uint64_t seed, uint32_t steps) {
    dinof_sample_options o = sample_defaults();
    o.n = n;
    o.seed = seed;
    o.random_seed = false;
    o.steps = steps;
    return o;
}

/* Prints the summary line of a test program and returns its exit status. */
static inline int finish(const char *program) {
    printf("%s: %d checks, %d failed", program, checks_run, checks_failed);
    if (bad_inputs > 0) {
        printf(", %d bad-input cases", bad_inputs);
    }
    printf("\n");
    return checks_failed == 0 ? 0 : 1;
}

#endif
