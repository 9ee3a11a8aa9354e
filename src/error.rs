//! One error type for the whole crate. Every variant maps to a stable C status code in `ffi::status`,
//! so adding a variant means adding a code there (never renumbering).

use std::path::PathBuf;

use crate::sampler::Start;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A caller-supplied value is out of range or inconsistent.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A caller-supplied buffer cannot hold the result.
    #[error("buffer too small: need {needed} elements, got {got}")]
    BufferTooSmall { needed: usize, got: usize },

    #[error("i/o error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    /// `dinof.json` is unreadable JSON or violates a field rule of the bundle format.
    #[error("invalid manifest {path}: {msg}")]
    InvalidManifest { path: PathBuf, msg: String },

    #[error("unsupported bundle format version {found} (this library reads version {supported})")]
    UnsupportedVersion { found: u64, supported: u64 },

    #[error("bundle file missing: {0}")]
    MissingFile(PathBuf),

    #[error("checksum mismatch for {file}: manifest says {expected}, file has {actual}")]
    ChecksumMismatch { file: String, expected: String, actual: String },

    /// The ONNX file cannot be parsed or compiled by the backend.
    #[error("invalid ONNX model {path}: {msg}")]
    InvalidOnnx { path: PathBuf, msg: String },

    /// The ONNX network loads but its inputs/outputs disagree with the manifest and the bundle contract.
    #[error("network {network} does not match the bundle contract: {msg}")]
    NetworkMismatch { network: String, msg: String },

    /// The backend failed while running a network.
    #[error("backend {backend} failed: {msg}")]
    Backend { backend: &'static str, msg: String },

    /// The requested backend is not compiled in or its runtime library cannot be loaded.
    #[error("backend unavailable: {0}")]
    BackendUnavailable(String),

    /// The requested execution provider (CUDA, TensorRT, ...) could not be registered and fallback was not allowed.
    #[error("execution provider unavailable: {0}")]
    ExecutionProviderUnavailable(String),

    /// A network returned NaN or infinity: the model or its inputs are broken; the run stops instead of
    /// producing garbage.
    #[error("network {network} produced a non-finite value (NaN or infinity) at step {step}")]
    NonFinite { network: String, step: usize },

    #[error("cancelled by the caller")]
    Cancelled,

    /// An allocation that grows with n, the batch or the image size failed: the request is too large for this
    /// process. Nothing was written; smaller n or batch_size may succeed.
    #[error("out of memory: cannot allocate {bytes} bytes for {what}")]
    OutOfMemory { what: String, bytes: u128 },

    /// A file name in the manifest is not a plain name inside the bundle (a path separator, `..`, an absolute path).
    #[error("bundle file name {name:?} is not allowed: {reason}")]
    BadFileName { name: String, reason: String },

    /// A bundle file resolves (through a symlink) to a place outside the bundle directory.
    #[error("bundle file {name:?} resolves to {path}, outside the bundle directory")]
    OutsideBundle { name: String, path: PathBuf },

    /// A bundle path is not a regular file (a FIFO, a device, a directory, ...); such files are never opened.
    #[error("{path} is not a regular file ({kind})")]
    NotRegularFile { path: PathBuf, kind: String },

    /// dinof.json is larger than the format allows.
    #[error("manifest {path} is {size} bytes or more; the limit is {limit}")]
    ManifestTooLarge { path: PathBuf, size: u64, limit: u64 },

    /// Class labels the model cannot take (`LabelError` says which rule). In C: DINOF_STATUS_INVALID_ARGUMENT, as
    /// every option a caller can correct.
    #[error(transparent)]
    Label(#[from] LabelError),

    /// A start at T_m the bundle cannot give (`StartError` says which). In C: DINOF_STATUS_INVALID_ARGUMENT.
    #[error(transparent)]
    Start(#[from] StartError),

    /// A bug: a panic caught at an API boundary, or a broken internal invariant.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Each way the requested class labels can be wrong, with its own message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelError {
    /// An index outside [0, classes).
    #[error("label {label} is out of range [0, {classes})")]
    OutOfRange { label: i64, classes: u32 },
    /// Neither one label for all images nor one per image: some images would have none.
    #[error("{given} labels for {n} images (give one per image, or one for all)")]
    Count { given: usize, n: usize },
    /// Labels for a model without classes.
    #[error("labels given, but the model is unconditional (classes = 0)")]
    Unconditional,
    /// No labels for a class-conditional model: which class each image is is the caller's choice, never a guess.
    #[error(
        "no labels given, but the model is class-conditional ({classes} classes): give one label per image, or \
        one for all"
    )]
    Missing { classes: u32 },
    /// A class name the bundle does not have (matched case-insensitively); the message lists the valid ones.
    #[error("no class named {name:?}; this model's classes are: {valid}")]
    UnknownName { name: String, valid: String },
    /// A class given by name to a bundle whose manifest has no `labels`.
    #[error(
        "class {name:?} given by name, but this bundle has no class names (manifest `labels`); use an index in \
        [0, {classes})"
    )]
    NoNames { name: String, classes: u32 },
}

/// A flow or Gaussian start the bundle does not have. `start` is the start asked for; `available` the T_m values of
/// its networks (ascending), so the message can name the valid choices.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The bundle has no network of that start at all (no `flows` / no `gaussians`).
    #[error(
        "start '{start}' needs a bundle with a {} (manifest '{}'); this one has none{}",
        noun(*.start), .start.array().unwrap_or("?"), alternatives(.others)
    )]
    Absent { start: Start, others: Vec<Start> },
    /// None of the start's networks is at the requested T_m.
    #[error("no {} for T_m = {t_m}; this bundle's {}s have T_m in {available:?}", noun(*.start), noun(*.start))]
    NoTm { start: Start, t_m: f64, available: Vec<f64> },
}

fn noun(s: Start) -> &'static str {
    match s {
        Start::Gaussian => "Gaussian start",
        _ => "flow",
    }
}

fn alternatives(o: &[Start]) -> String {
    if o.is_empty() {
        String::new()
    } else {
        format!(" (use start {})", o.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(" or "))
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }
}

/// The message a caught panic carried (`panic!` gives a `&str` or a `String`), for the error that replaces it.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload.downcast_ref::<&str>().copied().or_else(|| payload.downcast_ref::<String>().map(String::as_str));
    text.unwrap_or("unknown panic payload").to_string()
}

/// An empty vector with room for `len` values, or `Error::OutOfMemory` instead of the allocator's abort. Every
/// buffer whose size grows with n, the batch or the image size is made through here (or `try_filled`).
pub fn try_capacity<T>(len: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| Error::OutOfMemory {
        what: what.to_string(),
        bytes: len as u128 * std::mem::size_of::<T>() as u128,
    })?;
    Ok(v)
}

/// `len` copies of `value`, allocated fallibly.
pub fn try_filled<T: Clone>(len: usize, value: T, what: &str) -> Result<Vec<T>> {
    let mut v = try_capacity(len, what)?;
    v.resize(len, value);
    Ok(v)
}
