//! Checked access to memory the caller hands in: NULL checks, struct_size checks, raw field reads and slices.

use std::ffi::{c_char, CStr};
use std::path::PathBuf;

use super::status::{dinof_status, Failure, FfiResult};

/// Reads a field of a C struct through a raw pointer, without ever creating a Rust reference to the struct (its enum
/// fields may hold values Rust must not see as enums). `as T` reinterprets the field: enums as `c_int`, bools as `u8`.
macro_rules! field {
    ($p:expr, $f:ident) => {
        std::ptr::addr_of!((*$p).$f).read_unaligned()
    };
    ($p:expr, $f:ident as $t:ty) => {
        std::ptr::addr_of!((*$p).$f).cast::<$t>().read_unaligned()
    };
}
pub(crate) use field;

/// Checks that a struct pointer is non-NULL and that the caller's `struct_size` (its first field, a `uint32_t`)
/// covers this library's version of `T`. Larger sizes come from newer headers and are fine: only our fields are
/// touched.
///
/// # Safety
/// `p`, when non-NULL, must point to at least 4 readable bytes.
pub unsafe fn check_struct<T>(p: *const T, name: &str) -> FfiResult<()> {
    if p.is_null() {
        return Err(Failure::null(name));
    }
    let size = p.cast::<u32>().read_unaligned() as usize;
    let need = std::mem::size_of::<T>();
    if size < need {
        return Err(Failure::new(
            dinof_status::StructSize,
            format!("{name}->struct_size is {size}, this library needs at least {need}: set it to sizeof(...) or start from the *_default() initialiser"),
        ));
    }
    Ok(())
}

/// The caller's output struct pointer, checked like `check_struct`, or `None` when NULL (optional outputs).
///
/// # Safety
/// As `check_struct`.
pub unsafe fn optional_out<T>(p: *mut T, name: &str) -> FfiResult<Option<*mut T>> {
    if p.is_null() {
        return Ok(None);
    }
    check_struct(p.cast_const(), name)?;
    Ok(Some(p))
}

/// Writes `value` over the caller's struct, keeping the caller's `struct_size` (only our fields are written).
///
/// # Safety
/// `p` must have passed `check_struct` and be writable for `size_of::<T>()` bytes.
pub unsafe fn write_struct<T>(p: *mut T, value: T) {
    let caller_size = p.cast::<u32>().read_unaligned();
    p.write_unaligned(value);
    p.cast::<u32>().write_unaligned(caller_size);
}

/// A C string argument as a path. On Unix any bytes are a path; elsewhere it must be UTF-8.
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
        std::str::from_utf8(bytes).map(PathBuf::from).map_err(|_| Failure::invalid(format!("{name} is not valid UTF-8")))
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

/// The first `needed` elements of the caller's output buffer, after checking it is non-NULL and `len` >= `needed`.
/// Only `needed` elements are ever touched, whatever `len` claims.
///
/// # Safety
/// `out` must be writable for `len` elements of `T`.
pub unsafe fn out_slice<'a, T>(out: *mut T, len: usize, needed: usize, name: &str) -> FfiResult<&'a mut [T]> {
    if out.is_null() {
        return Err(Failure::null(name));
    }
    if len < needed {
        return Err(Failure::new(
            dinof_status::BufferTooSmall,
            format!("{name} holds {len} elements, {needed} are needed (n x values per image)"),
        ));
    }
    if needed > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(Failure::invalid(format!("{name}: {needed} elements exceed the address space")));
    }
    Ok(std::slice::from_raw_parts_mut(out, needed))
}

/// `n x per_image`, refusing overflow.
pub fn total_len(n: usize, per_image: usize) -> FfiResult<usize> {
    n.checked_mul(per_image).ok_or_else(|| Failure::invalid(format!("n = {n} images of {per_image} values overflow size_t")))
}
