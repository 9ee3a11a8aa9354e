//! One error type for the whole crate. Every variant maps to a stable C status code in `ffi::status`,
//! so adding a variant means adding a code there (never renumbering).

use std::path::PathBuf;

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

    /// A bug: a panic caught at an API boundary, or a broken internal invariant.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }
}
