// Managed load and sample options. Unset members mean "the bundle's default" exactly as in dinof.h; the native
// structs are built from the library's own defaults (dinof_*_init, which also fills struct_size).
using System;
using System.Runtime.InteropServices;
using Dinof.Native;

namespace Dinof
{
    public sealed class LoadOptions
    {
        public DinofBackend Backend = DinofBackend.Default;
        /// <summary>Worker threads of the model's pool; 0 = one per core.</summary>
        public uint Threads;
        /// <summary>Images per network call; 0 = the backend's best.</summary>
        public uint SubBatch;
        public bool VerifyChecksums = true;
        public DinofExecutionProvider ExecutionProvider = DinofExecutionProvider.Default;
        public bool AllowFallback;
        public int DeviceId;
        public bool TrtFp16;
        /// <summary>Path of libonnxruntime; null = $ORT_DYLIB_PATH, else next to the dinof library.</summary>
        public string OrtLibraryPath;
        public string TrtEngineCacheDir;
        public ulong TrtWorkspaceBytes;

        /// <summary>Runs body with the native struct; its string pointers are valid during body only.</summary>
        internal T With<T>(Func<dinof_load_options, T> body)
        {
            var o = new dinof_load_options();
            DinofException.ThrowIfFailed(DinofNative.dinof_load_options_init(ref o, (uint)Marshal.SizeOf(typeof(dinof_load_options))));
            o.backend = (int)Backend;
            o.threads = Threads;
            o.sub_batch = SubBatch;
            o.verify_checksums = (byte)(VerifyChecksums ? 1 : 0);
            o.allow_fallback = (byte)(AllowFallback ? 1 : 0);
            o.trt_fp16 = (byte)(TrtFp16 ? 1 : 0);
            o.execution_provider = (int)ExecutionProvider;
            o.device_id = DeviceId;
            o.trt_workspace_bytes = TrtWorkspaceBytes;
            var ort = Pin(Utf8.ToNative(OrtLibraryPath));
            var trt = Pin(Utf8.ToNative(TrtEngineCacheDir));
            try
            {
                o.ort_library_path = Addr(ort);
                o.trt_engine_cache_dir = Addr(trt);
                return body(o);
            }
            finally
            {
                if (ort.IsAllocated) ort.Free();
                if (trt.IsAllocated) trt.Free();
            }
        }

        static GCHandle Pin(byte[] b) { return b == null ? default(GCHandle) : GCHandle.Alloc(b, GCHandleType.Pinned); }
        static IntPtr Addr(GCHandle h) { return h.IsAllocated ? h.AddrOfPinnedObject() : IntPtr.Zero; }
    }

    public sealed class SampleOptions
    {
        /// <summary>Number of images (at least 1).</summary>
        public ulong Count = 1;
        /// <summary>The seed; null draws a random one (reported back in SampleReport.Seed).</summary>
        public ulong? Seed;
        /// <summary>Global index of the first image (split one request over several calls, same images).</summary>
        public ulong FirstIndex;
        public DinofStart Start = DinofStart.Default;
        /// <summary>Reverse steps; 0 = the default: the bundle's for its own sampler, else the solver's measured default.</summary>
        public uint Steps;
        /// <summary>Which flow (or, with DinofStart.Gaussian, which Gaussian) to start from, by its T_m; 0 = default.</summary>
        public double TM;
        public double Temperature;
        public DinofMethod Method = DinofMethod.Default;
        public DinofPredictor Predictor = DinofPredictor.Default;
        public DinofCorrector Corrector = DinofCorrector.Default;
        public DinofSolver Solver = DinofSolver.Default;
        public double Snr;
        public uint CorrectorSteps;
        public DinofLangevinNorm LangevinNorm = DinofLangevinNorm.Default;
        public DinofDenoise Denoise = DinofDenoise.Default;
        /// <summary>Class labels: one for all images or one per image; required by a conditional model, null for an unconditional one.</summary>
        public long[] Labels;
        /// <summary>Images stepped together; 0 = min(Count, 256). Never changes the images.</summary>
        public ulong BatchSize;
        public DinofSchedule Schedule = DinofSchedule.Default;
        public double Rtol;
        public double Atol;
        public double Churn;
        /// <summary>Classifier-free guidance scale w: the score becomes (1 + w) s(x|y) - w s(x|null), two score
        /// evaluations per step. null = the bundle's default (none unless its manifest sets one); 0 (or less) = none,
        /// even when the bundle has a default; w &gt; 0 needs ModelInfo.HasGuidance.</summary>
        public double? Guidance;
        /// <summary>SDE-space values instead of pixels in [0, 1] (float output only).</summary>
        public bool Raw;

