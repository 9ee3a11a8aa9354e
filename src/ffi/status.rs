//! Status codes, the thread-local error message and the panic boundary every entry point goes through.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::Error;

/// Result of every fallible dinof function. The values are fixed: codes are only ever appended, never renumbered.
/// 0..99 mirror the library's error kinds; 100 and up are about how the C API was called.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum dinof_status {
    /// Success.
    Ok = 0,
    /// An option value is out of range or inconsistent with the model (bad T_m, labels, steps, ...).
    InvalidArgument = 1,
    /// The output buffer is smaller than n images need.
    BufferTooSmall = 2,
    /// A bundle file could not be read.
    Io = 3,
    /// dinof.json is not valid JSON or breaks a rule of the bundle format.
    InvalidManifest = 4,
    /// The bundle's format_version is newer (or older) than this library reads.
    UnsupportedVersion = 5,
    /// A file named by the manifest does not exist.
    MissingFile = 6,
    /// A file does not match the sha256 checksum in the manifest.
    ChecksumMismatch = 7,
    /// An ONNX file cannot be parsed or compiled.
    InvalidOnnx = 8,
    /// A network's inputs/outputs disagree with the bundle contract.
    NetworkMismatch = 9,
    /// The backend failed while running a network.
    Backend = 10,
    /// The requested backend is not compiled in or its runtime library cannot be loaded.
    BackendUnavailable = 11,
    /// The requested execution provider could not be registered and fallback was not allowed.
    ExecutionProviderUnavailable = 12,
    /// A network produced NaN or infinity; the run was stopped.
    NonFinite = 13,
    /// The progress callback or dinof_job_cancel stopped the run.
    Cancelled = 14,
    /// A broken internal invariant (a bug in dinof).
    Internal = 15,
    /// A required pointer argument is NULL.
    NullPointer = 100,
    /// An options or output struct's struct_size is smaller than this library's version of the struct.
    StructSize = 101,
    /// An enum field holds a value that is not one of its constants.
    BadEnumValue = 102,
    /// dinof_job_wait: the job is still running after the timeout.
    Timeout = 103,
    /// A panic inside dinof was caught at the API boundary (a bug in dinof); the message says where.
    Panic = 104,
    /// dinof_job_result / dinof_job_report: the job has not finished yet.
    NotReady = 105,
}

impl dinof_status {
    /// Every code, for tests and for `dinof_status_string`.
    pub const ALL: &'static [dinof_status] = &[
        Self::Ok, Self::InvalidArgument, Self::BufferTooSmall, Self::Io, Self::InvalidManifest, Self::UnsupportedVersion,
        Self::MissingFile, Self::ChecksumMismatch, Self::InvalidOnnx, Self::NetworkMismatch, Self::Backend,
        Self::BackendUnavailable, Self::ExecutionProviderUnavailable, Self::NonFinite, Self::Cancelled, Self::Internal,
        Self::NullPointer, Self::StructSize, Self::BadEnumValue, Self::Timeout, Self::Panic, Self::NotReady,
    ];

    /// A short, static description.
    pub fn description(self) -> &'static CStr {
        match self {
            Self::Ok => c"ok",
            Self::InvalidArgument => c"invalid argument",
            Self::BufferTooSmall => c"buffer too small",
            Self::Io => c"i/o error",
            Self::InvalidManifest => c"invalid bundle manifest",
            Self::UnsupportedVersion => c"unsupported bundle format version",
            Self::MissingFile => c"bundle file missing",
            Self::ChecksumMismatch => c"checksum mismatch",
            Self::InvalidOnnx => c"invalid ONNX model",
            Self::NetworkMismatch => c"network does not match the bundle contract",
            Self::Backend => c"backend failure",
            Self::BackendUnavailable => c"backend unavailable",
            Self::ExecutionProviderUnavailable => c"execution provider unavailable",
            Self::NonFinite => c"network produced NaN or infinity",
            Self::Cancelled => c"cancelled",
            Self::Internal => c"internal error",
            Self::NullPointer => c"NULL pointer argument",
            Self::StructSize => c"struct_size too small",
            Self::BadEnumValue => c"invalid enum value",
            Self::Timeout => c"timeout",
            Self::Panic => c"panic inside dinof",
            Self::NotReady => c"job not finished",
        }
    }
}

/// Every library error has its own code; a new `Error` variant fails to compile here until it gets one.
impl From<&Error> for dinof_status {
    fn from(e: &Error) -> Self {
        match e {
            Error::InvalidArgument(_) => Self::InvalidArgument,
            Error::BufferTooSmall { .. } => Self::BufferTooSmall,
            Error::Io { .. } => Self::Io,
            Error::InvalidManifest { .. } => Self::InvalidManifest,
            Error::UnsupportedVersion { .. } => Self::UnsupportedVersion,
            Error::MissingFile(_) => Self::MissingFile,
            Error::ChecksumMismatch { .. } => Self::ChecksumMismatch,
            Error::InvalidOnnx { .. } => Self::InvalidOnnx,
            Error::NetworkMismatch { .. } => Self::NetworkMismatch,
            Error::Backend { .. } => Self::Backend,
            Error::BackendUnavailable(_) => Self::BackendUnavailable,
            Error::ExecutionProviderUnavailable(_) => Self::ExecutionProviderUnavailable,
            Error::NonFinite { .. } => Self::NonFinite,
            Error::Cancelled => Self::Cancelled,
            Error::Internal(_) => Self::Internal,
        }
    }
}

