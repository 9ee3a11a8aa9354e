/* Minimal dinof example: load a bundle, generate images with a progress bar, print the first one as ASCII art.
 *
 *   cc example.c $(pkg-config --cflags --libs dinof) -o example && ./example path/to/bundle 4
 *   (or with CMake: see CMakeLists.txt next to this file)
 */
#include <stdio.h>
#include <stdlib.h>

#include "dinof.h"

static int show_progress(const dinof_progress *p, void *user) {
    int *shown = user; /* the last percentage printed */
    int percent = (int)(p->fraction * 100.0);
    if (percent != *shown) {
        *shown = percent;
        fprintf(stderr, "\r%3d%%", percent);
    }
    return 0; /* nonzero would cancel */
}

int main(int argc, char **argv) {
    dinof_model *model = NULL;
    dinof_model_info info = {.struct_size = sizeof info};
    dinof_sample_report report = {.struct_size = sizeof report};
    dinof_sample_options opts;
    dinof_status status;
    float *pixels;
    size_t x, y;
    int shown = -1;

    if (argc < 2) {
        fprintf(stderr, "usage: %s BUNDLE_DIR [N]\n", argv[0]);
        return 2;
    }
    if (dinof_abi_version() != DINOF_ABI_VERSION) { /* header and library must agree */
        fprintf(stderr, "dinof library ABI %u, header ABI %u\n", dinof_abi_version(), DINOF_ABI_VERSION);
        return 1;
    }
    fprintf(stderr, "dinof %s\n", dinof_version_string());
    if (dinof_model_load(argv[1], NULL, &model) != DINOF_STATUS_OK) {
        fprintf(stderr, "cannot load %s: %s\n", argv[1], dinof_last_error_message());
        return 1;
    }
    dinof_model_get_info(model, &info);
    fprintf(stderr, "%s: %ux%ux%u, %llu flow(s), backend %s\n", info.name, info.channels, info.height, info.width,
            (unsigned long long)info.t_m_count, info.backend);

    dinof_sample_options_init(&opts, sizeof opts); /* the defaults for this header's version of the struct */
    opts.n = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    opts.seed = 1;
    opts.random_seed = 0;
    pixels = malloc(opts.n * info.image_len * sizeof *pixels);
    if (pixels == NULL) {
        dinof_model_free(model);
        return 1;
    }
    status = dinof_sample(model, &opts, pixels, opts.n * info.image_len, show_progress, &shown, &report);
    if (status != DINOF_STATUS_OK) {
        fprintf(stderr, "\nsampling failed (%s): %s\n", dinof_status_string(status), dinof_last_error_message());
        free(pixels);
        dinof_model_free(model);
        return 1;
    }
    fprintf(stderr, "\r%llu image(s), seed %llu, %llu score evaluations each, %.2f s\n", (unsigned long long)opts.n,
            (unsigned long long)report.seed, (unsigned long long)report.score_evals, report.seconds);

    /* The first image's first channel, darkest to brightest. */
    for (y = 0; y < info.height; y++) {
        for (x = 0; x < info.width; x++) {
            float v = pixels[y * info.width + x];
            putchar(" .:-=+*#%@"[(int)(v * 9.999f)]);
        }
        putchar('\n');
    }
    free(pixels);
    dinof_model_free(model);
    return 0;
}
