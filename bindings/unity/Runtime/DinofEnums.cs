// Idiomatic enums over the ABI's int32_t constants. Each member is defined by its DinofNative constant, so a value
// cannot drift; scripts/check-csharp-abi.py checks that every constant of the header has its member here.
using Dinof.Native;

namespace Dinof
{
    /// <summary>Result of a dinof call (dinof_status). Values are fixed: only ever appended.</summary>
    public enum DinofStatus
    {
        Ok = DinofNative.DINOF_STATUS_OK,
        InvalidArgument = DinofNative.DINOF_STATUS_INVALID_ARGUMENT,
        BufferTooSmall = DinofNative.DINOF_STATUS_BUFFER_TOO_SMALL,
        Io = DinofNative.DINOF_STATUS_IO,
        InvalidManifest = DinofNative.DINOF_STATUS_INVALID_MANIFEST,
        UnsupportedVersion = DinofNative.DINOF_STATUS_UNSUPPORTED_VERSION,
        MissingFile = DinofNative.DINOF_STATUS_MISSING_FILE,
        ChecksumMismatch = DinofNative.DINOF_STATUS_CHECKSUM_MISMATCH,
        InvalidOnnx = DinofNative.DINOF_STATUS_INVALID_ONNX,
        NetworkMismatch = DinofNative.DINOF_STATUS_NETWORK_MISMATCH,
        Backend = DinofNative.DINOF_STATUS_BACKEND,
        BackendUnavailable = DinofNative.DINOF_STATUS_BACKEND_UNAVAILABLE,
        ExecutionProviderUnavailable = DinofNative.DINOF_STATUS_EXECUTION_PROVIDER_UNAVAILABLE,
        NonFinite = DinofNative.DINOF_STATUS_NON_FINITE,
        Cancelled = DinofNative.DINOF_STATUS_CANCELLED,
        Internal = DinofNative.DINOF_STATUS_INTERNAL,
        OutOfMemory = DinofNative.DINOF_STATUS_OUT_OF_MEMORY,
        BadFileName = DinofNative.DINOF_STATUS_BAD_FILE_NAME,
        FileOutsideBundle = DinofNative.DINOF_STATUS_FILE_OUTSIDE_BUNDLE,
        NotARegularFile = DinofNative.DINOF_STATUS_NOT_A_REGULAR_FILE,
        ManifestTooLarge = DinofNative.DINOF_STATUS_MANIFEST_TOO_LARGE,
        NullPointer = DinofNative.DINOF_STATUS_NULL_POINTER,
        StructSize = DinofNative.DINOF_STATUS_STRUCT_SIZE,
        BadEnumValue = DinofNative.DINOF_STATUS_BAD_ENUM_VALUE,
        Timeout = DinofNative.DINOF_STATUS_TIMEOUT,
        Panic = DinofNative.DINOF_STATUS_PANIC,
        NotReady = DinofNative.DINOF_STATUS_NOT_READY,
        CalledFromCallback = DinofNative.DINOF_STATUS_CALLED_FROM_CALLBACK,
        Busy = DinofNative.DINOF_STATUS_BUSY,
    }

    /// <summary>Which backend runs the networks.</summary>
    public enum DinofBackend
    {
        Default = DinofNative.DINOF_BACKEND_DEFAULT,
        Tract = DinofNative.DINOF_BACKEND_TRACT,
        Ort = DinofNative.DINOF_BACKEND_ORT,
        /// <summary>ONNX Runtime when the library finds and loads libonnxruntime, else tract (Info says which).</summary>
        Auto = DinofNative.DINOF_BACKEND_AUTO,
    }

    /// <summary>ONNX Runtime execution provider (ignored by tract).</summary>
    public enum DinofExecutionProvider
    {
        Default = DinofNative.DINOF_EXECUTION_PROVIDER_DEFAULT,
        Cpu = DinofNative.DINOF_EXECUTION_PROVIDER_CPU,
        Cuda = DinofNative.DINOF_EXECUTION_PROVIDER_CUDA,
        Tensorrt = DinofNative.DINOF_EXECUTION_PROVIDER_TENSORRT,
    }

    /// <summary>Where the reverse process starts.</summary>
    public enum DinofStart
    {
        Default = DinofNative.DINOF_START_DEFAULT,
        Flow = DinofNative.DINOF_START_FLOW,
        Prior = DinofNative.DINOF_START_PRIOR,
        /// <summary>The fitted Gaussian of x(T_m) in the flow's place (ModelInfo.GaussianTM): what the flow adds.</summary>
        Gaussian = DinofNative.DINOF_START_GAUSSIAN,
    }