/// A failed call as the C side sees it: a status and the message `dinof_last_error_message` will return.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub status: dinof_status,
    pub message: String,
}

impl Failure {
    pub fn new(status: dinof_status, message: impl Into<String>) -> Self {
        Failure { status, message: message.into() }
    }
    pub fn null(what: &str) -> Self {
        Self::new(dinof_status::NullPointer, format!("{what} is NULL"))
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(dinof_status::InvalidArgument, message)
    }
    pub fn panic(payload: &(dyn Any + Send)) -> Self {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic payload".into());
        Self::new(dinof_status::Panic, format!("panic inside dinof (a bug, please report it): {what}"))
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure { status: dinof_status::from(&e), message: e.to_string() }
    }
}

pub type FfiResult<T> = Result<T, Failure>;

thread_local! {
    /// The message of this thread's most recent dinof call; replaced (and the old pointer invalidated) by the next.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    LAST_ERROR.with(|m| {
        let mut m = m.borrow_mut();
        // Successes are the common case (a game loop polling a job every frame): do not reallocate "" each time.
        if message.is_empty() && m.is_empty() {
            return;
        }
        // An interior NUL would truncate the C string; no message of ours has one, but be safe.
        *m = CString::new(message.replace('\0', " ")).unwrap_or_default();
    });
}

/// Runs an entry point's body: maps its failure (or a panic) to a status and the thread's error message, and
/// clears the message on success. No panic crosses this boundary.
pub fn guard(body: impl FnOnce() -> FfiResult<()>) -> dinof_status {
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| Err(Failure::panic(&*payload)));
    match outcome {
        Ok(()) => {
            set_last_error("");
            dinof_status::Ok
        }
        Err(f) => {
            // Setting the message cannot panic in practice (thread-local access during thread teardown aside);
            // the status is returned either way.
            let _ = catch_unwind(|| set_last_error(&f.message));
            f.status
        }
    }
}

/// For entry points that return a value instead of a status: a panic yields `fallback`.
pub fn guard_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// A static description of a status code ("ok", "invalid argument", ...); never NULL. Unknown codes give
/// "unknown status".
#[no_mangle]
pub extern "C" fn dinof_status_string(status: c_int) -> *const c_char {
    guard_value(c"unknown status".as_ptr(), || {
        dinof_status::ALL
            .iter()
            .find(|s| **s as c_int == status)
            .map_or(c"unknown status".as_ptr(), |s| s.description().as_ptr())
    })
}

/// The message of the calling thread's most recent dinof call that returned a status: "" after a success, an
/// explanation after a failure. Never NULL. The string belongs to the library and stays valid until the next
/// dinof call on this thread.
#[no_mangle]
pub extern "C" fn dinof_last_error_message() -> *const c_char {
    guard_value(c"".as_ptr(), || LAST_ERROR.with(|m| m.borrow().as_ptr()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last() -> String {
        unsafe { CStr::from_ptr(dinof_last_error_message()) }.to_string_lossy().into_owned()
    }

    #[test]
    fn codes_are_fixed() {
        // The C ABI promises these numbers forever.
        let fixed = [(dinof_status::Ok, 0), (dinof_status::Cancelled, 14), (dinof_status::Internal, 15),
            (dinof_status::NullPointer, 100), (dinof_status::Panic, 104), (dinof_status::NotReady, 105)];
        for (s, v) in fixed {
            assert_eq!(s as i32, v);
        }
        for s in dinof_status::ALL {
            assert!(!s.description().is_empty());
        }
    }

    #[test]
    fn panics_become_a_status_with_a_message() {
        let s = guard(|| panic!("boom {}", 42));
        assert_eq!(s, dinof_status::Panic);
        assert!(last().contains("boom 42"), "{}", last());
        assert_eq!(guard(|| Ok(())), dinof_status::Ok);
        assert_eq!(last(), "");
        assert_eq!(guard_value(7, || panic!("x")), 7);
    }

    #[test]
    fn errors_map_to_their_codes() {
        let s = guard(|| Err(Error::BufferTooSmall { needed: 4, got: 2 }.into()));
        assert_eq!(s, dinof_status::BufferTooSmall);
        assert!(last().contains("need 4"));
        let name = unsafe { CStr::from_ptr(dinof_status_string(14)) };
        assert_eq!(name.to_str().unwrap(), "cancelled");
        let name = unsafe { CStr::from_ptr(dinof_status_string(-5)) };
        assert_eq!(name.to_str().unwrap(), "unknown status");
    }
}
