//! The C ABI (`include/dinof.h`, generated from this module by build.rs with cbindgen).
//!
//! Principles (docs/c-api.md): opaque handles; a loaded model is immutable and shared by any number of threads; every
//! fallible function returns a `dinof_status` (an int32_t with fixed, never-renumbered values) and leaves a message
//! for `dinof_last_error_message` on the calling thread; no panic crosses the boundary (`status::guard` wraps every
//! body) and none is printed; structs are versioned by `struct_size` with `dinof_*_init` (layout.rs) and hold only
//! fixed-width integers, doubles and pointers (no C enum, no bool), so P/Invoke can mirror them as blittable
//! structs; enum values from C are validated, never transmuted; progress callbacks are per call or job; the library
//! frees what it allocates and every free function accepts NULL.

#![allow(non_camel_case_types, clippy::missing_safety_doc)]

// In header order: cbindgen emits items in the order it meets them.
pub mod status;
pub mod enums;
pub mod layout;
pub mod options;
pub mod model;
pub mod sample;
pub mod job;
pub mod process;
pub mod ptr;

use std::ffi::{c_char, CStr};

pub use enums::*;
pub use job::*;
pub use layout::*;
pub use model::*;
pub use options::*;
pub use process::*;
pub use sample::*;
pub use status::*;

/// Version of the C ABI described by this header. Raised only when a change breaks existing callers (a removed or
/// changed function or field); appending functions, fields or status codes keeps it. Compare it with
/// dinof_abi_version() at startup to catch a header/library mismatch. Version 2: versioned structs with
/// dinof_*_init, fixed-width fields (docs/c-api.md, "Migrating from ABI 1").
pub const DINOF_ABI_VERSION: u32 = 2;

/// The largest dinof_sample_options.steps accepted.
pub const DINOF_MAX_STEPS: u32 = 1000000;
/// The largest dinof_sample_options.corrector_steps accepted.
pub const DINOF_MAX_CORRECTOR_STEPS: u32 = 1000;
/// The largest dinof.json accepted, in bytes (DINOF_STATUS_MANIFEST_TOO_LARGE above).
pub const DINOF_MAX_MANIFEST_BYTES: u64 = 1048576;

// The header's literals (cbindgen cannot evaluate paths) are the library's limits.
const _: () = assert!(DINOF_MAX_STEPS as usize == crate::model::MAX_STEPS);
const _: () = assert!(DINOF_MAX_CORRECTOR_STEPS as usize == crate::model::MAX_CORRECTOR_STEPS);
const _: () = assert!(DINOF_MAX_MANIFEST_BYTES == crate::bundle::MAX_MANIFEST_BYTES);

/// The library version as "major.minor.patch"; a static string, never NULL.
#[no_mangle]
pub extern "C" fn dinof_version_string() -> *const c_char {
    const V: &CStr = match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => panic!("the package version has no interior NUL"),
    };
    guard_value(V.as_ptr(), || V.as_ptr())
}

/// Parses a decimal version component at compile time.
const fn parse_u32(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut v = 0u32;
    while i < b.len() {
        v = v * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    v
}

/// The library's major version.
#[no_mangle]
pub extern "C" fn dinof_version_major() -> u32 {
    const V: u32 = parse_u32(env!("CARGO_PKG_VERSION_MAJOR"));
    guard_value(V, || V)
}

/// The library's minor version.
#[no_mangle]
pub extern "C" fn dinof_version_minor() -> u32 {
    const V: u32 = parse_u32(env!("CARGO_PKG_VERSION_MINOR"));
    guard_value(V, || V)
}

/// The library's patch version.
#[no_mangle]
pub extern "C" fn dinof_version_patch() -> u32 {
    const V: u32 = parse_u32(env!("CARGO_PKG_VERSION_PATCH"));
    guard_value(V, || V)
}

/// The ABI version the library was built with; equals DINOF_ABI_VERSION of a matching header.
#[no_mangle]
pub extern "C" fn dinof_abi_version() -> u32 {
    guard_value(DINOF_ABI_VERSION, || DINOF_ABI_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn versions_agree_with_cargo() {
        let s = unsafe { CStr::from_ptr(dinof_version_string()) }.to_str().unwrap();
        assert_eq!(s, crate::VERSION);
        assert_eq!(format!("{}.{}.{}", dinof_version_major(), dinof_version_minor(), dinof_version_patch()), s);
        assert_eq!(dinof_abi_version(), DINOF_ABI_VERSION);
    }
}