    /// <summary>Reverse-time SDE or probability-flow ODE.</summary>
    public enum DinofMethod
    {
        Default = DinofNative.DINOF_METHOD_DEFAULT,
        Sde = DinofNative.DINOF_METHOD_SDE,
        Ode = DinofNative.DINOF_METHOD_ODE,
    }

    /// <summary>Predictor of the SDE method.</summary>
    public enum DinofPredictor
    {
        Default = DinofNative.DINOF_PREDICTOR_DEFAULT,
        ReverseDiffusion = DinofNative.DINOF_PREDICTOR_REVERSE_DIFFUSION,
        EulerMaruyama = DinofNative.DINOF_PREDICTOR_EULER_MARUYAMA,
        Ancestral = DinofNative.DINOF_PREDICTOR_ANCESTRAL,
        None = DinofNative.DINOF_PREDICTOR_NONE,
    }

    /// <summary>Corrector of the SDE method.</summary>
    public enum DinofCorrector
    {
        Default = DinofNative.DINOF_CORRECTOR_DEFAULT,
        Langevin = DinofNative.DINOF_CORRECTOR_LANGEVIN,
        None = DinofNative.DINOF_CORRECTOR_NONE,
    }

    /// <summary>Fixed-step or adaptive solver.</summary>
    public enum DinofSolver
    {
        Default = DinofNative.DINOF_SOLVER_DEFAULT,
        Euler = DinofNative.DINOF_SOLVER_EULER,
        Heun = DinofNative.DINOF_SOLVER_HEUN,
        Dpmpp2m = DinofNative.DINOF_SOLVER_DPMPP_2M,
        Dpmpp2mSde = DinofNative.DINOF_SOLVER_DPMPP_2M_SDE,
        EdmHeun = DinofNative.DINOF_SOLVER_EDM_HEUN,
        Rk45 = DinofNative.DINOF_SOLVER_RK45,
    }

    /// <summary>Time grid of the fixed-step solvers.</summary>
    public enum DinofSchedule
    {
        Default = DinofNative.DINOF_SCHEDULE_DEFAULT,
        Time = DinofNative.DINOF_SCHEDULE_TIME,
        Logsnr = DinofNative.DINOF_SCHEDULE_LOGSNR,
        Edm = DinofNative.DINOF_SCHEDULE_EDM,
        Cosine = DinofNative.DINOF_SCHEDULE_COSINE,
    }

    /// <summary>How the Langevin step size averages norms.</summary>
    public enum DinofLangevinNorm
    {
        Default = DinofNative.DINOF_LANGEVIN_NORM_DEFAULT,
        PerSample = DinofNative.DINOF_LANGEVIN_NORM_PER_SAMPLE,
        Batch = DinofNative.DINOF_LANGEVIN_NORM_BATCH,
    }

    /// <summary>Whether the last step returns the noise-free mean.</summary>
    public enum DinofDenoise
    {
        Default = DinofNative.DINOF_DENOISE_DEFAULT,
        On = DinofNative.DINOF_DENOISE_ON,
        Off = DinofNative.DINOF_DENOISE_OFF,
    }

    /// <summary>The SDE a model was trained with.</summary>
    public enum DinofSde
    {
        Ve = DinofNative.DINOF_SDE_VE,
        Vp = DinofNative.DINOF_SDE_VP,
        Subvp = DinofNative.DINOF_SDE_SUBVP,
    }

    /// <summary>What a run is doing.</summary>
    public enum DinofPhase
    {
        Pending = DinofNative.DINOF_PHASE_PENDING,
        Flow = DinofNative.DINOF_PHASE_FLOW,
        Steps = DinofNative.DINOF_PHASE_STEPS,
        Denoise = DinofNative.DINOF_PHASE_DENOISE,
        Finished = DinofNative.DINOF_PHASE_FINISHED,
    }

    /// <summary>Severity of a log message.</summary>
    public enum DinofLogLevel
    {
        Error = DinofNative.DINOF_LOG_ERROR,
        Warn = DinofNative.DINOF_LOG_WARN,
        Info = DinofNative.DINOF_LOG_INFO,
        Debug = DinofNative.DINOF_LOG_DEBUG,
    }
}
