// DinofNative.cs: P/Invoke declarations mirroring include/dinof.h (C ABI version 2) exactly, one to one.
//
// Names are the C names, so scripts/check-csharp-abi.py can compare this file with the header: every function,
// struct field (order and type) and constant. Rules followed:
//  - every struct is [StructLayout(LayoutKind.Sequential)] and blittable (the ABI has only fixed-width integers,
//    doubles and pointers: no C bool, no C enum, no size_t in structs), so `ref` passes it pinned, without copying;
//  - struct_size is filled by dinof_*_init (options) or by the caller (output structs), never by hand-counting;
//  - strings cross as UTF-8 bytes (byte[] with a trailing NUL in, IntPtr out; see Utf8), not the ANSI default;
//  - size_t arguments are UIntPtr; handles are SafeHandles (DinofHandles.cs), released by dinof_*_free;
//  - callbacks are static methods marked [MonoPInvokeCallback] (IL2CPP cannot marshal instance delegates) and get
//    their state through a GCHandle passed as `user`.
// This is the raw layer: prefer DinofModel / DinofJob (Runtime/), which check statuses and own memory.
using System;
using System.Runtime.InteropServices;

namespace Dinof.Native
{
    /// <summary>Progress callback (dinof_progress_fn): return 0 to continue, nonzero to cancel.</summary>
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate int dinof_progress_fn(IntPtr progress, IntPtr user);

    /// <summary>Log callback (dinof_log_fn): message is UTF-8, valid during the call only.</summary>
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate void dinof_log_fn(int level, IntPtr message, IntPtr user);

