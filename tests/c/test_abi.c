/* ABI version 2: versioned structs (init by pointer and size, older sizes accepted, newer refused), layouts a
   binding can verify, fixed-width fields, copy-into-buffer error messages, loading from memory, the log callback
   and dinof_shutdown. */
#define _XOPEN_SOURCE 700
#include <pthread.h>
#include <stddef.h>

#include "bundle_util.h"
#include "check.h"

/* Fixed widths: what a C# or Unreal mirror of these structs relies on. */
_Static_assert(sizeof(dinof_status) == 4, "status is int32_t");
_Static_assert(sizeof(((dinof_sample_options *)0)->start) == 4, "enum fields are int32_t");
_Static_assert(sizeof(((dinof_sample_options *)0)->random_seed) == 1, "flags are uint8_t");
_Static_assert(sizeof(((dinof_sample_options *)0)->n) == 8, "counts are uint64_t");
_Static_assert(sizeof(((dinof_model_info *)0)->image_len) == 8, "counts are uint64_t");
_Static_assert(sizeof(((dinof_progress *)0)->done) == 8, "counts are uint64_t");
_Static_assert(offsetof(dinof_sample_options, struct_size) == 0, "struct_size comes first");

/* dinof_sample_options as an older header declared it: the same fields, without the last one (batch_size). A
   library must accept it and use the default for what it lacks. */
typedef struct {
    uint32_t struct_size;
    uint8_t random_seed;
    uint8_t raw;
    uint64_t n;
    uint64_t seed;
    uint64_t first_index;
    int32_t start;
    uint32_t steps;
    double t_m;
    double temperature;
    int32_t method, predictor, corrector, solver;
    double snr;
    uint32_t corrector_steps;
    int32_t langevin_norm;
    int32_t denoise;
    const int64_t *labels;
    uint64_t label_count;
} older_sample_options;

static void test_versioned_structs(dinof_model *m) {
    struct {
        older_sample_options o;
        unsigned char after[16];
    } older;
    dinof_sample_options full;
    float a[3 * 16], b[3 * 16];
    size_t i;
    int untouched = 1;

    CHECK(DINOF_ABI_VERSION == 2 && dinof_abi_version() == 2);

    /* Init with the older size: defaults for its fields, nothing written past it. */
    memset(&older, 0xEE, sizeof older);
    CHECK_OK(dinof_sample_options_init((dinof_sample_options *)(void *)&older.o, sizeof older.o));
    CHECK(older.o.struct_size == sizeof older.o && older.o.n == 1 && older.o.random_seed == 1 && older.o.steps == 0);
    for (i = 0; i < sizeof older.after; i++) untouched &= older.after[i] == 0xEE;
    CHECK(untouched);

    /* Sampling with it equals sampling with the full struct and the default batch_size. */
    older.o.n = 3;
    older.o.seed = 5;
    older.o.random_seed = 0;
    older.o.steps = 6;
    CHECK_OK(dinof_sample(m, (const dinof_sample_options *)(const void *)&older.o, a, 3 * 16, NULL, NULL, NULL));
    full = seeded_options(3, 5, 6);
    CHECK_OK(dinof_sample(m, &full, b, 3 * 16, NULL, NULL, NULL));
    CHECK(memcmp(a, b, sizeof a) == 0);

    /* Newer (larger) sizes and sizes that cut through a field are refused. */
    CHECK_FAILS(dinof_sample_options_init(&full, sizeof full + 8), DINOF_STATUS_STRUCT_SIZE);
    CHECK_MESSAGE("newer");
    CHECK_FAILS(dinof_sample_options_init(&full, offsetof(dinof_sample_options, n) + 4), DINOF_STATUS_STRUCT_SIZE);
    CHECK_MESSAGE("'n'");
    CHECK_FAILS(dinof_sample_options_init(&full, 4), DINOF_STATUS_STRUCT_SIZE);

    /* An older caller's output struct gets the fields it knows, nothing more. */
    {
        struct {
            dinof_model_info head; /* only the first fields are declared "known" below */
        } info;
        memset(&info, 0x11, sizeof info);
        info.head.struct_size = offsetof(dinof_model_info, rgba8_len);
        CHECK_OK(dinof_model_get_info(m, &info.head));
        CHECK(info.head.channels == 1 && info.head.image_len == 16);
        CHECK(info.head.struct_size == offsetof(dinof_model_info, rgba8_len));
        CHECK(info.head.classes == 0x11111111u); /* past its size: untouched */
    }
    /* A report as the header declared it before schedule, rtol, atol, churn were appended (it ended with denoise):
       the library writes up to denoise and leaves the appended fields' memory alone. */
    {
        dinof_sample_report r;
        dinof_sample_options o = seeded_options(1, 5, 3);
        float out[16];
        memset(&r, 0x22, sizeof r);
        r.struct_size = offsetof(dinof_sample_report, schedule);
        CHECK(r.struct_size == 112);
        CHECK_OK(dinof_sample(m, &o, out, 16, NULL, NULL, &r));
        CHECK(r.steps == 3 && r.denoise == 1 && r.schedule == 0x22222222);
    }
}

