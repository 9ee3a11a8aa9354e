//! Versioned structs (ABI 2). Every struct the caller and the library exchange begins with `uint32_t struct_size`,
//! the size of the struct as the caller's header declares it. Fields are only ever appended, so an older header's
//! struct is a prefix of ours: the library reads (and writes) only the fields inside the caller's size, and fields
//! beyond it take their defaults (input) or are left alone (output). A size larger than ours comes from a newer
//! header than this library and is refused, as is a size that cuts through a field. Every field is a fixed-width
//! integer, a double or a pointer (no C enum, no bool), so any byte pattern is a valid value and a struct can be
//! copied as bytes.
//!
//! `dinof_struct_layout` reports each field's offset and size, so a binding (C# `StructLayout`, Unreal) can verify
//! its mirror of a struct at load time.

use std::ffi::{c_char, CStr};

use super::status::{dinof_status, guard, Failure, FfiResult, DINOF_STATUS_STRUCT_SIZE};

/// The smallest struct_size accepted (the size field plus one 4-byte field); smaller sizes are
/// DINOF_STATUS_STRUCT_SIZE.
pub const DINOF_MIN_STRUCT_SIZE: u32 = 8;

pub(crate) struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub size: usize,
}

/// A C struct's fields, in order, with the compiler's offsets and sizes. Implemented for every struct of the
/// header by code build.rs generates from it (`c_struct_fields!` below), so a new field is listed by declaring it.
pub(crate) trait CStruct {
    fn fields() -> Vec<Field>;
}

/// A C struct of plain values that starts with `struct_size: u32`.
///
/// # Safety
/// Every field must accept any byte pattern (integers, floats, raw pointers) and the first field must be a `u32`.
pub(crate) unsafe trait Versioned: Copy + CStruct {
    /// The C name, for messages.
    const NAME: &'static str;
    /// The defaults (all zero unless said otherwise), struct_size = this library's size.
    fn defaults() -> Self;
}

/// `Versioned` for a struct of the header: every field of those is an integer, a double or a raw pointer (no C enum,
/// no bool), so all-zero bytes are a value, which means "default"; `field: value` pairs give the exceptions.
macro_rules! versioned {
    ($t:ident { $($field:ident: $value:expr),* $(,)? }) => {
        // SAFETY: as said above: any byte pattern is a value of every field, and struct_size (u32) comes first.
        unsafe impl $crate::ffi::layout::Versioned for $t {
            const NAME: &'static str = stringify!($t);
            fn defaults() -> Self {
                // SAFETY: zero is a valid value of every field (see above).
                let mut d: Self = unsafe { std::mem::zeroed() };
                d.struct_size = std::mem::size_of::<Self>() as u32;
                $(d.$field = $value;)*
                d
            }
        }
    };
}
pub(crate) use versioned;

pub(crate) fn size_of_pointee<F>(_: *const F) -> usize {
    std::mem::size_of::<F>()
}

/// The field table of a struct, from the compiler's own offsets.
macro_rules! fields {
    ($t:ty: $($f:ident),+ $(,)?) => {
        vec![$($crate::ffi::layout::Field {
            name: stringify!($f),
            offset: std::mem::offset_of!($t, $f),
            size: {
                let u = std::mem::MaybeUninit::<$t>::uninit();
                // SAFETY: addr_of! computes a field address without reading the (uninitialised) struct.
                $crate::ffi::layout::size_of_pointee(unsafe { std::ptr::addr_of!((*u.as_ptr()).$f) })
            },
        }),+]
    };
}

macro_rules! c_struct_fields {
    ($t:ident: $($f:ident),+) => {
        impl CStruct for super::$t {
            fn fields() -> Vec<Field> {
                fields!(super::$t: $($f),+)
            }
        }
    };
}
// One `c_struct_fields!(name: field, ...)` per struct of include/dinof.h, written by build.rs.
include!(concat!(env!("OUT_DIR"), "/ffi_fields.rs"));

/// Checks a caller's struct_size for `T`: at least DINOF_MIN_STRUCT_SIZE, at most ours, and on a field boundary.
pub(crate) fn check_size<T: Versioned>(size: u32, what: &str) -> FfiResult<usize> {
    let size = size as usize;
    let full = std::mem::size_of::<T>();
    let fail = |msg: String| {
        Err(Failure::new(DINOF_STATUS_STRUCT_SIZE, format!("{what} ({}): struct_size is {size}: {msg}", T::NAME)))
    };
    if size > full {
        return fail(format!(
            "larger than this library's {full} bytes, so the caller's header is newer than the library (compare \
                DINOF_ABI_VERSION and dinof_version_string())"
        ));
    }
    if size < DINOF_MIN_STRUCT_SIZE as usize {
        return fail(format!(
            "at least {DINOF_MIN_STRUCT_SIZE} are needed: set it with {}_init or to sizeof({})",
            T::NAME,
            T::NAME
        ));
    }
    if let Some(f) = T::fields().iter().find(|f| f.offset < size && size < f.offset + f.size) {
        return fail(format!(
            "it ends inside field '{}' (bytes {}..{}), so it is not the size of any version of the struct",
            f.name,
            f.offset,
            f.offset + f.size
        ));
    }
    Ok(size)
}

