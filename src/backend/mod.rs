//! "Run this network": the only thing the sampler asks of a backend. tract (pure Rust, default) and ONNX
//! Runtime (feature `ort`) implement it; the signature check against the bundle contract lives here, once.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[cfg(feature = "tract")]
pub mod tract;

#[cfg(feature = "tract")]
pub mod onnx_limits;

#[cfg(feature = "tract")]
pub use tract::describe_onnx;

#[cfg(feature = "ort")]
pub mod ort;

/// Without tract there is no ONNX parser here; `info` then shows file sizes only.
#[cfg(not(feature = "tract"))]
pub fn describe_onnx(path: &Path) -> Result<String> {
    let len = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
    Ok(format!("{len} bytes"))
}

/// Element type of a network input or output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    I64,
    Other(String),
}

/// One input or output as the ONNX file declares it. `None` dims are symbolic (the batch axis).
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: DType,
    pub shape: Option<Vec<Option<usize>>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Signature {
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
}

/// What the bundle contract expects of one network: names, element types and per-sample shapes (batch excluded).
#[derive(Clone, Debug, PartialEq)]
pub struct NetSpec {
    /// The network's role, for messages: "score", "flow(t_m=0.6)".
    pub role: String,
    pub inputs: Vec<(String, DType, Vec<usize>)>,
    pub outputs: Vec<(String, Vec<usize>)>,
}

impl NetSpec {
    pub fn output_len(&self, i: usize) -> usize {
        self.outputs[i].1.iter().product()
    }
}

/// A borrowed batch of input values, in `NetSpec::inputs` order.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    F32(&'a [f32]),
    I64(&'a [i64]),
}

