//! Status codes, the thread-local error message and the panic boundary every entry point goes through.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::Error;

/// Result of every fallible dinof function: one of the DINOF_STATUS_* values. A fixed-width integer, not a C enum
/// (whose size is implementation-defined). The values are fixed: codes are only ever appended, never renumbered.
/// 0..99 mirror the library's error kinds; 100 and up are about how the C API was called.
pub type dinof_status = i32;

/// Success.
pub const DINOF_STATUS_OK: dinof_status = 0;
/// An option value is out of range or inconsistent with the model (bad T_m, labels, steps, ...), or a pointer is
/// misaligned for its type.
pub const DINOF_STATUS_INVALID_ARGUMENT: dinof_status = 1;
/// The output buffer is smaller than n images need (or, for the copy-into-buffer functions, the text was truncated).
pub const DINOF_STATUS_BUFFER_TOO_SMALL: dinof_status = 2;
/// A bundle file could not be read.
pub const DINOF_STATUS_IO: dinof_status = 3;
/// dinof.json is not valid JSON or breaks a rule of the bundle format.
pub const DINOF_STATUS_INVALID_MANIFEST: dinof_status = 4;
/// The bundle's format_version is newer (or older) than this library reads.
pub const DINOF_STATUS_UNSUPPORTED_VERSION: dinof_status = 5;
/// A file named by the manifest does not exist.
pub const DINOF_STATUS_MISSING_FILE: dinof_status = 6;
/// A file does not match the sha256 checksum in the manifest.
pub const DINOF_STATUS_CHECKSUM_MISMATCH: dinof_status = 7;
/// An ONNX file cannot be parsed or compiled.
pub const DINOF_STATUS_INVALID_ONNX: dinof_status = 8;
/// A network's inputs/outputs disagree with the bundle contract.
pub const DINOF_STATUS_NETWORK_MISMATCH: dinof_status = 9;
/// The backend failed while running a network.
pub const DINOF_STATUS_BACKEND: dinof_status = 10;
/// The requested backend is not compiled in or its runtime library cannot be loaded.
pub const DINOF_STATUS_BACKEND_UNAVAILABLE: dinof_status = 11;
/// The requested execution provider could not be registered and fallback was not allowed.
pub const DINOF_STATUS_EXECUTION_PROVIDER_UNAVAILABLE: dinof_status = 12;
/// A network produced NaN or infinity; the run was stopped.
pub const DINOF_STATUS_NON_FINITE: dinof_status = 13;
/// The progress callback or dinof_job_cancel stopped the run.
pub const DINOF_STATUS_CANCELLED: dinof_status = 14;
/// A broken internal invariant (a bug in dinof).
pub const DINOF_STATUS_INTERNAL: dinof_status = 15;
/// Memory for the request (it grows with n, batch_size and the image size) could not be allocated. Nothing was
/// written; a smaller n or batch_size may succeed. (ABI 2)
pub const DINOF_STATUS_OUT_OF_MEMORY: dinof_status = 16;
/// A file name in the manifest is not a plain name: it has a path separator, is "." or "..", or holds ':'. (ABI 2)
pub const DINOF_STATUS_BAD_FILE_NAME: dinof_status = 17;
/// A bundle file resolves (through a symlink) to a place outside the bundle directory. (ABI 2)
pub const DINOF_STATUS_FILE_OUTSIDE_BUNDLE: dinof_status = 18;
/// A bundle path is a FIFO, device, socket or directory instead of a regular file; it was not opened. (ABI 2)
pub const DINOF_STATUS_NOT_A_REGULAR_FILE: dinof_status = 19;
/// dinof.json exceeds DINOF_MAX_MANIFEST_BYTES. (ABI 2)
pub const DINOF_STATUS_MANIFEST_TOO_LARGE: dinof_status = 20;
/// A required pointer argument is NULL.
pub const DINOF_STATUS_NULL_POINTER: dinof_status = 100;
/// A struct's struct_size is not one this library accepts: too small, cutting through a field, or larger than this
/// library's version of the struct (a newer header than the library).
pub const DINOF_STATUS_STRUCT_SIZE: dinof_status = 101;
/// An enum field holds a value that is not one of its constants.
pub const DINOF_STATUS_BAD_ENUM_VALUE: dinof_status = 102;
/// dinof_job_wait / dinof_shutdown: still running after the timeout.
pub const DINOF_STATUS_TIMEOUT: dinof_status = 103;
/// A panic inside dinof was caught at the API boundary (a bug in dinof); the message says where.
pub const DINOF_STATUS_PANIC: dinof_status = 104;
/// dinof_job_result / dinof_job_report: the job has not finished yet.
pub const DINOF_STATUS_NOT_READY: dinof_status = 105;
/// The function may not be called from a progress callback on this job's thread (dinof_job_free of that job,
/// dinof_shutdown). (ABI 2)
pub const DINOF_STATUS_CALLED_FROM_CALLBACK: dinof_status = 106;
/// dinof_shutdown: models or jobs are still alive; free them first. (ABI 2)
pub const DINOF_STATUS_BUSY: dinof_status = 107;