/// Reads the caller's struct: its first struct_size bytes over our defaults.
///
/// # Safety
/// `p` must be NULL or readable for its struct_size bytes (at least 4).
pub(crate) unsafe fn read_struct<T: Versioned>(p: *const T, what: &str) -> FfiResult<T> {
    if p.is_null() {
        return Err(Failure::null(what));
    }
    let size = check_size::<T>(p.cast::<u32>().read_unaligned(), what)?;
    let mut v = T::defaults();
    std::ptr::copy_nonoverlapping(p.cast::<u8>(), std::ptr::addr_of_mut!(v).cast::<u8>(), size);
    Ok(v)
}

/// Checks an output struct pointer and returns the caller's struct_size.
///
/// # Safety
/// As `read_struct`.
pub(crate) unsafe fn out_size<T: Versioned>(p: *mut T, what: &str) -> FfiResult<usize> {
    if p.is_null() {
        return Err(Failure::null(what));
    }
    check_size::<T>(p.cast::<u32>().read_unaligned(), what)
}

/// Writes `value` into the first `size` bytes of the caller's struct, keeping the caller's struct_size.
///
/// # Safety
/// `p` must be writable for `size` bytes, `size` from `out_size` (or `check_size`).
pub(crate) unsafe fn write_struct<T: Versioned>(p: *mut T, size: usize, value: T) {
    const HEAD: usize = std::mem::size_of::<u32>();
    std::ptr::copy_nonoverlapping(
        std::ptr::addr_of!(value).cast::<u8>().add(HEAD),
        p.cast::<u8>().add(HEAD),
        size - HEAD,
    );
}

/// `dinof_*_init`: the defaults for the caller's size, struct_size set to it.
///
/// # Safety
/// `p` must be NULL or writable for `size` bytes.
pub(crate) unsafe fn init_struct<T: Versioned>(p: *mut T, size: u32, what: &str) -> FfiResult<()> {
    if p.is_null() {
        return Err(Failure::null(what));
    }
    let size = check_size::<T>(size, what)?;
    p.cast::<u32>().write_unaligned(size as u32);
    write_struct(p, size, T::defaults());
    Ok(())
}

/// Identifies a struct for dinof_struct_layout (DINOF_STRUCT_*).
pub type dinof_struct_id = i32;
pub const DINOF_STRUCT_LOAD_OPTIONS: dinof_struct_id = 1;
pub const DINOF_STRUCT_SAMPLE_OPTIONS: dinof_struct_id = 2;
pub const DINOF_STRUCT_MODEL_INFO: dinof_struct_id = 3;
pub const DINOF_STRUCT_SAMPLE_REPORT: dinof_struct_id = 4;
pub const DINOF_STRUCT_PROGRESS: dinof_struct_id = 5;
pub const DINOF_STRUCT_BLOB: dinof_struct_id = 6;

fn table_of<T: CStruct>() -> (usize, Vec<Field>) {
    (std::mem::size_of::<T>(), T::fields())
}

/// The layout of one of the library's structs, for bindings to verify their own declarations at load: with `field`
/// NULL, *offset = 0 and *size = the struct's size in this library; with a field name ("n", "labels", ...), that
/// field's offset and size. Both outputs may be NULL. Unknown struct or field: DINOF_STATUS_INVALID_ARGUMENT. (ABI 2)
#[no_mangle]
pub unsafe extern "C" fn dinof_struct_layout(
    id: dinof_struct_id,
    field: *const c_char,
    offset: *mut u32,
    size: *mut u32,
) -> dinof_status {
    guard(|| {
        use super::{
            dinof_blob, dinof_load_options, dinof_model_info, dinof_progress, dinof_sample_options, dinof_sample_report,
        };
        let (full, fields) = match id {
            DINOF_STRUCT_LOAD_OPTIONS => table_of::<dinof_load_options>(),
            DINOF_STRUCT_SAMPLE_OPTIONS => table_of::<dinof_sample_options>(),
            DINOF_STRUCT_MODEL_INFO => table_of::<dinof_model_info>(),
            DINOF_STRUCT_SAMPLE_REPORT => table_of::<dinof_sample_report>(),
            DINOF_STRUCT_PROGRESS => table_of::<dinof_progress>(),
            DINOF_STRUCT_BLOB => table_of::<dinof_blob>(),
            _ => return Err(Failure::invalid(format!("{id} is not a DINOF_STRUCT_* value"))),
        };
        let (o, s) = if field.is_null() {
            (0, full)
        } else {
            let name = CStr::from_ptr(field).to_str().unwrap_or("");
            let f = fields
                .iter()
                .find(|f| f.name == name)
                .ok_or_else(|| Failure::invalid(format!("struct {id} has no field '{name}'")))?;
            (f.offset, f.size)
        };
        if !offset.is_null() {
            offset.write_unaligned(o as u32);
        }
        if !size.is_null() {
            size.write_unaligned(s as u32);
        }
        Ok(())
    })
}
