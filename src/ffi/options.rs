//! Option structs as C sees them, their default initialisers, and their translation into the Rust API's options.
//!
//! Versioning: every struct starts with `uint32_t struct_size`. Fields are only ever appended; a caller compiled
//! against an older header passes a smaller size. Today's structs are version 1, so anything smaller is refused.

use std::ffi::{c_char, c_int};
use std::ptr;

use super::enums::*;
use super::ptr::{check_struct, field, optional_path};
use super::status::{guard_value, Failure, FfiResult};
use crate::backend::{LoadOptions, OrtOptions};
use crate::model::SampleOptions;

/// How to load a model. Start from `dinof_load_options_default()`; zero/NULL fields mean "default".
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct dinof_load_options {
    /// sizeof(dinof_load_options) as the caller compiled it.
    pub struct_size: u32,
    /// DINOF_BACKEND_DEFAULT (= tract), _TRACT or _ORT.
    pub backend: dinof_backend,
    /// Worker threads of this model's pool; 0 = one per available core; at most DINOF_MAX_THREADS.
    pub threads: u32,
    /// Images per network call inside the backend; 0 = the backend's measured best.
    pub sub_batch: u32,
    /// Verify the manifest's sha256 checksums while loading (default true).
    pub verify_checksums: bool,
    /// ONNX Runtime only: execution provider (default CPU).
    pub execution_provider: dinof_execution_provider,
    /// ONNX Runtime only: GPU index for CUDA / TensorRT.
    pub device_id: i32,
    /// ONNX Runtime only: run on CPU if the execution provider cannot be registered (reported in the model info as
    /// fell_back) instead of failing with DINOF_STATUS_EXECUTION_PROVIDER_UNAVAILABLE.
    pub allow_fallback: bool,
    /// ONNX Runtime only: fp16 TensorRT engines.
    pub trt_fp16: bool,
    /// ONNX Runtime only: path of libonnxruntime; NULL = $ORT_DYLIB_PATH, else next to the dinof library.
    pub ort_library_path: *const c_char,
    /// ONNX Runtime only: TensorRT engine cache directory (engines take long to build; this keeps them); NULL = none.
    pub trt_engine_cache_dir: *const c_char,
    /// ONNX Runtime only: TensorRT workspace size in bytes; 0 = ONNX Runtime's default.
    pub trt_workspace_bytes: u64,
}

/// What to generate. Start from `dinof_sample_options_default()` and set `n`. For every field, 0 (or a value <= 0 for
/// the doubles, or DEFAULT for the enums) means "the bundle's default, then the runtime's".
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct dinof_sample_options {
    /// sizeof(dinof_sample_options) as the caller compiled it.
    pub struct_size: u32,
    /// Number of images (>= 1).
    pub n: usize,
    /// The seed when random_seed is false. Image k uses noise stream (seed, first_index + k): the same seed gives the
    /// same images whatever the batch size, thread count or call order.
    pub seed: u64,
    /// Draw a random seed (reported back in dinof_sample_report.seed). The default initialiser sets it.
    pub random_seed: bool,
    /// Global index of the first image, to split one large request into several calls with identical results
    /// (first_index + n - 1 must fit in 64 bits).
    pub first_index: u64,
    /// Flow start (DiNof) or prior start (plain diffusion).
    pub start: dinof_start,
    /// Which flow to start from, by its T_m (see dinof_model_info.t_m); <= 0 = default. Flow start only.
    pub t_m: f64,
    /// Temperature tau of the flow start, z ~ N(0, tau^2 I); <= 0 = default (1).
    pub temperature: f64,
    /// Reverse steps from the start time; 0 = default (int(N * t_start)).
    pub steps: u32,
    pub method: dinof_method,
    pub predictor: dinof_predictor,
    pub corrector: dinof_corrector,
    pub solver: dinof_solver,
    /// Langevin corrector signal-to-noise ratio; <= 0 = default.
    pub snr: f64,
    /// Corrector steps per predictor step; 0 = default (1).
    pub corrector_steps: u32,
    pub langevin_norm: dinof_langevin_norm,
    pub denoise: dinof_denoise,
    /// Class labels for a class-conditional model: label_count = 1 (one class for all) or n (one per image); NULL with
    /// 0 = image k gets class (first_index + k) mod classes. Must be NULL / 0 for an unconditional model. Read during
    /// the call only (dinof_job_start copies them).
    pub labels: *const i64,
    pub label_count: usize,
    /// Images stepped together (memory: about 6 floats per value); 0 = min(n, 256). Never changes the images.
    pub batch_size: usize,
    /// Write SDE-space values instead of pixels in [0, 1] (float output only; refused for RGBA8).
    pub raw: bool,
}