/* What a binding does at load: compare its own idea of each struct with the library's. */
#define FIELD(id, type, f)                                                                     \
    do {                                                                                       \
        uint32_t off_ = 0, size_ = 0;                                                          \
        CHECK_OK(dinof_struct_layout((id), #f, &off_, &size_));                                \
        CHECK(off_ == offsetof(type, f) && size_ == sizeof(((type *)0)->f));                   \
    } while (0)

static void test_layout(void) {
    uint32_t off = 1, size = 0;
    CHECK_OK(dinof_struct_layout(DINOF_STRUCT_SAMPLE_OPTIONS, NULL, &off, &size));
    CHECK(off == 0 && size == sizeof(dinof_sample_options));
    CHECK_OK(dinof_struct_layout(DINOF_STRUCT_LOAD_OPTIONS, NULL, NULL, &size));
    CHECK(size == sizeof(dinof_load_options));
    CHECK_OK(dinof_struct_layout(DINOF_STRUCT_MODEL_INFO, NULL, NULL, &size));
    CHECK(size == sizeof(dinof_model_info));
    CHECK_OK(dinof_struct_layout(DINOF_STRUCT_SAMPLE_REPORT, NULL, NULL, &size));
    CHECK(size == sizeof(dinof_sample_report));
    CHECK_OK(dinof_struct_layout(DINOF_STRUCT_PROGRESS, NULL, NULL, &size));
    CHECK(size == sizeof(dinof_progress));
    CHECK_OK(dinof_struct_layout(DINOF_STRUCT_BLOB, NULL, NULL, &size));
    CHECK(size == sizeof(dinof_blob));
    FIELD(DINOF_STRUCT_SAMPLE_OPTIONS, dinof_sample_options, n);
    FIELD(DINOF_STRUCT_SAMPLE_OPTIONS, dinof_sample_options, raw);
    FIELD(DINOF_STRUCT_SAMPLE_OPTIONS, dinof_sample_options, labels);
    FIELD(DINOF_STRUCT_SAMPLE_OPTIONS, dinof_sample_options, batch_size);
    FIELD(DINOF_STRUCT_LOAD_OPTIONS, dinof_load_options, verify_checksums);
    FIELD(DINOF_STRUCT_LOAD_OPTIONS, dinof_load_options, trt_workspace_bytes);
    FIELD(DINOF_STRUCT_MODEL_INFO, dinof_model_info, default_t_start);
    FIELD(DINOF_STRUCT_MODEL_INFO, dinof_model_info, execution_provider_count);
    FIELD(DINOF_STRUCT_SAMPLE_OPTIONS, dinof_sample_options, guidance);
    FIELD(DINOF_STRUCT_SAMPLE_REPORT, dinof_sample_report, guidance);
    FIELD(DINOF_STRUCT_MODEL_INFO, dinof_model_info, label_names);
    FIELD(DINOF_STRUCT_MODEL_INFO, dinof_model_info, label_name_count);
    FIELD(DINOF_STRUCT_MODEL_INFO, dinof_model_info, default_guidance);
    FIELD(DINOF_STRUCT_MODEL_INFO, dinof_model_info, has_guidance);
    FIELD(DINOF_STRUCT_SAMPLE_REPORT, dinof_sample_report, denoise);
    FIELD(DINOF_STRUCT_SAMPLE_REPORT, dinof_sample_report, schedule);
    FIELD(DINOF_STRUCT_SAMPLE_REPORT, dinof_sample_report, churn);
    FIELD(DINOF_STRUCT_PROGRESS, dinof_progress, fraction);
    FIELD(DINOF_STRUCT_BLOB, dinof_blob, size);
    CHECK_FAILS(dinof_struct_layout(DINOF_STRUCT_PROGRESS, "no_such_field", &off, &size), DINOF_STATUS_INVALID_ARGUMENT);
    CHECK_FAILS(dinof_struct_layout(99, NULL, &off, &size), DINOF_STATUS_INVALID_ARGUMENT);
}

static void test_error_copies(dinof_model *m) {
    char buf[256], small[8];
    size_t needed = 0;
    dinof_job *job = NULL;
    dinof_model *nan = load_or_die(fixture("bad-nan"));
    dinof_sample_options o = seeded_options(0, 1, 3);

    CHECK_FAILS(dinof_sample(m, &o, NULL, 0, NULL, NULL, NULL), DINOF_STATUS_INVALID_ARGUMENT);
    CHECK_OK(dinof_last_error_copy(NULL, 0, &needed)); /* size query */
    CHECK(needed == strlen(dinof_last_error_message()) + 1 && needed > 8);
    CHECK_OK(dinof_last_error_copy(buf, sizeof buf, &needed));
    CHECK(strcmp(buf, dinof_last_error_message()) == 0); /* and the message is still there */
    CHECK_STATUS(dinof_last_error_copy(small, sizeof small, NULL), DINOF_STATUS_BUFFER_TOO_SMALL);
    CHECK(strlen(small) == 7 && strncmp(small, buf, 7) == 0);
    CHECK(strcmp(buf, dinof_last_error_message()) == 0);

    /* A job's error, readable from any thread, not only the one that waited. */
    o = seeded_options(2, 1, 3);
    CHECK_OK(dinof_job_start(nan, &o, NULL, NULL, &job));
    CHECK_OK(dinof_job_error_message(job, buf, sizeof buf, NULL)); /* running or not, a valid string */
    CHECK_STATUS(dinof_job_wait(job, -1), DINOF_STATUS_NON_FINITE);
    CHECK_OK(dinof_job_error_message(job, buf, sizeof buf, &needed));
    CHECK(strstr(buf, "non-finite") != NULL && needed == strlen(buf) + 1);
    CHECK_OK(dinof_job_free(job));
    dinof_model_free(nan);
}

/* The bundle's files read by the caller (an engine's asset system) and passed as blobs. */
static void test_load_from_memory(dinof_model *from_dir) {
    static const char *names[] = {"score.onnx", "flow_t0.4.onnx", "flow_t0.6.onnx"};
    char *path, *manifest, *data[3];
    size_t manifest_len = 0, len[3], i;
    dinof_blob blobs[3];
    dinof_model *m = NULL;
    float a[2 * 16], b[2 * 16];
    dinof_sample_options o = seeded_options(2, 9, 5);

    path = path_join(fixture("gauss-vp"), "dinof.json");
    manifest = read_all(path, &manifest_len);
    free(path);
    CHECK(manifest != NULL);
    for (i = 0; i < 3; i++) {
        path = path_join(fixture("gauss-vp"), names[i]);
        data[i] = read_all(path, &len[i]);
        free(path);
        CHECK(data[i] != NULL);
        blobs[i].name = names[i];
        blobs[i].data = data[i];
        blobs[i].size = len[i];
    }
    CHECK_OK(dinof_model_load_from_memory(manifest, manifest_len, blobs, 3, NULL, &m));
    CHECK_OK(dinof_sample(m, &o, a, 2 * 16, NULL, NULL, NULL));
    CHECK_OK(dinof_sample(from_dir, &o, b, 2 * 16, NULL, NULL, NULL));
    CHECK(memcmp(a, b, sizeof a) == 0);
    dinof_model_free(m);
    m = NULL;

    /* A missing blob, a corrupted one (checksums are verified), NULLs. */
    CHECK_FAILS(dinof_model_load_from_memory(manifest, manifest_len, blobs, 2, NULL, &m), DINOF_STATUS_MISSING_FILE);
    CHECK_MESSAGE("flow_t0.6.onnx");
    blobs[0].size = len[0] - 1;
    CHECK_FAILS(dinof_model_load_from_memory(manifest, manifest_len, blobs, 3, NULL, &m), DINOF_STATUS_CHECKSUM_MISMATCH);
    blobs[0].size = len[0];
    CHECK_FAILS(dinof_model_load_from_memory(NULL, 10, blobs, 3, NULL, &m), DINOF_STATUS_NULL_POINTER);
    CHECK_FAILS(dinof_model_load_from_memory(manifest, manifest_len, NULL, 3, NULL, &m), DINOF_STATUS_NULL_POINTER);
    CHECK_FAILS(dinof_model_load_from_memory(manifest, manifest_len, blobs, 3, NULL, NULL), DINOF_STATUS_NULL_POINTER);
    CHECK(m == NULL);

    /* Sizes no object can have (issue 24: UINT64_MAX once aborted the process): refused before any byte is read,
       with the status for the rule they break. The buffers are real and small; nothing past them may be touched. */
    {
        const uint64_t huge[] = {UINT64_MAX, (uint64_t)1 << 63, (uint64_t)PTRDIFF_MAX + 1};
        for (i = 0; i < sizeof huge / sizeof huge[0]; i++) {
            CHECK_FAILS(dinof_model_load_from_memory(manifest, huge[i], blobs, 3, NULL, &m), DINOF_STATUS_MANIFEST_TOO_LARGE);
            CHECK_MESSAGE("the limit is 1048576");
            CHECK_FAILS(dinof_model_load_from_memory(manifest, manifest_len, blobs, huge[i], NULL, &m), DINOF_STATUS_INVALID_ARGUMENT);
            CHECK_MESSAGE("blob_count");
            blobs[1].size = huge[i];
            CHECK_FAILS(dinof_model_load_from_memory(manifest, manifest_len, blobs, 3, NULL, &m), DINOF_STATUS_INVALID_ARGUMENT);
            CHECK_MESSAGE("blobs[1].size");
            blobs[1].size = len[1];
        }
        CHECK_FAILS(dinof_model_load_from_memory(manifest, DINOF_MAX_MANIFEST_BYTES + 1, blobs, 3, NULL, &m),
                    DINOF_STATUS_MANIFEST_TOO_LARGE);
        CHECK(m == NULL);
    }
    for (i = 0; i < 3; i++) free(data[i]);
    free(manifest);
}

/* "" after every successful call that returns a status (the header's rule), NULL arguments included; the message
   of a failure until then. */
static void test_success_clears_the_message(void) {
    dinof_model *m = NULL;
    char buf[64];
    size_t needed = 0;
#define FAIL_FIRST() CHECK_FAILS(dinof_model_load(NULL, NULL, &m), DINOF_STATUS_NULL_POINTER)
    FAIL_FIRST();
    CHECK_OK(dinof_last_error_copy(buf, sizeof buf, &needed)); /* the one call that leaves it unchanged */
    CHECK(needed > 1 && strcmp(buf, dinof_last_error_message()) == 0);
    CHECK_MESSAGE("path is NULL");
    CHECK_OK(dinof_job_free(NULL));
    CHECK(dinof_last_error_message()[0] == '\0');
    FAIL_FIRST();
    CHECK_OK(dinof_struct_layout(DINOF_STRUCT_BLOB, NULL, NULL, NULL));
    CHECK(dinof_last_error_message()[0] == '\0');
    FAIL_FIRST();
    CHECK_OK(dinof_set_log_callback(NULL, NULL, DINOF_LOG_ERROR));
    CHECK(dinof_last_error_message()[0] == '\0');
#undef FAIL_FIRST
}

typedef struct {
    pthread_mutex_t lock;
    int messages;
    int saw_load;
    int bad_level;
} log_sink;

static void on_log(dinof_log_level level, const char *message, void *user) {
    log_sink *s = (log_sink *)user;
    pthread_mutex_lock(&s->lock);
    s->messages++;
    if (strstr(message, "loaded bundle 'gauss-vp'") != NULL) s->saw_load = 1;
    if (level < DINOF_LOG_ERROR || level > DINOF_LOG_INFO) s->bad_level = 1;
    pthread_mutex_unlock(&s->lock);
}

static void test_log_callback(void) {
    log_sink s;
    dinof_model *m;
    pthread_mutex_init(&s.lock, NULL);
    s.messages = s.saw_load = s.bad_level = 0;
    CHECK_OK(dinof_set_log_callback(on_log, &s, DINOF_LOG_INFO));
    m = load_or_die(fixture("gauss-vp"));
    dinof_model_free(m);
    CHECK(s.saw_load && !s.bad_level);
    CHECK_OK(dinof_set_log_callback(NULL, NULL, DINOF_LOG_ERROR));
    s.messages = 0;
    m = load_or_die(fixture("gauss-vp"));
    dinof_model_free(m);
    CHECK(s.messages == 0);
    CHECK_FAILS(dinof_set_log_callback(on_log, &s, 9), DINOF_STATUS_BAD_ENUM_VALUE);
    pthread_mutex_destroy(&s.lock);
}

static void test_shutdown(void) {
    dinof_model *m = load_or_die(fixture("gauss-vp"));
    dinof_job *job = NULL;
    dinof_sample_options o = seeded_options(2, 1, 1000000);
    CHECK_FAILS(dinof_shutdown(0), DINOF_STATUS_BUSY);
    CHECK_MESSAGE("1 model");
    CHECK_OK(dinof_job_start(m, &o, NULL, NULL, &job));
    dinof_model_free(m);
    CHECK_FAILS(dinof_shutdown(0), DINOF_STATUS_BUSY); /* the job is alive */
    CHECK_OK(dinof_job_free(job));                    /* detached, still running */
    CHECK_OK(dinof_shutdown(-1));                     /* joins it and the model's workers */
    /* The library stays usable. */
    m = load_or_die(fixture("gauss-vp"));
    dinof_model_free(m);
    CHECK_OK(dinof_shutdown(-1));
}

int main(void) {
    dinof_model *m = load_or_die(fixture("gauss-vp"));
    test_versioned_structs(m);
    test_layout();
    test_error_copies(m);
    test_load_from_memory(m);
    test_success_clears_the_message();
    dinof_model_free(m);
    test_log_callback();
    test_shutdown();
    return finish("test_abi");
}