impl Input<'_> {
    pub fn len(&self) -> usize {
        match self {
            Input::F32(v) => v.len(),
            Input::I64(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A loaded network, immutable and shareable across threads.
pub trait Network: Send + Sync {
    fn spec(&self) -> &NetSpec;
    /// Runs `batch` samples: `inputs[i]` holds batch × (per-sample size of input i) values, `outputs[i]` receives
    /// batch × (per-sample size of output i) values.
    fn run(&self, batch: usize, inputs: &[Input<'_>], outputs: &mut [&mut [f32]]) -> Result<()>;
}

/// Which backend and execution providers actually run the networks.
#[derive(Clone, Debug, PartialEq)]
pub struct BackendInfo {
    pub name: &'static str,
    /// Execution providers in priority order as registered ("cpu" for tract).
    pub execution_providers: Vec<String>,
    /// True when the requested execution provider was unavailable and the caller allowed falling back.
    pub fell_back: bool,
    pub threads: usize,
    /// Samples per network call inside the backend (tract splits a batch into sub-batches of this size).
    pub sub_batch: usize,
}

pub trait Backend: Send + Sync {
    fn info(&self) -> BackendInfo;
    /// Loads `path`, checks its signature against `spec` and prepares it for running.
    fn load(&self, path: &Path, spec: &NetSpec) -> Result<Box<dyn Network>> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        self.load_bytes(path, &bytes, spec)
    }
    /// Like `load`, from the ONNX file's bytes (a bundle in memory, or a file the bundle has already read safely).
    /// `origin` names the file in messages.
    fn load_bytes(&self, origin: &Path, bytes: &[u8], spec: &NetSpec) -> Result<Box<dyn Network>>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// Pure-Rust tract: no native dependency, CPU only. The library's default: the same images on every machine
    /// whatever is installed on it (the CLI defaults to `Auto`).
    #[default]
    Tract,
    /// ONNX Runtime (feature `ort`), loaded dynamically; CPU, CUDA or TensorRT execution provider.
    Ort,
    /// ONNX Runtime when this build has the `ort` feature and its library is found and loads
    /// (`OrtOptions::library_path`, `ORT_DYLIB_PATH`, or next to the dinof library), else tract. ONNX Runtime's
    /// CPU provider runs the shipped model faster than tract (docs/benchmarks.md); the choice is reported in
    /// `BackendInfo::name` and logged.
    Auto,
}

impl crate::names::Named for BackendKind {
    const ALL: &'static [BackendKind] = &[BackendKind::Tract, BackendKind::Ort, BackendKind::Auto];
    fn name(self) -> &'static str {
        match self {
            BackendKind::Tract => "tract",
            BackendKind::Ort => "ort",
            BackendKind::Auto => "auto",
        }
    }
}

impl std::str::FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(BackendKind::Auto),
            "tract" => Ok(BackendKind::Tract),
            "ort" | "onnxruntime" => Ok(BackendKind::Ort),
            _ => Err(format!("unknown backend '{s}' (expected auto, tract or ort)")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ExecutionProvider {
    #[default]
    Cpu,
    Cuda,
    TensorRt,
}

impl crate::names::Named for ExecutionProvider {
    const ALL: &'static [ExecutionProvider] =
        &[ExecutionProvider::Cpu, ExecutionProvider::Cuda, ExecutionProvider::TensorRt];
    fn name(self) -> &'static str {
        match self {
            ExecutionProvider::Cpu => "cpu",
            ExecutionProvider::Cuda => "cuda",
            ExecutionProvider::TensorRt => "tensorrt",
        }
    }
}

impl std::str::FromStr for ExecutionProvider {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "cpu" => Ok(ExecutionProvider::Cpu),
            "cuda" => Ok(ExecutionProvider::Cuda),
            "tensorrt" | "trt" => Ok(ExecutionProvider::TensorRt),
            _ => Err(format!("unknown execution provider '{s}' (expected cpu, cuda or tensorrt)")),
        }
    }
}

/// ONNX Runtime settings; ignored by tract. Present in every build so the C ABI does not depend on features.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrtOptions {
    /// Explicit path of libonnxruntime; else `ORT_DYLIB_PATH`, else next to the dinof library.
    pub library_path: Option<PathBuf>,
    pub execution_provider: ExecutionProvider,
    pub device_id: i32,
    /// Run on CPU when the requested execution provider cannot be registered (reported in `BackendInfo`).
    pub allow_fallback: bool,
    pub trt_fp16: bool,
    pub trt_engine_cache_dir: Option<PathBuf>,
    /// TensorRT workspace size in bytes; 0 = ONNX Runtime's default.
    pub trt_workspace_bytes: u64,
    /// CPU provider: threads inside one session run. 0 (the default) = one, with a batch's runs spread over
    /// `LoadOptions::threads` workers, which keeps images bit-identical whatever the batch size or thread count.
    /// N > 0 = N threads inside each run, runs one after another: lower latency for a single image on many cores,
    /// but the images then depend on how ONNX Runtime's kernels split their work (not guaranteed reproducible).
    pub intra_op_threads: usize,
}

/// How to load a model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadOptions {
    pub backend: BackendKind,
    /// Worker threads; 0 = one per available core.
    pub threads: usize,
    /// Samples per network call; 0 = the backend's default: 1 on the CPU (tract, ONNX Runtime's CPU provider), which
    /// keeps an image bit-identical whatever the batch size; the whole batch on CUDA/TensorRT.
    pub sub_batch: usize,
    /// Verify the manifest's sha256 checksums (on by default in the C ABI and CLI).
    pub skip_checksums: bool,
    pub ort: OrtOptions,
}

pub(crate) fn resolve_threads(threads: usize) -> usize {
    if threads > 0 {
        threads
    } else {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    }
}

/// The persistent pool a backend spreads one batch's network calls over (spawning threads per call costs more
/// than a small network's forward pass).
#[cfg(any(feature = "tract", feature = "ort"))]
pub(crate) fn worker_pool(threads: usize, name: &'static str) -> Result<std::sync::Arc<rayon::ThreadPool>> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(move |i| format!("{name}-{i}"))
        // Our own threads, so that dinof_shutdown can join them (rayon never joins a dropped pool's workers).
        .spawn_handler(crate::threads::spawn_pool_worker)
        .build()
        .map(std::sync::Arc::new)
        .map_err(|e| Error::Internal(format!("cannot start the worker pool: {e}")))
}

