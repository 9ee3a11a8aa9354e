/* The ONNX Runtime backend through the C ABI (scripts/test-c.sh runs it when ORT_DYLIB_PATH names a libonnxruntime,
   building the library with --features ort): the model info reports the backend and execution providers actually in
   use, fallback is reported, and images match tract's within the ORT tests' tolerance (tests/ort_backend.rs). */
#include "bundle_util.h"
#include "check.h"

static dinof_load_options ort_options(dinof_execution_provider ep, bool fallback) {
    dinof_load_options l = load_defaults();
    l.backend = DINOF_BACKEND_ORT;
    l.ort_library_path = getenv("ORT_DYLIB_PATH");
    l.execution_provider = ep;
    l.allow_fallback = fallback;
    return l;
}

static void sample(const dinof_model *m, float *out) {
    dinof_sample_options o = sample_defaults();
    o.n = 4;
    o.seed = 7;
    o.random_seed = false;
    o.steps = 20;
    CHECK_OK(dinof_sample(m, &o, out, 64, NULL, NULL, NULL));
}

int main(void) {
    dinof_model *ort = NULL, *tract = NULL, *cuda = NULL;
    dinof_model_info info;
    dinof_load_options l = ort_options(DINOF_EXECUTION_PROVIDER_CPU, false);
    float a[64], b[64];
    double worst = 0.0;
    size_t i;
    dinof_status s;

    if (getenv("ORT_DYLIB_PATH") == NULL) {
        fprintf(stderr, "set ORT_DYLIB_PATH to a libonnxruntime\n");
        return 2;
    }
    info.struct_size = sizeof info;
    CHECK_OK(dinof_model_load(fixture("gauss-vp"), &l, &ort));
    if (ort == NULL) return finish("test_ort");
    CHECK_OK(dinof_model_get_info(ort, &info));
    CHECK(strcmp(info.backend, "ort") == 0 && !info.fell_back);
    CHECK(info.execution_provider_count >= 1 && strcmp(info.execution_providers[0], "cpu") == 0);

    /* NULL path: the library finds ONNX Runtime through ORT_DYLIB_PATH itself. */
    {
        dinof_model *by_env = NULL;
        l.ort_library_path = NULL;
        CHECK_OK(dinof_model_load(fixture("gauss-vp"), &l, &by_env));
        dinof_model_free(by_env);
    }

    /* DINOF_BACKEND_AUTO: ONNX Runtime when its library is found, else tract; the info says which. */
    {
        dinof_model *auto_m = NULL;
        dinof_load_options la = load_defaults();
        la.backend = DINOF_BACKEND_AUTO;
        la.ort_library_path = getenv("ORT_DYLIB_PATH");
        CHECK_OK(dinof_model_load(fixture("gauss-vp"), &la, &auto_m));
        CHECK_OK(dinof_model_get_info(auto_m, &info));
        CHECK(strcmp(info.backend, "ort") == 0);
        dinof_model_free(auto_m);
        la.ort_library_path = "/nonexistent/libonnxruntime.so";
        CHECK_OK(dinof_model_load(fixture("gauss-vp"), &la, &auto_m));
        CHECK_OK(dinof_model_get_info(auto_m, &info));
        CHECK(strcmp(info.backend, "tract") == 0);
        dinof_model_free(auto_m);
    }

    tract = load_or_die(fixture("gauss-vp"));
    sample(ort, a);
    sample(tract, b);
    for (i = 0; i < 64; i++) worst = fabs(a[i] - b[i]) > worst ? fabs(a[i] - b[i]) : worst;
    CHECK(worst < 1e-3); /* an eighth of an 8-bit level in SDE space: tests/ort_backend.rs IMAGE_TOL derives it */

    /* CUDA: either it really runs, or it is refused without fallback and reported with it. */
    l = ort_options(DINOF_EXECUTION_PROVIDER_CUDA, false);
    s = dinof_model_load(fixture("gauss-vp"), &l, &cuda);
    if (s == DINOF_STATUS_OK) {
        CHECK_OK(dinof_model_get_info(cuda, &info));
        CHECK(strcmp(info.execution_providers[0], "cuda") == 0 && !info.fell_back);
        printf("test_ort: CUDA execution provider available\n");
    } else {
        CHECK_STATUS(s, DINOF_STATUS_EXECUTION_PROVIDER_UNAVAILABLE);
        CHECK(cuda == NULL);
        l.allow_fallback = true;
        CHECK_OK(dinof_model_load(fixture("gauss-vp"), &l, &cuda));
        CHECK_OK(dinof_model_get_info(cuda, &info));
        CHECK(info.fell_back && strcmp(info.execution_providers[0], "cpu") == 0);
    }
    dinof_model_free(cuda);

    /* A job on the ORT model. */
    {
        dinof_job *job = NULL;
        dinof_sample_options o = sample_defaults();
        o.n = 4;
        o.seed = 7;
        o.random_seed = false;
        o.steps = 20;
        CHECK_OK(dinof_job_start(ort, &o, NULL, NULL, &job));
        CHECK_OK(dinof_job_wait(job, -1));
        CHECK_OK(dinof_job_result(job, b, 64));
        CHECK(memcmp(a, b, sizeof a) == 0);
        dinof_job_free(job);
    }
    /* ONNX Runtime loads the networks from bytes too: the same bundle from memory gives the same images. */
    {
        static const char *names[] = {"dinof.json", "score.onnx", "flow_t0.4.onnx", "flow_t0.6.onnx"};
        char *data[4];
        size_t len[4], k;
        dinof_blob blobs[3];
        dinof_model *mem = NULL;
        for (k = 0; k < 4; k++) {
            char *path = path_join(fixture("gauss-vp"), names[k]);
            data[k] = read_all(path, &len[k]);
            free(path);
            CHECK(data[k] != NULL);
        }
        for (k = 0; k < 3; k++) {
            blobs[k].name = names[k + 1];
            blobs[k].data = data[k + 1];
            blobs[k].size = len[k + 1];
        }
        l = ort_options(DINOF_EXECUTION_PROVIDER_CPU, false);
        CHECK_OK(dinof_model_load_from_memory(data[0], len[0], blobs, 3, &l, &mem));
        if (mem != NULL) {
            CHECK_OK(dinof_model_get_info(mem, &info));
            CHECK(strcmp(info.backend, "ort") == 0);
            sample(mem, b);
            sample(ort, a);
            CHECK(memcmp(a, b, sizeof a) == 0);
        }
        dinof_model_free(mem);
        for (k = 0; k < 4; k++) free(data[k]);
    }
    dinof_model_free(ort);
    dinof_model_free(tract);
    return finish("test_ort");
}