/// Every code with its short description, for `dinof_status_string` and tests.
/// cbindgen:ignore
pub(crate) const STATUSES: &[(dinof_status, &CStr)] = &[
    (DINOF_STATUS_OK, c"ok"),
    (DINOF_STATUS_INVALID_ARGUMENT, c"invalid argument"),
    (DINOF_STATUS_BUFFER_TOO_SMALL, c"buffer too small"),
    (DINOF_STATUS_IO, c"i/o error"),
    (DINOF_STATUS_INVALID_MANIFEST, c"invalid bundle manifest"),
    (DINOF_STATUS_UNSUPPORTED_VERSION, c"unsupported bundle format version"),
    (DINOF_STATUS_MISSING_FILE, c"bundle file missing"),
    (DINOF_STATUS_CHECKSUM_MISMATCH, c"checksum mismatch"),
    (DINOF_STATUS_INVALID_ONNX, c"invalid ONNX model"),
    (DINOF_STATUS_NETWORK_MISMATCH, c"network does not match the bundle contract"),
    (DINOF_STATUS_BACKEND, c"backend failure"),
    (DINOF_STATUS_BACKEND_UNAVAILABLE, c"backend unavailable"),
    (DINOF_STATUS_EXECUTION_PROVIDER_UNAVAILABLE, c"execution provider unavailable"),
    (DINOF_STATUS_NON_FINITE, c"network produced NaN or infinity"),
    (DINOF_STATUS_CANCELLED, c"cancelled"),
    (DINOF_STATUS_INTERNAL, c"internal error"),
    (DINOF_STATUS_OUT_OF_MEMORY, c"out of memory"),
    (DINOF_STATUS_BAD_FILE_NAME, c"bundle file name not allowed"),
    (DINOF_STATUS_FILE_OUTSIDE_BUNDLE, c"bundle file outside the bundle directory"),
    (DINOF_STATUS_NOT_A_REGULAR_FILE, c"not a regular file"),
    (DINOF_STATUS_MANIFEST_TOO_LARGE, c"manifest too large"),
    (DINOF_STATUS_NULL_POINTER, c"NULL pointer argument"),
    (DINOF_STATUS_STRUCT_SIZE, c"struct_size not accepted"),
    (DINOF_STATUS_BAD_ENUM_VALUE, c"invalid enum value"),
    (DINOF_STATUS_TIMEOUT, c"timeout"),
    (DINOF_STATUS_PANIC, c"panic inside dinof"),
    (DINOF_STATUS_NOT_READY, c"job not finished"),
    (DINOF_STATUS_CALLED_FROM_CALLBACK, c"not allowed from a progress callback"),
    (DINOF_STATUS_BUSY, c"models or jobs still alive"),
];