/// The default load options: tract on all cores, checksums verified.
#[no_mangle]
pub extern "C" fn dinof_load_options_default() -> dinof_load_options {
    let d = dinof_load_options {
        struct_size: std::mem::size_of::<dinof_load_options>() as u32,
        backend: dinof_backend::Default,
        threads: 0,
        sub_batch: 0,
        verify_checksums: true,
        execution_provider: dinof_execution_provider::Default,
        device_id: 0,
        allow_fallback: false,
        trt_fp16: false,
        ort_library_path: ptr::null(),
        trt_engine_cache_dir: ptr::null(),
        trt_workspace_bytes: 0,
    };
    guard_value(d, || d)
}

/// The default sample options: one image, random seed, everything else the bundle's defaults.
#[no_mangle]
pub extern "C" fn dinof_sample_options_default() -> dinof_sample_options {
    let d = dinof_sample_options {
        struct_size: std::mem::size_of::<dinof_sample_options>() as u32,
        n: 1,
        seed: 0,
        random_seed: true,
        first_index: 0,
        start: dinof_start::Default,
        t_m: 0.0,
        temperature: 0.0,
        steps: 0,
        method: dinof_method::Default,
        predictor: dinof_predictor::Default,
        corrector: dinof_corrector::Default,
        solver: dinof_solver::Default,
        snr: 0.0,
        corrector_steps: 0,
        langevin_norm: dinof_langevin_norm::Default,
        denoise: dinof_denoise::Default,
        labels: ptr::null(),
        label_count: 0,
        batch_size: 0,
        raw: false,
    };
    guard_value(d, || d)
}

// Enum fields are read as c_int: that is only right while the C enums are int-sized.
const _: () = assert!(std::mem::size_of::<dinof_start>() == std::mem::size_of::<c_int>());
const _: () = assert!(std::mem::size_of::<bool>() == 1);

/// The largest dinof_load_options.threads accepted: more than any machine has cores, so anything above is a mistake.
pub const DINOF_MAX_THREADS: u32 = 4096;

/// Reads the caller's load options (NULL = defaults).
///
/// # Safety
/// `p` must be NULL or point to a readable `dinof_load_options` of at least its `struct_size`.
pub unsafe fn load_options(p: *const dinof_load_options) -> FfiResult<LoadOptions> {
    if p.is_null() {
        return Ok(LoadOptions::default());
    }
    check_struct(p, "opts (dinof_load_options)")?;
    let backend = dinof_backend::from_raw(field!(p, backend as c_int), "dinof_load_options.backend")?;
    let ep = dinof_execution_provider::from_raw(field!(p, execution_provider as c_int), "dinof_load_options.execution_provider")?;
    let threads: u32 = field!(p, threads);
    if threads > DINOF_MAX_THREADS {
        // Asking a pool for billions of threads would exhaust the process long before failing.
        return Err(Failure::invalid(format!("dinof_load_options.threads = {threads} exceeds {DINOF_MAX_THREADS}")));
    }
    Ok(LoadOptions {
        backend: backend.unwrap_or_default(),
        threads: threads as usize,
        sub_batch: field!(p, sub_batch) as usize,
        skip_checksums: field!(p, verify_checksums as u8) == 0,
        ort: OrtOptions {
            library_path: optional_path(field!(p, ort_library_path), "dinof_load_options.ort_library_path")?,
            execution_provider: ep.unwrap_or_default(),
            device_id: field!(p, device_id),
            allow_fallback: field!(p, allow_fallback as u8) != 0,
            trt_fp16: field!(p, trt_fp16 as u8) != 0,
            trt_engine_cache_dir: optional_path(field!(p, trt_engine_cache_dir), "dinof_load_options.trt_engine_cache_dir")?,
            trt_workspace_bytes: field!(p, trt_workspace_bytes),
            // Not exposed in the C ABI yet: the reproducible default.
            intra_op_threads: 0,
        },
    })
}

/// A double option: <= 0 = default; NaN is refused (it is never a deliberate choice).
fn positive_or_default(v: f64, name: &str) -> FfiResult<Option<f64>> {
    if v.is_nan() {
        Err(Failure::invalid(format!("dinof_sample_options.{name} is NaN (use 0 for the default)")))
    } else if v <= 0.0 {
        Ok(None)
    } else {
        Ok(Some(v))
    }
}

fn nonzero(v: u32) -> Option<usize> {
    (v > 0).then_some(v as usize)
}