/// Creates the backend the options ask for.
pub fn create(opts: &LoadOptions) -> Result<Box<dyn Backend>> {
    match opts.backend {
        BackendKind::Auto => create_auto(opts),
        #[cfg(feature = "tract")]
        BackendKind::Tract => Ok(Box::new(tract::TractBackend::new(opts)?)),
        #[cfg(not(feature = "tract"))]
        BackendKind::Tract => Err(Error::BackendUnavailable("dinof was built without the `tract` feature".into())),
        #[cfg(feature = "ort")]
        BackendKind::Ort => Ok(Box::new(self::ort::OrtBackend::new(opts)?)),
        #[cfg(not(feature = "ort"))]
        BackendKind::Ort => Err(Error::BackendUnavailable("dinof was built without the `ort` feature".into())),
    }
}

/// `BackendKind::Auto`: ONNX Runtime if its library is found and loads, else tract. Only a missing or unloadable
/// library falls back (logged with its reason); any other ONNX Runtime error (an execution provider that cannot
/// be registered, bad options) is the caller's to see, as with `BackendKind::Ort`.
fn create_auto(opts: &LoadOptions) -> Result<Box<dyn Backend>> {
    #[cfg(feature = "ort")]
    match self::ort::OrtBackend::new(opts) {
        Ok(b) => return Ok(Box::new(b)),
        Err(Error::BackendUnavailable(why)) => {
            crate::log::log(
                crate::log::Level::Info,
                &format!("backend auto: ONNX Runtime unavailable ({why}); using tract"),
            );
        }
        Err(e) => return Err(e),
    }
    create(&LoadOptions { backend: BackendKind::Tract, ..opts.clone() })
}

/// Checks a network's declared signature against the contract. Extra inputs are refused (we could not feed them);
/// outputs are matched by name, so a network may expose extra outputs.
pub fn check_signature(sig: &Signature, spec: &NetSpec) -> Result<()> {
    let fail = |msg: String| Err(Error::NetworkMismatch { network: spec.role.clone(), msg });
    for (name, dtype, dims) in &spec.inputs {
        let Some(info) = sig.inputs.iter().find(|i| &i.name == name) else {
            let have: Vec<_> = sig.inputs.iter().map(|i| i.name.as_str()).collect();
            return fail(format!("missing input '{name}' (the file has inputs {have:?})"));
        };
        if &info.dtype != dtype {
            return fail(format!("input '{name}' has element type {:?}, expected {dtype:?}", info.dtype));
        }
        check_dims(&spec.role, "input", name, info, dims)?;
    }
    for info in &sig.inputs {
        if !spec.inputs.iter().any(|(n, _, _)| n == &info.name) {
            return fail(format!(
                "unexpected input '{}' (the contract has {:?})",
                info.name,
                spec.inputs.iter().map(|i| i.0.as_str()).collect::<Vec<_>>()
            ));
        }
    }
    for (name, dims) in &spec.outputs {
        let Some(info) = sig.outputs.iter().find(|i| &i.name == name) else {
            let have: Vec<_> = sig.outputs.iter().map(|i| i.name.as_str()).collect();
            return fail(format!("missing output '{name}' (the file has outputs {have:?})"));
        };
        if info.dtype != DType::F32 {
            return fail(format!("output '{name}' has element type {:?}, expected F32", info.dtype));
        }
        check_dims(&spec.role, "output", name, info, dims)?;
    }
    Ok(())
}

fn check_dims(role: &str, what: &str, name: &str, info: &TensorInfo, dims: &[usize]) -> Result<()> {
    // Files without declared shapes are accepted here; a wrong shape then fails at the first run.
    let Some(shape) = &info.shape else { return Ok(()) };
    let fmt = |s: &[Option<usize>]| {
        s.iter().map(|d| d.map_or("?".to_string(), |v| v.to_string())).collect::<Vec<_>>().join("×")
    };
    let expected: Vec<Option<usize>> = std::iter::once(None).chain(dims.iter().map(|&d| Some(d))).collect();
    let ok = shape.len() == expected.len()
        && shape.iter().zip(&expected).skip(1).all(|(have, want)| have.is_none() || have == want);
    if !ok {
        return Err(Error::NetworkMismatch {
            network: role.to_string(),
            msg: format!(
                "{what} '{name}' has shape {}, expected batch×{}",
                fmt(shape),
                dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("×")
            ),
        });
    }
    Ok(())
}