/// Every library error has its own code; a new `Error` variant fails to compile here until it gets one. Public for
/// tests that compare the C ABI's status with the Rust API's error (tests/fuzz_loader.rs).
pub fn status_of(e: &Error) -> dinof_status {
    match e {
        Error::InvalidArgument(_) => DINOF_STATUS_INVALID_ARGUMENT,
        Error::BufferTooSmall { .. } => DINOF_STATUS_BUFFER_TOO_SMALL,
        Error::Io { .. } => DINOF_STATUS_IO,
        Error::InvalidManifest { .. } => DINOF_STATUS_INVALID_MANIFEST,
        Error::UnsupportedVersion { .. } => DINOF_STATUS_UNSUPPORTED_VERSION,
        Error::MissingFile(_) => DINOF_STATUS_MISSING_FILE,
        Error::ChecksumMismatch { .. } => DINOF_STATUS_CHECKSUM_MISMATCH,
        Error::InvalidOnnx { .. } => DINOF_STATUS_INVALID_ONNX,
        Error::NetworkMismatch { .. } => DINOF_STATUS_NETWORK_MISMATCH,
        Error::Backend { .. } => DINOF_STATUS_BACKEND,
        Error::BackendUnavailable(_) => DINOF_STATUS_BACKEND_UNAVAILABLE,
        Error::ExecutionProviderUnavailable(_) => DINOF_STATUS_EXECUTION_PROVIDER_UNAVAILABLE,
        Error::NonFinite { .. } => DINOF_STATUS_NON_FINITE,
        Error::Cancelled => DINOF_STATUS_CANCELLED,
        Error::Internal(_) => DINOF_STATUS_INTERNAL,
        Error::OutOfMemory { .. } => DINOF_STATUS_OUT_OF_MEMORY,
        Error::BadFileName { .. } => DINOF_STATUS_BAD_FILE_NAME,
        Error::OutsideBundle { .. } => DINOF_STATUS_FILE_OUTSIDE_BUNDLE,
        Error::NotRegularFile { .. } => DINOF_STATUS_NOT_A_REGULAR_FILE,
        Error::ManifestTooLarge { .. } => DINOF_STATUS_MANIFEST_TOO_LARGE,
        // Label and start problems were INVALID_ARGUMENT before they had their own types: callers that test for it
        // keep working, and the message says which rule.
        Error::Label(_) | Error::Start(_) => DINOF_STATUS_INVALID_ARGUMENT,
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
        Self::new(DINOF_STATUS_NULL_POINTER, format!("{what} is NULL"))
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(DINOF_STATUS_INVALID_ARGUMENT, message)
    }
    pub fn panic(payload: &(dyn Any + Send)) -> Self {
        let what = crate::error::panic_message(payload);
        Self::new(DINOF_STATUS_PANIC, format!("panic inside dinof (a bug, please report it): {what}"))
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure { status: status_of(&e), message: e.to_string() }
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
/// clears the message on success. No panic crosses this boundary, and none is printed (see crate::log).
pub fn guard(body: impl FnOnce() -> FfiResult<()>) -> dinof_status {
    let _inside = crate::log::Inside::enter();
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| Err(Failure::panic(&*payload)));
    match outcome {
        Ok(()) => {
            set_last_error("");
            DINOF_STATUS_OK
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
    let _inside = crate::log::Inside::enter();
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// Copies `text` into a caller buffer of `len` bytes as a NUL-terminated string, truncated at a UTF-8 character
/// boundary if needed; `needed` (optional) receives strlen(text) + 1. buf NULL with len 0 only asks for the size.
///
/// # Safety
/// `buf` must be NULL or writable for `len` bytes; `needed` NULL or writable.
pub(crate) unsafe fn copy_text(text: &str, buf: *mut c_char, len: usize, needed: *mut usize) -> FfiResult<()> {
    if !needed.is_null() {
        needed.write_unaligned(text.len() + 1);
    }
    if buf.is_null() {
        return if len == 0 { Ok(()) } else { Err(Failure::null("buf")) };
    }
    if len == 0 {
        return Err(Failure::new(
            DINOF_STATUS_BUFFER_TOO_SMALL,
            format!("buf has 0 bytes; {} are needed", text.len() + 1),
        ));
    }
    let mut n = text.len().min(len - 1);
    while !text.is_char_boundary(n) {
        n -= 1;
    }
    std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), n);
    buf.add(n).write(0);
    if n < text.len() {
        return Err(Failure::new(
            DINOF_STATUS_BUFFER_TOO_SMALL,
            format!("buf has {len} bytes; {} are needed", text.len() + 1),
        ));
    }
    Ok(())
}

/// A static description of a status code ("ok", "invalid argument", ...); never NULL. Unknown codes give
/// "unknown status".
#[no_mangle]
pub extern "C" fn dinof_status_string(status: dinof_status) -> *const c_char {
    guard_value(c"unknown status".as_ptr(), || {
        STATUSES.iter().find(|(s, _)| *s == status).map_or(c"unknown status".as_ptr(), |(_, d)| d.as_ptr())
    })
}

/// The message of the calling thread's most recent dinof call that returned a status: "" after a success, an
/// explanation after a failure. Never NULL. The string belongs to the library and stays valid until the next
/// dinof call on this thread (use dinof_last_error_copy to keep it).
#[no_mangle]
pub extern "C" fn dinof_last_error_message() -> *const c_char {
    guard_value(c"".as_ptr(), || LAST_ERROR.with(|m| m.borrow().as_ptr()))
}

/// Copies the calling thread's last error message into `buf` (`len` bytes, always NUL-terminated when len > 0,
/// truncated at a UTF-8 boundary); `needed` (may be NULL) receives the full length including the NUL. With buf NULL
/// and len 0 it only reports `needed`. Unlike every other function, it leaves the last error message unchanged.
/// Returns DINOF_STATUS_OK, or DINOF_STATUS_BUFFER_TOO_SMALL when truncated. (ABI 2)
#[no_mangle]
pub unsafe extern "C" fn dinof_last_error_copy(buf: *mut c_char, len: usize, needed: *mut usize) -> dinof_status {
    let _inside = crate::log::Inside::enter();
    let copy = catch_unwind(AssertUnwindSafe(|| {
        LAST_ERROR.with(|m| {
            let m = m.borrow();
            let text = m.to_str().unwrap_or("");
            copy_text(text, buf, len, needed)
        })
    }));
    match copy {
        Ok(Ok(())) => DINOF_STATUS_OK,
        Ok(Err(f)) => f.status,
        Err(_) => DINOF_STATUS_PANIC,
    }
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
        let fixed = [
            (DINOF_STATUS_OK, 0),
            (DINOF_STATUS_CANCELLED, 14),
            (DINOF_STATUS_INTERNAL, 15),
            (DINOF_STATUS_OUT_OF_MEMORY, 16),
            (DINOF_STATUS_MANIFEST_TOO_LARGE, 20),
            (DINOF_STATUS_NULL_POINTER, 100),
            (DINOF_STATUS_PANIC, 104),
            (DINOF_STATUS_NOT_READY, 105),
            (DINOF_STATUS_BUSY, 107),
        ];
        for (s, v) in fixed {
            assert_eq!(s, v);
        }
        for (i, (s, d)) in STATUSES.iter().enumerate() {
            assert!(!d.is_empty());
            assert!(STATUSES[..i].iter().all(|(t, _)| t != s), "{s} listed twice");
        }
    }

    #[test]
    fn panics_become_a_status_with_a_message() {
        let s = guard(|| panic!("boom {}", 42));
        assert_eq!(s, DINOF_STATUS_PANIC);
        assert!(last().contains("boom 42"), "{}", last());
        assert_eq!(guard(|| Ok(())), DINOF_STATUS_OK);
        assert_eq!(last(), "");
        assert_eq!(guard_value(7, || panic!("x")), 7);
    }

    #[test]
    fn errors_map_to_their_codes() {
        let s = guard(|| Err(Error::BufferTooSmall { needed: 4, got: 2 }.into()));
        assert_eq!(s, DINOF_STATUS_BUFFER_TOO_SMALL);
        assert!(last().contains("need 4"));
        let name = unsafe { CStr::from_ptr(dinof_status_string(14)) };
        assert_eq!(name.to_str().unwrap(), "cancelled");
        let name = unsafe { CStr::from_ptr(dinof_status_string(-5)) };
        assert_eq!(name.to_str().unwrap(), "unknown status");
    }

    #[test]
    fn text_is_copied_truncated_at_a_character() {
        let mut buf = [0x55 as c_char; 8];
        let mut needed = 0usize;
        assert!(unsafe { copy_text("héllo", buf.as_mut_ptr(), 8, &mut needed) }.is_ok());
        assert_eq!(needed, 7);
        // 4 bytes: "h" + 2-byte "é" would need 3 + NUL; truncation keeps whole characters.
        let e = unsafe { copy_text("héllo", buf.as_mut_ptr(), 3, &mut needed) }.unwrap_err();
        assert_eq!(e.status, DINOF_STATUS_BUFFER_TOO_SMALL);
        assert_eq!(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_bytes(), b"h");
    }
}