        public SampleOptions() { }
        public SampleOptions(ulong count, ulong seed) { Count = count; Seed = seed; }

        /// <summary>Runs body with the native struct; the labels pointer is valid during body only (the library
        /// copies labels when a job starts).</summary>
        internal T With<T>(Func<dinof_sample_options, T> body)
        {
            var o = new dinof_sample_options();
            DinofException.ThrowIfFailed(DinofNative.dinof_sample_options_init(ref o, (uint)Marshal.SizeOf(typeof(dinof_sample_options))));
            o.n = Count;
            o.random_seed = (byte)(Seed.HasValue ? 0 : 1);
            o.seed = Seed.HasValue ? Seed.Value : 0;
            o.first_index = FirstIndex;
            o.start = (int)Start;
            o.steps = Steps;
            o.t_m = TM;
            o.temperature = Temperature;
            o.method = (int)Method;
            o.predictor = (int)Predictor;
            o.corrector = (int)Corrector;
            o.solver = (int)Solver;
            o.snr = Snr;
            o.corrector_steps = CorrectorSteps;
            o.langevin_norm = (int)LangevinNorm;
            o.denoise = (int)Denoise;
            o.batch_size = BatchSize;
            o.schedule = (int)Schedule;
            o.rtol = Rtol;
            o.atol = Atol;
            o.churn = Churn;
            // The ABI's 0 means "bundle default" and < 0 "none"; here null is the default and 0 is none.
            o.guidance = !Guidance.HasValue ? 0.0 : Guidance.Value > 0 || double.IsNaN(Guidance.Value) ? Guidance.Value : -1.0;
            o.raw = (byte)(Raw ? 1 : 0);
            var labels = Labels == null || Labels.Length == 0 ? default(GCHandle) : GCHandle.Alloc(Labels, GCHandleType.Pinned);
            try
            {
                o.labels = labels.IsAllocated ? labels.AddrOfPinnedObject() : IntPtr.Zero;
                o.label_count = Labels == null ? 0 : (ulong)Labels.Length;
                return body(o);
            }
            finally
            {
                if (labels.IsAllocated) labels.Free();
            }
        }
    }

    /// <summary>Static facts about a loaded model (copied out of dinof_model_info).</summary>
    public sealed class ModelInfo
    {
        public string Name;
        public int Channels, Height, Width, Classes;
        /// <summary>Floats per image (C x H x W) and RGBA8 bytes per image (H x W x 4; 0 when not packable).</summary>
        public long ImageLength, Rgba8Length;
        public DinofSde Sde;
        public double[] TM;
        /// <summary>T_m of each Gaussian start (DinofStart.Gaussian), ascending; empty when the bundle has none.</summary>
        public double[] GaussianTM;
        public bool HasFlowStart, HasPriorStart, HasGaussianStart, FellBack;
        public DinofStart DefaultStart;
        public double DefaultTStart;
        public uint DefaultSteps, Threads, SubBatch;
        public string Backend;
        public string[] ExecutionProviders;
        /// <summary>Class names in label order (DinofModel.LabelIndex maps a name to its label); empty when the
        /// bundle names no classes.</summary>
        public string[] LabelNames;
        /// <summary>True when the model can guide (SampleOptions.Guidance &gt; 0); DefaultGuidance: the scale the
        /// bundle's default options use (0 = none).</summary>
        public bool HasGuidance;
        public double DefaultGuidance;

