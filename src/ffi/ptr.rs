//! Checked access to memory the caller hands in: NULL and alignment checks, C strings as paths, output slices.

use std::ffi::{c_char, CStr};
use std::path::PathBuf;

use super::status::{Failure, FfiResult, DINOF_STATUS_BUFFER_TOO_SMALL};

/// Refuses a pointer not aligned for its type: a slice over it would be undefined behaviour (and aborts debug
/// builds), so it is an argument error, not a crash.
pub fn check_aligned<T>(p: *const T, name: &str) -> FfiResult<()> {
    if !p.is_aligned() {
        let align = std::mem::align_of::<T>();
        return Err(Failure::invalid(format!(
            "{name} ({p:p}) is not aligned to {align} bytes, as its element type needs"
        )));
    }
    Ok(())
}

/// A C string argument as a path. Paths are UTF-8 on every platform (on Windows they are converted to UTF-16; C#
/// callers marshal with UnmanagedType.LPUTF8Str); on Unix other bytes are passed through as they are.
///
/// # Safety
/// `s` must be NULL or a NUL-terminated string.
pub unsafe fn path_arg(s: *const c_char, name: &str) -> FfiResult<PathBuf> {
    if s.is_null() {
        return Err(Failure::null(name));
    }
    let bytes = CStr::from_ptr(s).to_bytes();
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
    }
    #[cfg(not(unix))]
    {
        std::str::from_utf8(bytes)
            .map(PathBuf::from)
            .map_err(|_| Failure::invalid(format!("{name} is not valid UTF-8")))
    }
}

/// An optional path: NULL or "" mean none.
///
/// # Safety
/// As `path_arg`.
pub unsafe fn optional_path(s: *const c_char, name: &str) -> FfiResult<Option<PathBuf>> {
    if s.is_null() || *s == 0 {
        return Ok(None);
    }
    path_arg(s, name).map(Some)
}

/// The rule for every (pointer, length) pair a caller hands in: `len` elements of `T` as a `usize`, refused when
/// their bytes would exceed isize::MAX. No object is that large, and a slice over more is undefined behaviour (a
/// debug build aborts on it), so such a length is the caller's mistake, reported before any slice exists.
pub fn slice_len<T>(len: u64, name: &str) -> FfiResult<usize> {
    let size = std::mem::size_of::<T>().max(1);
    match usize::try_from(len) {
        Ok(n) if n <= isize::MAX as usize / size => Ok(n),
        _ => Err(Failure::invalid(format!(
            "{name} = {len}: {len} elements of {size} bytes exceed the largest object this platform can address ({} \
                bytes)",
            isize::MAX
        ))),
    }
}

/// The caller's input array of `len` elements at `p`, read during the call only. `len` 0 gives an empty slice
/// whatever `p` is; otherwise `p` must be non-NULL and aligned and `len` pass `slice_len`.
///
/// # Safety
/// `p` must be readable for `len` elements of `T` when it is non-NULL and `len` passes these checks.
pub unsafe fn in_slice<'a, T>(p: *const T, len: u64, name: &str, len_name: &str) -> FfiResult<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Failure::null(&format!("{name} (with {len_name} = {len})")));
    }
    check_aligned(p, name)?;
    let len = slice_len::<T>(len, len_name)?;
    Ok(std::slice::from_raw_parts(p, len))
}

/// The first `needed` elements of the caller's output buffer, after checking it is non-NULL, aligned and
/// `len` >= `needed`. Only `needed` elements are ever touched, whatever `len` claims.
///
/// # Safety
/// `out` must be writable for `len` elements of `T`.
pub unsafe fn out_slice<'a, T>(out: *mut T, len: usize, needed: usize, name: &str) -> FfiResult<&'a mut [T]> {
    if out.is_null() {
        return Err(Failure::null(name));
    }
    check_aligned(out.cast_const(), name)?;
    if len < needed {
        return Err(Failure::new(
            DINOF_STATUS_BUFFER_TOO_SMALL,
            format!("{name} holds {len} elements, {needed} are needed (n x values per image)"),
        ));
    }
    let needed = slice_len::<T>(needed as u64, name)?;
    Ok(std::slice::from_raw_parts_mut(out, needed))
}

/// `n x per_image`, refusing overflow.
pub fn total_len(n: usize, per_image: usize) -> FfiResult<usize> {
    n.checked_mul(per_image)
        .ok_or_else(|| Failure::invalid(format!("n = {n} images of {per_image} values overflow size_t")))
}
