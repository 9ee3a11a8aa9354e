/* The class statistic of the Fashion-MNIST model's tests (tests/fixtures/README.md, "Class statistic"; the Rust twin
   is tests/common/fashion.rs, the figures behind the thresholds from tests/fixtures/make_fashion_reference.py): an
   image is assigned the class whose training-split mean image it correlates with best. On real test images that
   rule is right 68% of the time; an image of a random class lands on the requested one about 10% of the time. */
#ifndef DINOF_TEST_FASHION_H
#define DINOF_TEST_FASHION_H

#include "digits.h" /* DIGIT_SIDE, DIGIT_LEN, digit_corr */

#define FASHION_CLASSES 10

/* Reads the class means (an ASCII PGM of ten 28×28 tiles stacked top to bottom) from $DINOF_FASHION_MEANS, default
   tests/fixtures/fashion-class-means.pgm, into means[class * 784 + i] in [0, 1]. Returns 0 on success. */
static inline int fashion_load_means(float means[FASHION_CLASSES * DIGIT_LEN]) {
    const char *path = getenv("DINOF_FASHION_MEANS");
    FILE *f = fopen(path ? path : "tests/fixtures/fashion-class-means.pgm", "r");
    char magic[3] = {0};
    int w = 0, h = 0, maxv = 0, i;
    if (f == NULL) return -1;
    if (fscanf(f, "%2s %d %d %d", magic, &w, &h, &maxv) != 4 || strcmp(magic, "P2") != 0 || w != DIGIT_SIDE ||
        h != FASHION_CLASSES * DIGIT_SIDE || maxv <= 0) {
        fclose(f);
        return -1;
    }
    for (i = 0; i < FASHION_CLASSES * DIGIT_LEN; i++) {
        int v;
        if (fscanf(f, "%d", &v) != 1) {
            fclose(f);
            return -1;
        }
        means[i] = (float)v / (float)maxv;
    }
    fclose(f);
    return 0;
}

/* The class of a 28×28 image in [0, 1]: the best correlation with a class mean. */
static inline int fashion_nearest_class(const float *img, const float *means) {
    int c, best = 0;
    double best_corr = -2.0;
    for (c = 0; c < FASHION_CLASSES; c++) {
        double r = digit_corr(img, means + (size_t)c * DIGIT_LEN, DIGIT_LEN);
        if (r > best_corr) {
            best_corr = r;
            best = c;
        }
    }
    return best;
}

/* How many of n images (image k asked for requested[k]) land on their class. */
static inline size_t fashion_class_hits(const float *imgs, size_t n, const int64_t *requested, const float *means) {
    size_t k, hits = 0;
    for (k = 0; k < n; k++) hits += fashion_nearest_class(imgs + k * DIGIT_LEN, means) == (int)requested[k];
    return hits;
}

#endif