    [StructLayout(LayoutKind.Sequential)]
    public struct dinof_load_options
    {
        public uint struct_size;
        public int backend;
        public uint threads;
        public uint sub_batch;
        public byte verify_checksums;
        public byte allow_fallback;
        public byte trt_fp16;
        public int execution_provider;
        public int device_id;
        public IntPtr ort_library_path;
        public IntPtr trt_engine_cache_dir;
        public ulong trt_workspace_bytes;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct dinof_sample_options
    {
        public uint struct_size;
        public byte random_seed;
        public byte raw;
        public ulong n;
        public ulong seed;
        public ulong first_index;
        public int start;
        public uint steps;
        public double t_m;
        public double temperature;
        public int method;
        public int predictor;
        public int corrector;
        public int solver;
        public double snr;
        public uint corrector_steps;
        public int langevin_norm;
        public int denoise;
        public IntPtr labels;
        public ulong label_count;
        public ulong batch_size;
        public int schedule;
        public double rtol;
        public double atol;
        public double churn;
        // appended within ABI 2, with class names
        public double guidance;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct dinof_blob
    {
        public IntPtr name;
        public IntPtr data;
        public ulong size;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct dinof_model_info
    {
        public uint struct_size;
        public uint channels;
        public uint height;
        public uint width;
        public ulong image_len;
        public ulong rgba8_len;
        public uint classes;
        public int sde;
        public IntPtr name;
        public IntPtr t_m;
        public ulong t_m_count;
        public byte has_flow_start;
        public byte has_prior_start;
        public byte fell_back;
        public int default_start;
        public double default_t_start;
        public uint default_steps;
        public uint threads;
        public uint sub_batch;
        public IntPtr backend;
        public IntPtr execution_providers;
        public ulong execution_provider_count;
        // appended within ABI 2, with class names
        public IntPtr label_names;
        public ulong label_name_count;
        public byte has_guidance;
        public double default_guidance;
        // appended within ABI 2, with the Gaussian start
        public IntPtr gaussian_t_m;
        public ulong gaussian_t_m_count;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct dinof_progress
    {
        public uint struct_size;
        public int phase;
        public double fraction;
        public ulong step;
        public ulong steps;
        public ulong done;
        public ulong total;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct dinof_sample_report
    {
        public uint struct_size;
        public int start;
        public ulong seed;
        public ulong score_evals;
        public ulong flow_evals;
        public ulong network_calls;
        public double seconds;
        public double network_seconds;
        public double t_start;
        public double temperature;
        public double snr;
        public int method;
        public int predictor;
        public int corrector;
        public int solver;
        public int langevin_norm;
        public uint corrector_steps;
        public uint steps;
        public byte denoise;
        // appended within ABI 2
        public int schedule;
        public double rtol;
        public double atol;
        public double churn;
        // appended within ABI 2, with class names
        public double guidance;
    }

    public static class DinofNative
    {
        // iOS and WebGL link native plugins statically into the player: "__Internal". Everywhere else the shared
        // library from Plugins/ (dinof.dll, libdinof.so, libdinof.dylib; the runtime adds prefix and suffix).
#if (UNITY_IOS || UNITY_WEBGL) && !UNITY_EDITOR
        public const string Library = "__Internal";
#else
        public const string Library = "dinof";
#endif

        public const int DINOF_ABI_VERSION = 2;
        public const int DINOF_MAX_STEPS = 1000000;
        public const int DINOF_MAX_CORRECTOR_STEPS = 1000;
        public const int DINOF_MAX_MANIFEST_BYTES = 1048576;
        public const int DINOF_MIN_STRUCT_SIZE = 8;
        public const int DINOF_MAX_THREADS = 4096;

        public const int DINOF_STATUS_OK = 0;
        public const int DINOF_STATUS_INVALID_ARGUMENT = 1;
        public const int DINOF_STATUS_BUFFER_TOO_SMALL = 2;
        public const int DINOF_STATUS_IO = 3;
        public const int DINOF_STATUS_INVALID_MANIFEST = 4;
        public const int DINOF_STATUS_UNSUPPORTED_VERSION = 5;
        public const int DINOF_STATUS_MISSING_FILE = 6;
        public const int DINOF_STATUS_CHECKSUM_MISMATCH = 7;
        public const int DINOF_STATUS_INVALID_ONNX = 8;
        public const int DINOF_STATUS_NETWORK_MISMATCH = 9;
        public const int DINOF_STATUS_BACKEND = 10;
        public const int DINOF_STATUS_BACKEND_UNAVAILABLE = 11;
        public const int DINOF_STATUS_EXECUTION_PROVIDER_UNAVAILABLE = 12;
        public const int DINOF_STATUS_NON_FINITE = 13;
        public const int DINOF_STATUS_CANCELLED = 14;
        public const int DINOF_STATUS_INTERNAL = 15;
        public const int DINOF_STATUS_OUT_OF_MEMORY = 16;
        public const int DINOF_STATUS_BAD_FILE_NAME = 17;
        public const int DINOF_STATUS_FILE_OUTSIDE_BUNDLE = 18;
        public const int DINOF_STATUS_NOT_A_REGULAR_FILE = 19;
        public const int DINOF_STATUS_MANIFEST_TOO_LARGE = 20;
        public const int DINOF_STATUS_NULL_POINTER = 100;
        public const int DINOF_STATUS_STRUCT_SIZE = 101;
        public const int DINOF_STATUS_BAD_ENUM_VALUE = 102;
        public const int DINOF_STATUS_TIMEOUT = 103;
        public const int DINOF_STATUS_PANIC = 104;
        public const int DINOF_STATUS_NOT_READY = 105;
        public const int DINOF_STATUS_CALLED_FROM_CALLBACK = 106;
        public const int DINOF_STATUS_BUSY = 107;

        public const int DINOF_BACKEND_DEFAULT = 0;
        public const int DINOF_BACKEND_TRACT = 1;
        public const int DINOF_BACKEND_ORT = 2;
        public const int DINOF_BACKEND_AUTO = 3;

        public const int DINOF_EXECUTION_PROVIDER_DEFAULT = 0;
        public const int DINOF_EXECUTION_PROVIDER_CPU = 1;
        public const int DINOF_EXECUTION_PROVIDER_CUDA = 2;
        public const int DINOF_EXECUTION_PROVIDER_TENSORRT = 3;

        public const int DINOF_START_DEFAULT = 0;
        public const int DINOF_START_FLOW = 1;
        public const int DINOF_START_PRIOR = 2;
        public const int DINOF_START_GAUSSIAN = 3;

        public const int DINOF_METHOD_DEFAULT = 0;
        public const int DINOF_METHOD_SDE = 1;
        public const int DINOF_METHOD_ODE = 2;

        public const int DINOF_PREDICTOR_DEFAULT = 0;
        public const int DINOF_PREDICTOR_REVERSE_DIFFUSION = 1;
        public const int DINOF_PREDICTOR_EULER_MARUYAMA = 2;
        public const int DINOF_PREDICTOR_ANCESTRAL = 3;
        public const int DINOF_PREDICTOR_NONE = 4;

        public const int DINOF_CORRECTOR_DEFAULT = 0;
        public const int DINOF_CORRECTOR_LANGEVIN = 1;
        public const int DINOF_CORRECTOR_NONE = 2;

        public const int DINOF_SOLVER_DEFAULT = 0;
        public const int DINOF_SOLVER_EULER = 1;
        public const int DINOF_SOLVER_HEUN = 2;
        public const int DINOF_SOLVER_DPMPP_2M = 3;
        public const int DINOF_SOLVER_DPMPP_2M_SDE = 4;
        public const int DINOF_SOLVER_EDM_HEUN = 5;
        public const int DINOF_SOLVER_RK45 = 6;

        public const int DINOF_SCHEDULE_DEFAULT = 0;
        public const int DINOF_SCHEDULE_TIME = 1;
        public const int DINOF_SCHEDULE_LOGSNR = 2;
        public const int DINOF_SCHEDULE_EDM = 3;
        public const int DINOF_SCHEDULE_COSINE = 4;

        public const int DINOF_LANGEVIN_NORM_DEFAULT = 0;
        public const int DINOF_LANGEVIN_NORM_PER_SAMPLE = 1;
        public const int DINOF_LANGEVIN_NORM_BATCH = 2;

        public const int DINOF_DENOISE_DEFAULT = 0;
        public const int DINOF_DENOISE_ON = 1;
        public const int DINOF_DENOISE_OFF = 2;

        public const int DINOF_SDE_VE = 1;
        public const int DINOF_SDE_VP = 2;
        public const int DINOF_SDE_SUBVP = 3;

        public const int DINOF_PHASE_PENDING = 0;
        public const int DINOF_PHASE_FLOW = 1;
        public const int DINOF_PHASE_STEPS = 2;
        public const int DINOF_PHASE_DENOISE = 3;
        public const int DINOF_PHASE_FINISHED = 4;

        public const int DINOF_LOG_ERROR = 1;
        public const int DINOF_LOG_WARN = 2;
        public const int DINOF_LOG_INFO = 3;
        public const int DINOF_LOG_DEBUG = 4;

        public const int DINOF_STRUCT_LOAD_OPTIONS = 1;
        public const int DINOF_STRUCT_SAMPLE_OPTIONS = 2;
        public const int DINOF_STRUCT_MODEL_INFO = 3;
        public const int DINOF_STRUCT_SAMPLE_REPORT = 4;
        public const int DINOF_STRUCT_PROGRESS = 5;
        public const int DINOF_STRUCT_BLOB = 6;

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr dinof_version_string();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern uint dinof_version_major();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern uint dinof_version_minor();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern uint dinof_version_patch();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern uint dinof_abi_version();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr dinof_status_string(int status);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr dinof_last_error_message();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int dinof_last_error_copy(byte[] buf, UIntPtr len, out UIntPtr needed);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int dinof_struct_layout(int id, byte[] field, out uint offset, out uint size);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int dinof_load_options_init(ref dinof_load_options opts, uint struct_size);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int dinof_sample_options_init(ref dinof_sample_options opts, uint struct_size);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int dinof_model_load(byte[] path, ref dinof_load_options opts, out DinofModelHandle out_);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int dinof_model_load_from_memory(IntPtr manifest, ulong manifest_size, dinof_blob[] blobs,
            ulong blob_count, ref dinof_load_options opts, out DinofModelHandle out_);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern void dinof_model_free(IntPtr model);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int dinof_model_get_info(DinofModelHandle model, ref dinof_model_info out_);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int dinof_model_label_index(DinofModelHandle model, byte[] name, out long out_label);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int dinof_sample(DinofModelHandle model, ref dinof_sample_options opts, float[] out_,
            UIntPtr out_len, dinof_progress_fn progress, IntPtr user, ref dinof_sample_report report);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int dinof_sample_rgba8(DinofModelHandle model, ref dinof_sample_options opts, byte[] out_,
            UIntPtr out_len, dinof_progress_fn progress, IntPtr user, ref dinof_sample_report report);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int dinof_job_start(DinofModelHandle model, ref dinof_sample_options opts,
            dinof_progress_fn progress, IntPtr user, out DinofJobHandle out_);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int dinof_job_progress(DinofJobHandle job, ref dinof_progress out_);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int dinof_job_wait(DinofJobHandle job, long timeout_ms);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int dinof_job_cancel(DinofJobHandle job);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int dinof_job_error_message(DinofJobHandle job, byte[] buf, UIntPtr len, out UIntPtr needed);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int dinof_job_result(DinofJobHandle job, float[] out_, UIntPtr out_len);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int dinof_job_result_rgba8(DinofJobHandle job, byte[] out_, UIntPtr out_len);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int dinof_job_report(DinofJobHandle job, ref dinof_sample_report out_);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int dinof_job_free(IntPtr job);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int dinof_set_log_callback(dinof_log_fn callback, IntPtr user, int max_level);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int dinof_shutdown(long timeout_ms);
    }
}
