/* Writes the images dinof makes for fixed seeds, so that builds for other platforms (Windows under wine, aarch64
   under qemu) can be compared with x86-64 Linux pixel by pixel (tests/cross/compare_images.py).
   Usage: dump_images OUT_DIR BUNDLE_NAME=BUNDLE_DIR...  writes OUT_DIR/NAME.f32 (n x image_len little-endian
   floats, dinof_sample's output) and OUT_DIR/NAME.rgba (dinof_sample_rgba8's bytes) for each bundle, each from
   seed 2024, 4 images, the bundle's default sampler; a class-conditional bundle gets classes 0..3. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dinof.h"

static int write_file(const char *dir, const char *name, const char *ext, const void *data, size_t len) {
    char path[4096];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    int i, failed = 0;
    if (argc < 3) {
        fprintf(stderr, "usage: dump_images OUT_DIR NAME=BUNDLE_DIR...\n");
        return 2;
    }
    for (i = 2; i < argc; i++) {
        char name[256];
        const char *eq = strchr(argv[i], '=');
        dinof_model *m = NULL;
        dinof_model_info info;
        dinof_sample_options o;
        int64_t labels[4] = {0, 1, 2, 3};
        const size_t n = 4;
        float *pix;
        uint8_t *rgba;
        if (eq == NULL || (size_t)(eq - argv[i]) >= sizeof name) {
            fprintf(stderr, "bad argument %s (NAME=BUNDLE_DIR)\n", argv[i]);
            return 2;
        }
        memcpy(name, argv[i], (size_t)(eq - argv[i]));
        name[eq - argv[i]] = '\0';
        if (dinof_model_load(eq + 1, NULL, &m) != DINOF_STATUS_OK) {
            fprintf(stderr, "%s: cannot load %s: %s\n", name, eq + 1, dinof_last_error_message());
            failed = 1;
            continue;
        }
        info.struct_size = sizeof info;
        dinof_model_get_info(m, &info);
        dinof_sample_options_init(&o, sizeof o);
        o.n = n;
        o.seed = 2024;
        o.random_seed = false;
        if (info.classes > 0) {
            o.labels = labels;
            o.label_count = n;
        }
        pix = (float *)malloc(n * (size_t)info.image_len * sizeof(float));
        rgba = (uint8_t *)malloc(n * (size_t)info.rgba8_len);
        if (dinof_sample(m, &o, pix, n * (size_t)info.image_len, NULL, NULL, NULL) != DINOF_STATUS_OK ||
            dinof_sample_rgba8(m, &o, rgba, n * (size_t)info.rgba8_len, NULL, NULL, NULL) != DINOF_STATUS_OK) {
            fprintf(stderr, "%s: sampling failed: %s\n", name, dinof_last_error_message());
            failed = 1;
        } else {
            failed |= write_file(argv[1], name, "f32", pix, n * (size_t)info.image_len * sizeof(float));
            failed |= write_file(argv[1], name, "rgba", rgba, n * (size_t)info.rgba8_len);
            printf("%s: %zu images of %u floats\n", name, n, (unsigned)info.image_len);
        }
        free(pix);
        free(rgba);
        dinof_model_free(m);
    }
    return failed;
}