/// Reads and validates the caller's sample options (required), copying the labels.
///
/// # Safety
/// `p` must be NULL or point to a readable `dinof_sample_options` of at least its `struct_size`, whose `labels`
/// (when non-NULL) points to `label_count` readable values.
pub unsafe fn sample_options(p: *const dinof_sample_options) -> FfiResult<SampleOptions> {
    check_struct(p, "opts (dinof_sample_options)")?;
    let n: usize = field!(p, n);
    if n == 0 {
        return Err(Failure::invalid("dinof_sample_options.n is 0: ask for at least one image"));
    }
    let first_index: u64 = field!(p, first_index);
    if first_index.checked_add(n as u64 - 1).is_none() {
        return Err(Failure::invalid(format!("first_index {first_index} + n {n} runs past the last image index (2^64 - 1)")));
    }
    let labels: *const i64 = field!(p, labels);
    let label_count: usize = field!(p, label_count);
    let labels = match (labels.is_null(), label_count) {
        (_, 0) => None,
        (true, _) => return Err(Failure::null(&format!("dinof_sample_options.labels (with label_count {label_count})"))),
        (false, c) if c != 1 && c != n => {
            return Err(Failure::invalid(format!("{c} labels for {n} images (give one per image, or one for all)")))
        }
        (false, c) => Some(std::slice::from_raw_parts(labels, c).to_vec()),
    };
    // Enum fields are fetched as ints and validated, never read as Rust enums.
    macro_rules! choice {
        ($ty:ident, $f:ident) => {
            $ty::from_raw(field!(p, $f as c_int), concat!("dinof_sample_options.", stringify!($f)))?
        };
    }
    let start = choice!(dinof_start, start);
    let method = choice!(dinof_method, method);
    let predictor = choice!(dinof_predictor, predictor);
    let corrector = choice!(dinof_corrector, corrector);
    let solver = choice!(dinof_solver, solver);
    let langevin_norm = choice!(dinof_langevin_norm, langevin_norm);
    let denoise = choice!(dinof_denoise, denoise);
    Ok(SampleOptions {
        n,
        seed: if field!(p, random_seed as u8) != 0 { None } else { Some(field!(p, seed)) },
        first_index,
        start,
        t_m: positive_or_default(field!(p, t_m), "t_m")?,
        temperature: positive_or_default(field!(p, temperature), "temperature")?,
        method,
        predictor,
        corrector,
        snr: positive_or_default(field!(p, snr), "snr")?,
        corrector_steps: nonzero(field!(p, corrector_steps)),
        langevin_norm,
        solver,
        // Not settable from C yet: the new solvers' options come with the C ABI's next version (issue 10).
        schedule: None,
        rtol: None,
        atol: None,
        churn: None,
        steps: nonzero(field!(p, steps)),
        denoise,
        labels,
        batch_size: field!(p, batch_size),
        raw: field!(p, raw as u8) != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::status::dinof_status;

    #[test]
    fn defaults_translate_to_the_rust_defaults() {
        let d = dinof_sample_options_default();
        let o = unsafe { sample_options(&d) }.unwrap();
        assert_eq!(o, SampleOptions { n: 1, ..Default::default() });
        let l = dinof_load_options_default();
        assert_eq!(unsafe { load_options(&l) }.unwrap(), LoadOptions::default());
        assert_eq!(unsafe { load_options(ptr::null()) }.unwrap(), LoadOptions::default());
    }

    #[test]
    fn bad_values_are_refused_without_ub() {
        let mut d = dinof_sample_options_default();
        d.struct_size = 8;
        assert_eq!(unsafe { sample_options(&d) }.unwrap_err().status, dinof_status::StructSize);
        // An out-of-range enum, written the way a C caller could; MaybeUninit because Rust itself must never hold it.
        let mut raw = std::mem::MaybeUninit::new(dinof_sample_options_default());
        unsafe { ptr::addr_of_mut!((*raw.as_mut_ptr()).method).cast::<c_int>().write(9) };
        let e = unsafe { sample_options(raw.as_ptr()) }.unwrap_err();
        assert_eq!(e.status, dinof_status::BadEnumValue);
        assert!(e.message.contains("method = 9"), "{}", e.message);
        let mut d = dinof_sample_options_default();
        d.label_count = 3;
        assert_eq!(unsafe { sample_options(&d) }.unwrap_err().status, dinof_status::NullPointer);
        let mut d = dinof_sample_options_default();
        d.t_m = f64::NAN;
        assert_eq!(unsafe { sample_options(&d) }.unwrap_err().status, dinof_status::InvalidArgument);
        assert_eq!(unsafe { sample_options(ptr::null()) }.unwrap_err().status, dinof_status::NullPointer);
    }
}
