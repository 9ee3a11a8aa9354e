/* Issue 23 page-fault probes (docs/platforms.md, "The page fault"): the shipped MNIST bundle through dinof.dll loaded
   with LoadLibrary, in the ways a host can end. Build: x86_64-w64-mingw32-gcc -O1 -Iinclude
   tests/cross/pagefault_probe.c -o probe.exe; run beside dinof.dll (and, on wine 8, the test-only
   bcryptprimitives.dll): wine64 probe.exe BUNDLE MODE. MODE:
   1 sample, exit without freeing the model;        2 start a job, exit while it runs;
   3 sample, free the model, FreeLibrary (no dinof_shutdown), keep running;
   4 start a job, free it while it runs (detached), free the model, FreeLibrary without dinof_shutdown: documented
     misuse (dinof.h: call dinof_shutdown before unloading), it crashes executing unmapped code;
   5 sample 64 images;  6 job, wait, result, free job and model, exit at once;  7 free a running job and the model,
   exit at once. */
#include <stdio.h>
#include <stdlib.h>
#include <windows.h>
#include "dinof.h"
typedef dinof_status (*load_fn)(const char *, const dinof_load_options *, dinof_model **);
typedef dinof_status (*sopt_fn)(dinof_sample_options *, uint32_t);
typedef dinof_status (*sample_fn)(const dinof_model *, const dinof_sample_options *, float *, size_t, dinof_progress_fn, void *, dinof_sample_report *);
typedef void (*free_fn)(dinof_model *);
typedef dinof_status (*jstart_fn)(const dinof_model *, const dinof_sample_options *, dinof_progress_fn, void *, dinof_job **);
typedef dinof_status (*jfree_fn)(dinof_job *);
int main(int argc, char **argv) {
    int mode = atoi(argv[2]);
    static float px[64 * 784];
    HMODULE h = LoadLibraryA("dinof.dll");
    if (!h) { printf("LoadLibrary failed %lu\n", GetLastError()); return 1; }
    load_fn load = (load_fn)(void *)GetProcAddress(h, "dinof_model_load");
    sopt_fn sopt = (sopt_fn)(void *)GetProcAddress(h, "dinof_sample_options_init");
    sample_fn sample = (sample_fn)(void *)GetProcAddress(h, "dinof_sample");
    free_fn mfree = (free_fn)(void *)GetProcAddress(h, "dinof_model_free");
    jstart_fn jstart = (jstart_fn)(void *)GetProcAddress(h, "dinof_job_start");
    jfree_fn jfree = (jfree_fn)(void *)GetProcAddress(h, "dinof_job_free");
    dinof_model *m = NULL;
    dinof_sample_options o;
    dinof_job *j = NULL;
    printf("load: %d\n", load(argv[1], NULL, &m));
    sopt(&o, sizeof o);
    o.n = mode == 5 ? 64 : 2; o.seed = 1; o.random_seed = 0;

    if (mode == 6 || mode == 7) {
        typedef dinof_status (*jwait_fn)(dinof_job *, int64_t);
        typedef dinof_status (*jres_fn)(dinof_job *, float *, size_t);
        jwait_fn jwait = (jwait_fn)(void *)GetProcAddress(h, "dinof_job_wait");
        jres_fn jres = (jres_fn)(void *)GetProcAddress(h, "dinof_job_result");
        printf("job_start: %d\n", jstart(m, &o, NULL, NULL, &j));
        if (mode == 6) {
            dinof_status w = jwait(j, -1); /* before the result: argument order is unspecified */
            printf("wait: %d result: %d\n", w, jres(j, px, o.n * 784));
        }
        printf("job_free: %d\n", jfree(j));
        mfree(m);
        printf("exit at once\n"); fflush(stdout);
        return 0;
    }
    if (mode == 2 || mode == 4) {
        printf("job_start: %d\n", jstart(m, &o, NULL, NULL, &j));
        Sleep(200);
        if (mode == 2) { printf("exit with the job running\n"); fflush(stdout); return 0; }
        printf("job_free (detach): %d\n", jfree(j));
        mfree(m);
        printf("FreeLibrary: %d\n", FreeLibrary(h)); fflush(stdout);
        Sleep(3000);
        printf("alive after FreeLibrary\n");
        return 0;
    }
    printf("sample: %d\n", sample(m, &o, px, o.n * 784, NULL, NULL, NULL)); fflush(stdout);
    if (mode == 1) { printf("exit without free\n"); fflush(stdout); return 0; }
    mfree(m);
    if (mode == 3) { printf("FreeLibrary: %d\n", FreeLibrary(h)); fflush(stdout); Sleep(2000); printf("alive\n"); }
    return 0;
}
