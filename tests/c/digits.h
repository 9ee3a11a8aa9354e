/* The digit statistic of the shipped MNIST model's tests (tests/fixtures/README.md, "Digit statistic"; the Rust
   twin is tests/common/digits.rs, the thresholds' origin tests/fixtures/make_mnist_reference.py). A 28×28 image in
   [0, 1] is digit-like when its ink fraction, grey fraction, frame and correlation with the mean MNIST digit all
   lie where 99% of real digits do; pure noise, blank or saturated images and a broken sampler's blur fail.
   Self-contained: only the C library, so any test program can include it whatever the ABI looks like. */
#ifndef DINOF_TEST_DIGITS_H
#define DINOF_TEST_DIGITS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIGIT_SIDE 28
#define DIGIT_LEN (DIGIT_SIDE * DIGIT_SIDE)
#define DIGIT_FRAME 3
#define DIGIT_INK_MIN 0.04
#define DIGIT_INK_MAX 0.30
#define DIGIT_GREY_MAX 0.12
#define DIGIT_FRAME_MAX 0.05
#define DIGIT_CORR_MIN 0.25
/* A set's mean image against the mean digit: 4 real digits reach 0.57 or more in 99.9% of draws. */
#define DIGIT_SET_CORR_MIN 0.5

typedef struct {
    double ink;   /* fraction of pixels > 0.5 */
    double grey;  /* fraction of pixels in (0.25, 0.75) */
    double frame; /* mean pixel of the outer DIGIT_FRAME-pixel frame */
    double corr;  /* Pearson correlation with the mean digit */
} digit_stats;

/* Reads the mean digit (a 28×28 ASCII PGM) from $DINOF_MNIST_MEAN, default tests/fixtures/mnist-mean.pgm, into
   ref[0..784) scaled to [0, 1]. Returns 0 on success. */
static inline int digit_load_reference(float ref[DIGIT_LEN]) {
    const char *path = getenv("DINOF_MNIST_MEAN");
    FILE *f = fopen(path ? path : "tests/fixtures/mnist-mean.pgm", "r");
    char magic[3] = {0};
    int w = 0, h = 0, maxv = 0, c, i;
    if (f == NULL) return -1;
    if (fscanf(f, "%2s ", magic) != 1 || strcmp(magic, "P2") != 0 || (c = fgetc(f)) == EOF) goto bad;
    if (c == '#') { /* one comment line */
        while ((c = fgetc(f)) != EOF && c != '\n') {
        }
    } else {
        ungetc(c, f);
    }
    if (fscanf(f, "%d %d %d", &w, &h, &maxv) != 3 || w != DIGIT_SIDE || h != DIGIT_SIDE || maxv <= 0) goto bad;
    for (i = 0; i < DIGIT_LEN; i++) {
        int v;
        if (fscanf(f, "%d", &v) != 1) goto bad;
        ref[i] = (float)v / (float)maxv;
    }
    fclose(f);
    return 0;
bad:
    fclose(f);
    return -1;
}

static inline double digit_corr(const float *a, const float *b, size_t len) {
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    size_t i;
    for (i = 0; i < len; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= (double)len;
    mb /= (double)len;
    for (i = 0; i < len; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0.0;
}

static inline digit_stats digit_image_stats(const float *img, const float *ref) {
    digit_stats s = {0, 0, 0, 0};
    int frame_n = 0, i;
    for (i = 0; i < DIGIT_LEN; i++) {
        int y = i / DIGIT_SIDE, x = i % DIGIT_SIDE;
        int edge = y < x ? y : x;
        if (DIGIT_SIDE - 1 - y < edge) edge = DIGIT_SIDE - 1 - y;
        if (DIGIT_SIDE - 1 - x < edge) edge = DIGIT_SIDE - 1 - x;
        s.ink += img[i] > 0.5f;
        s.grey += img[i] > 0.25f && img[i] < 0.75f;
        if (edge < DIGIT_FRAME) {
            s.frame += img[i];
            frame_n++;
        }
    }
    s.ink /= DIGIT_LEN;
    s.grey /= DIGIT_LEN;
    s.frame /= frame_n;
    s.corr = digit_corr(img, ref, DIGIT_LEN);
    return s;
}

static inline int digit_like(const digit_stats *s) {
    return s->ink >= DIGIT_INK_MIN && s->ink <= DIGIT_INK_MAX && s->grey <= DIGIT_GREY_MAX &&
           s->frame <= DIGIT_FRAME_MAX && s->corr >= DIGIT_CORR_MIN;
}

/* n images (n×784 floats): returns how many are digit-like, prints each one's statistic, and stores the
   correlation of their mean image with the mean digit in *mean_corr. */
static inline size_t digit_count(const float *imgs, size_t n, const float *ref, double *mean_corr) {
    float *mean = (float *)calloc(DIGIT_LEN, sizeof(float));
    size_t k, like = 0;
    int i;
    *mean_corr = 0.0;
    if (mean == NULL) return 0;
    for (k = 0; k < n; k++) {
        const float *img = imgs + k * DIGIT_LEN;
        digit_stats s = digit_image_stats(img, ref);
        like += (size_t)digit_like(&s);
        fprintf(stderr, "image %zu: ink %.3f grey %.3f frame %.3f corr %.3f%s\n", k, s.ink, s.grey, s.frame, s.corr,
                digit_like(&s) ? "" : "  (not digit-like)");
        for (i = 0; i < DIGIT_LEN; i++) mean[i] += img[i] / (float)n;
    }
    *mean_corr = digit_corr(mean, ref, DIGIT_LEN);
    free(mean);
    return like;
}

#endif
