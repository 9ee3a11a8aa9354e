//! The command line: subcommands and their flags (clap). The sampler's flags are `dinof::SamplerChoices`, one per
//! setting, so a new sampler setting needs no edit here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use dinof::backend::{BackendKind, ExecutionProvider, LoadOptions, OrtOptions};
use dinof::{Dequantize, SamplerChoices, Start};

#[derive(Parser)]
#[command(
    name = "dinof",
    version,
    about = "Generate images with DiNof models (diffusion with a normalizing-flow prior)"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) cmd: Cmd,
}

#[derive(Subcommand)]
pub(crate) enum Cmd {
    /// Generate images and write a PNG grid (.png) or a float32 N×C×H×W array in [0, 1] (.npy).
    Sample(SampleArgs),
    /// Summarise a bundle: manifest, networks' inputs/outputs, parameter counts, backend in use.
    Info {
        dir: PathBuf,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Validate a bundle fully and run one tiny forward pass of each network.
    Check {
        dir: PathBuf,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Measure network cost per image at several sub-batch sizes, and the sampling loop's own overhead.
    Bench(BenchArgs),
    /// Bits/dim of images (a float32 .npy, N×C×H×W or N×H×W, pixels in [0, 1]) by the probability-flow ODE plus the
    /// start's density (flow, Gaussian or prior).
    Likelihood(LikelihoodArgs),
}

#[derive(Args, Clone)]
pub(crate) struct LoadArgs {
    /// auto (default: ort when this build has it and libonnxruntime is found, else tract), tract (pure Rust) or
    /// ort (ONNX Runtime). The summary line names the backend in use.
    #[arg(long, default_value = "auto")]
    pub(crate) backend: BackendKind,
    /// ONNX Runtime execution provider: cpu, cuda or tensorrt.
    #[arg(long, default_value = "cpu")]
    pub(crate) ep: ExecutionProvider,
    /// Fall back to CPU when the execution provider is unavailable (reported).
    #[arg(long)]
    pub(crate) allow_fallback: bool,
    /// Path of libonnxruntime (else ORT_DYLIB_PATH, else next to the dinof library).
    #[arg(long)]
    pub(crate) ort_lib: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub(crate) device_id: i32,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub(crate) threads: usize,
    /// Images per network call inside the backend (0 = backend default: 1 on the CPU, which keeps images
    /// bit-identical whatever the batch size; larger is a throughput option, equal to ~1e-5).
    #[arg(long, default_value_t = 0)]
    pub(crate) sub_batch: usize,
    /// ONNX Runtime CPU: threads inside each network call (0 = one per call, calls side by side: reproducible;
    /// N: lower single-image latency, images not guaranteed bit-identical across thread counts).
    #[arg(long, default_value_t = 0)]
    pub(crate) ort_intra_threads: usize,
    /// TensorRT: fp16 engines.
    #[arg(long)]
    trt_fp16: bool,
    /// TensorRT: engine cache directory (engines are built on first run; this keeps them).
    #[arg(long)]
    pub(crate) trt_cache: Option<PathBuf>,
}

impl LoadArgs {
    pub(crate) fn options(&self) -> LoadOptions {
        LoadOptions {
            backend: self.backend,
            threads: self.threads,
            sub_batch: self.sub_batch,
            skip_checksums: false,
            ort: OrtOptions {
                library_path: self.ort_lib.clone(),
                execution_provider: self.ep,
                device_id: self.device_id,
                allow_fallback: self.allow_fallback,
                trt_fp16: self.trt_fp16,
                trt_engine_cache_dir: self.trt_cache.clone(),
                trt_workspace_bytes: 0,
                intra_op_threads: self.ort_intra_threads,
            },
        }
    }
}

#[derive(Args)]
pub(crate) struct SampleArgs {
    #[arg(long)]
    pub(crate) bundle: PathBuf,
    /// Number of images (default 64; with several --labels: one per label, times --per-label).
    #[arg(long)]
    pub(crate) n: Option<usize>,
    /// Seed (default: random, printed).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Output file: .png (grid) or .npy (float32 N×C×H×W in [0, 1]).
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Global index of the first image (to split a job across calls).
    #[arg(long, default_value_t = 0)]
    pub(crate) first_index: u64,
    /// Images stepped together (0 = min(n, 256)); never changes the images.
    #[arg(long, default_value_t = 0)]
    pub(crate) batch_size: usize,
    /// The sampler settings (`dinof::SamplerChoices`: one flag each; unset = the bundle's default).
    #[command(flatten)]
    pub(crate) sampler: SamplerChoices,
    /// Return the last step's noisy sample instead of its mean.
    #[arg(long)]
    pub(crate) no_denoise: bool,
    /// Class labels, comma-separated: indices or the bundle's class names (ignoring case), mixed as you like; one
    /// per image, or one for all; `all` = every class in order.
    #[arg(long, value_delimiter = ',')]
    pub(crate) labels: Option<Vec<String>>,
    /// Repeat each label this many times in a row (a grid with one row per class: `--labels all --per-label 8
    /// --nrow 8`).
    #[arg(long)]
    pub(crate) per_label: Option<usize>,
    /// Images per grid row (default ceil(sqrt(n))).
    #[arg(long)]
    pub(crate) nrow: Option<usize>,
    /// No progress bar.
    #[arg(long, short)]
    pub(crate) quiet: bool,
    #[command(flatten)]
    pub(crate) load: LoadArgs,
}

#[derive(Args)]
pub(crate) struct BenchArgs {
    pub(crate) dir: PathBuf,
    /// Images for the loop-overhead measurement.
    #[arg(long, default_value_t = 16)]
    pub(crate) n: usize,
    /// Reverse steps for the loop-overhead measurement.
    #[arg(long, default_value_t = 50)]
    pub(crate) steps: usize,
    /// Comma-separated sub-batch sizes to compare.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
    pub(crate) sub_batches: Vec<usize>,
    /// Network calls per measurement.
    #[arg(long, default_value_t = 5)]
    pub(crate) reps: usize,
    #[command(flatten)]
    pub(crate) load: LoadArgs,
}

#[derive(Args)]
pub(crate) struct LikelihoodArgs {
    #[arg(long)]
    pub(crate) bundle: PathBuf,
    /// Images: .npy float32 (or float64) N×C×H×W, or N×H×W for one channel, pixels in [0, 1].
    #[arg(long)]
    pub(crate) data: PathBuf,
    /// uniform: 8-bit bits/dim with uniform dequantisation (score_sde); none: continuous density of the values.
    #[arg(long, default_value = "uniform")]
    pub(crate) dequantize: Dequantize,
    /// Hutchinson probes per image (each costs 2 score evaluations per ODE derivative).
    #[arg(long, default_value_t = 1)]
    pub(crate) probes: usize,
    /// Seed of the dequantisation noise and the probes (default: random, printed).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// flow (ODE to T_m plus the flow's density), gaussian (ODE to T_m plus the fitted Gaussian's density) or prior
    /// (ODE to t = 1 plus the SDE's Gaussian prior).
    #[arg(long)]
    pub(crate) start: Option<Start>,
    /// T_m of the flow (or Gaussian).
    #[arg(long = "t-m")]
    pub(crate) t_m: Option<f64>,
    /// RK45 relative tolerance (default 1e-5).
    #[arg(long)]
    pub(crate) rtol: Option<f64>,
    /// RK45 absolute tolerance (default 1e-5).
    #[arg(long)]
    pub(crate) atol: Option<f64>,
    /// Central-difference step of the divergence, relative to the noise level σ(t) (default 1e-2).
    #[arg(long)]
    pub(crate) fd_step: Option<f64>,
    /// Class labels of a conditional model, comma-separated (one per image, or one for all).
    #[arg(long, value_delimiter = ',')]
    pub(crate) labels: Option<Vec<i64>>,
    /// Images integrated together (0 = min(n, 64)); never changes the figures.
    #[arg(long, default_value_t = 0)]
    pub(crate) batch_size: usize,
    /// Measure only the first N images of the file.
    #[arg(long)]
    pub(crate) limit: Option<usize>,
    /// Print one JSON object (per-image figures, mean, standard error, evaluations, settings) on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub(crate) quiet: bool,
    #[command(flatten)]
    pub(crate) load: LoadArgs,
}