        internal static ModelInfo From(dinof_model_info c)
        {
            var i = new ModelInfo();
            i.Name = Utf8.FromNative(c.name);
            i.Channels = (int)c.channels;
            i.Height = (int)c.height;
            i.Width = (int)c.width;
            i.Classes = (int)c.classes;
            i.ImageLength = (long)c.image_len;
            i.Rgba8Length = (long)c.rgba8_len;
            i.Sde = (DinofSde)c.sde;
            i.TM = new double[c.t_m_count];
            if (c.t_m_count > 0) Marshal.Copy(c.t_m, i.TM, 0, (int)c.t_m_count);
            i.HasFlowStart = c.has_flow_start != 0;
            i.HasPriorStart = c.has_prior_start != 0;
            i.GaussianTM = new double[c.gaussian_t_m_count];
            if (c.gaussian_t_m_count > 0) Marshal.Copy(c.gaussian_t_m, i.GaussianTM, 0, (int)c.gaussian_t_m_count);
            i.HasGaussianStart = c.gaussian_t_m_count > 0;
            i.FellBack = c.fell_back != 0;
            i.DefaultStart = (DinofStart)c.default_start;
            i.DefaultTStart = c.default_t_start;
            i.DefaultSteps = c.default_steps;
            i.Threads = c.threads;
            i.SubBatch = c.sub_batch;
            i.Backend = Utf8.FromNative(c.backend);
            i.ExecutionProviders = new string[c.execution_provider_count];
            for (int k = 0; k < i.ExecutionProviders.Length; k++)
                i.ExecutionProviders[k] = Utf8.FromNative(Marshal.ReadIntPtr(c.execution_providers, k * IntPtr.Size));
            i.LabelNames = new string[c.label_name_count];
            for (int k = 0; k < i.LabelNames.Length; k++)
                i.LabelNames[k] = Utf8.FromNative(Marshal.ReadIntPtr(c.label_names, k * IntPtr.Size));
            i.HasGuidance = c.has_guidance != 0;
            i.DefaultGuidance = c.default_guidance;
            return i;
        }
    }

    /// <summary>Where a run is (dinof_progress).</summary>
    public struct DinofProgress
    {
        public DinofPhase Phase;
        /// <summary>Overall fraction in [0, 1].</summary>
        public double Fraction;
        public ulong Step, Steps, Done, Total;

        internal static DinofProgress From(dinof_progress p)
        {
            var r = new DinofProgress();
            r.Phase = (DinofPhase)p.phase;
            r.Fraction = p.fraction;
            r.Step = p.step;
            r.Steps = p.steps;
            r.Done = p.done;
            r.Total = p.total;
            return r;
        }
    }

    /// <summary>What a run did (dinof_sample_report): the seed to rerun it, evaluations, time, resolved settings.</summary>
    public struct SampleReport
    {
        public ulong Seed, ScoreEvals, FlowEvals, NetworkCalls;
        public double Seconds, NetworkSeconds, TStart, Temperature, Snr;
        public DinofStart Start;
        public DinofMethod Method;
        public DinofPredictor Predictor;
        public DinofCorrector Corrector;
        public DinofSolver Solver;
        public DinofLangevinNorm LangevinNorm;
        public uint CorrectorSteps, Steps;
        public bool Denoise;
        /// <summary>The step grid used (never Default); Rtol/Atol: the rk45 tolerances; Churn: edm_heun's.</summary>
        public DinofSchedule Schedule;
        public double Rtol, Atol, Churn;
        /// <summary>The guidance scale used (0 = none; with w &gt; 0 ScoreEvals counts both evaluations per step).</summary>
        public double Guidance;

        internal static SampleReport From(dinof_sample_report c)
        {
            var r = new SampleReport();
            r.Seed = c.seed;
            r.ScoreEvals = c.score_evals;
            r.FlowEvals = c.flow_evals;
            r.NetworkCalls = c.network_calls;
            r.Seconds = c.seconds;
            r.NetworkSeconds = c.network_seconds;
            r.TStart = c.t_start;
            r.Temperature = c.temperature;
            r.Snr = c.snr;
            r.Start = (DinofStart)c.start;
            r.Method = (DinofMethod)c.method;
            r.Predictor = (DinofPredictor)c.predictor;
            r.Corrector = (DinofCorrector)c.corrector;
            r.Solver = (DinofSolver)c.solver;
            r.LangevinNorm = (DinofLangevinNorm)c.langevin_norm;
            r.CorrectorSteps = c.corrector_steps;
            r.Steps = c.steps;
            r.Denoise = c.denoise != 0;
            r.Schedule = (DinofSchedule)c.schedule;
            r.Rtol = c.rtol;
            r.Atol = c.atol;
            r.Churn = c.churn;
            r.Guidance = c.guidance;
            return r;
        }
    }
}
