//! Option structs as C sees them, their initialisers, and their translation into the Rust API's options.
//!
//! Versioning (src/ffi/layout.rs): `dinof_*_init(&s, sizeof s)` fills the defaults for the caller's size; fields
//! are only ever appended, and a field outside the caller's struct_size takes its default.

use std::ffi::c_char;

use super::enums::*;
use super::layout::{init_struct, read_struct, versioned, Versioned};
use super::ptr::{in_slice, optional_path};
use super::status::{dinof_status, guard, Failure, FfiResult};
use crate::backend::{LoadOptions, OrtOptions};
use crate::model::SampleOptions;
use crate::names::Named;
use crate::sampler::SamplerChoices;

/// How to load a model. Initialise with dinof_load_options_init(&o, sizeof o); zero/NULL fields mean "default".
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct dinof_load_options {
    /// sizeof(dinof_load_options) as the caller compiled it (dinof_load_options_init sets it).
    pub struct_size: u32,
    /// DINOF_BACKEND_DEFAULT (= tract), _TRACT, _ORT or _AUTO (ONNX Runtime when its library is found, else tract).
    pub backend: dinof_backend,
    /// Worker threads of this model's pool; 0 = one per available core; at most DINOF_MAX_THREADS.
    pub threads: u32,
    /// Images per network call inside the backend; 0 = the backend's measured best.
    pub sub_batch: u32,
    /// Verify the manifest's sha256 checksums while loading: nonzero = yes (the default).
    pub verify_checksums: u8,
    /// ONNX Runtime only, nonzero = yes: run on CPU if the execution provider cannot be registered (reported in the
    /// model info as fell_back) instead of failing with DINOF_STATUS_EXECUTION_PROVIDER_UNAVAILABLE.
    pub allow_fallback: u8,
    /// ONNX Runtime only, nonzero = yes: fp16 TensorRT engines.
    pub trt_fp16: u8,
    /// ONNX Runtime only: execution provider (default CPU).
    pub execution_provider: dinof_execution_provider,
    /// ONNX Runtime only: GPU index for CUDA / TensorRT.
    pub device_id: i32,
    /// ONNX Runtime only: path of libonnxruntime (UTF-8); NULL = $ORT_DYLIB_PATH, else next to the dinof library.
    pub ort_library_path: *const c_char,
    /// ONNX Runtime only: TensorRT engine cache directory (UTF-8); NULL = none.
    pub trt_engine_cache_dir: *const c_char,
    /// ONNX Runtime only: TensorRT workspace size in bytes; 0 = ONNX Runtime's default.
    pub trt_workspace_bytes: u64,
}

/// What to generate. Initialise with dinof_sample_options_init(&o, sizeof o), then set n. For every field, 0 (or a
/// value <= 0 for the doubles, or DEFAULT for the enums) means "the bundle's default, then the runtime's".
/// Counts are uint64_t on every platform; values that do not fit the platform's size_t are refused.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct dinof_sample_options {
    /// sizeof(dinof_sample_options) as the caller compiled it (dinof_sample_options_init sets it).
    pub struct_size: u32,
    /// Nonzero: draw a random seed (reported back in dinof_sample_report.seed). The initialiser sets it; set 0 to
    /// use `seed`.
    pub random_seed: u8,
    /// Nonzero: write SDE-space values instead of pixels in [0, 1] (float output only; refused for RGBA8).
    pub raw: u8,
    /// Number of images (>= 1). The initialiser sets 1.
    pub n: u64,
    /// The seed when random_seed is 0. Image k uses noise stream (seed, first_index + k): the same seed gives the
    /// same images whatever the batch size, thread count or call order.
    pub seed: u64,
    /// Global index of the first image, to split one large request into several calls with identical results
    /// (first_index + n - 1 must fit in 64 bits).
    pub first_index: u64,
    /// DINOF_START_*: flow start (DiNof), Gaussian start (the fitted Gaussian at T_m) or prior start (plain
    /// diffusion).
    pub start: dinof_start,
    /// Reverse steps from the start time; at most DINOF_MAX_STEPS. 0 = default: the bundle's steps for its own
    /// sampler, else the solver's measured default (dpmpp_2m 20, dpmpp_2m_sde 35, edm_heun 20, heun 45, euler 135),
    /// for the predictor/corrector sampler int(N * t_start).
    pub steps: u32,
    /// Which flow (or Gaussian) to start from, by its T_m (see dinof_model_info.t_m / gaussian_t_m); <= 0 =
    /// default. Flow and Gaussian starts only.
    pub t_m: f64,
    /// Temperature tau of the flow and Gaussian starts, z ~ N(0, tau^2 I); <= 0 = default (1).
    pub temperature: f64,
    /// DINOF_METHOD_*.
    pub method: dinof_method,
    /// DINOF_PREDICTOR_*.
    pub predictor: dinof_predictor,
    /// DINOF_CORRECTOR_*.
    pub corrector: dinof_corrector,
    /// DINOF_SOLVER_*.
    pub solver: dinof_solver,
    /// Langevin corrector signal-to-noise ratio; <= 0 = default.
    pub snr: f64,
    /// Corrector steps per predictor step; 0 = default (1); at most DINOF_MAX_CORRECTOR_STEPS.
    pub corrector_steps: u32,
    /// DINOF_LANGEVIN_NORM_*.
    pub langevin_norm: dinof_langevin_norm,
    /// DINOF_DENOISE_*.
    pub denoise: dinof_denoise,
    /// Class labels for a class-conditional model: label_count = 1 (one class for all) or n (one per image);
    /// required there (NULL / 0 is an error that says so). Must be NULL / 0 for an unconditional model.
    /// 8-byte aligned. Read during the call only (dinof_job_start copies them).
    pub labels: *const i64,
    pub label_count: u64,
    /// Images stepped together (memory: about 6 floats per value); 0 = min(n, 256); values above n mean n. Never
    /// changes the images. Memory for it is allocated before sampling starts; too much gives
    /// DINOF_STATUS_OUT_OF_MEMORY.
    pub batch_size: u64,
    /// DINOF_SCHEDULE_*: the time grid of the fixed-step solvers (euler, heun, dpmpp_2m, dpmpp_2m_sde, edm_heun).
    /// Appended in ABI 2 with the few-step solvers: an older struct without it gets the default.
    pub schedule: dinof_schedule,
    /// rk45's relative and absolute tolerances; <= 0 = default (1e-5). rtol must be at least 1e-7 (f32 state).
    pub rtol: f64,
    pub atol: f64,
    /// edm_heun's S_churn; <= 0 = default (0: deterministic).
    pub churn: f64,
    /// Classifier-free guidance scale w: the score is (1 + w) s(x|y) - w s(x|null), two score evaluations per step
    /// (both counted in the report). 0 = the bundle's default (none unless its manifest sets one); > 0 = w, only
    /// for a model with dinof_model_info.has_guidance; < 0 = no guidance even when the bundle has a default. NaN is
    /// refused. Appended in ABI 2 with class names: an older struct without it gets the default.
    pub guidance: f64,
}

versioned!(dinof_load_options { verify_checksums: 1 });
versioned!(dinof_sample_options { random_seed: 1, n: 1 });

/// Fills *opts with the default load options (tract on all cores, checksums verified) for a struct of `struct_size`
/// bytes (pass sizeof *opts) and sets opts->struct_size. Sizes of older headers are accepted (only their fields are
/// written); a size larger than this library's struct fails with DINOF_STATUS_STRUCT_SIZE. (ABI 2)
#[no_mangle]
pub unsafe extern "C" fn dinof_load_options_init(opts: *mut dinof_load_options, struct_size: u32) -> dinof_status {
    guard(|| init_struct(opts, struct_size, "opts"))
}

/// Fills *opts with the default sample options (one image, random seed, everything else the bundle's defaults) for
/// a struct of `struct_size` bytes (pass sizeof *opts) and sets opts->struct_size. As dinof_load_options_init. (ABI 2)
#[no_mangle]
pub unsafe extern "C" fn dinof_sample_options_init(opts: *mut dinof_sample_options, struct_size: u32) -> dinof_status {
    guard(|| init_struct(opts, struct_size, "opts"))
}

/// The largest dinof_load_options.threads accepted: more than any machine has cores, so anything above is a mistake.
pub const DINOF_MAX_THREADS: u32 = 4096;

/// Reads the caller's load options (NULL = defaults).
///
/// # Safety
/// `p` must be NULL or point to a readable `dinof_load_options` of at least its `struct_size`.
pub unsafe fn load_options(p: *const dinof_load_options) -> FfiResult<LoadOptions> {
    let o = if p.is_null() { dinof_load_options::defaults() } else { read_struct(p, "opts")? };
    let backend = from_c(o.backend, "dinof_load_options.backend")?;
    let ep = from_c(o.execution_provider, "dinof_load_options.execution_provider")?;
    if o.threads > DINOF_MAX_THREADS {
        // Asking a pool for billions of threads would exhaust the process long before failing.
        return Err(Failure::invalid(format!(
            "dinof_load_options.threads = {} exceeds {DINOF_MAX_THREADS}",
            o.threads
        )));
    }
    Ok(LoadOptions {
        backend: backend.unwrap_or_default(),
        threads: o.threads as usize,
        sub_batch: o.sub_batch as usize,
        skip_checksums: o.verify_checksums == 0,
        ort: OrtOptions {
            library_path: optional_path(o.ort_library_path, "dinof_load_options.ort_library_path")?,
            execution_provider: ep.unwrap_or_default(),
            device_id: o.device_id,
            allow_fallback: o.allow_fallback != 0,
            trt_fp16: o.trt_fp16 != 0,
            trt_engine_cache_dir: optional_path(o.trt_engine_cache_dir, "dinof_load_options.trt_engine_cache_dir")?,
            trt_workspace_bytes: o.trt_workspace_bytes,
            // Not exposed in the C ABI yet: the reproducible default.
            intra_op_threads: 0,
        },
    })
}

/// How a C options field encodes a sampler setting, "not chosen" included.
trait FromC<C>: Sized {
    fn from_c(v: C, field: &str) -> FfiResult<Option<Self>>;
}

/// DINOF_* enums: 0 = not chosen.
impl<T: Named> FromC<i32> for T {
    fn from_c(v: i32, field: &str) -> FfiResult<Option<T>> {
        from_c(v, field)
    }
}

/// Doubles: <= 0 = not chosen; NaN is refused (it is never a deliberate choice).
impl FromC<f64> for f64 {
    fn from_c(v: f64, field: &str) -> FfiResult<Option<f64>> {
        if v.is_nan() {
            Err(Failure::invalid(format!("{field} is NaN (use 0 for the default)")))
        } else {
            Ok((v > 0.0).then_some(v))
        }
    }
}

/// Counts: 0 = not chosen.
impl FromC<u32> for usize {
    fn from_c(v: u32, _: &str) -> FfiResult<Option<usize>> {
        Ok((v > 0).then_some(v as usize))
    }
}

/// The sampler settings of the C options: each `SamplerChoices` setting is the field of the same name, read
/// through its type's encoding (`FromC`).
macro_rules! choices_from_c {
    ($($(#[doc = $doc:expr])* $field:ident: $ty:ty,)+) => {
        fn choices_from_c(o: &dinof_sample_options) -> FfiResult<SamplerChoices> {
            Ok(SamplerChoices {
                $($field: <$ty as FromC<_>>::from_c(o.$field, concat!("dinof_sample_options.", stringify!($field)))?,)+
            })
        }
    };
}
crate::sampler::choices::sampler_settings!(choices_from_c);

/// A uint64_t count as this platform's usize.
fn count(v: u64, name: &str) -> FfiResult<usize> {
    usize::try_from(v).map_err(|_| {
        Failure::invalid(format!("dinof_sample_options.{name} = {v} does not fit in this platform's size_t"))
    })
}

/// Reads and validates the caller's sample options (required), copying the labels.
///
/// # Safety
/// `p` must be NULL or point to a readable `dinof_sample_options` of at least its `struct_size`, whose `labels`
/// (when non-NULL) points to `label_count` readable values.
pub unsafe fn sample_options(p: *const dinof_sample_options) -> FfiResult<SampleOptions> {
    let o = read_struct(p, "opts (dinof_sample_options)")?;
    let n = count(o.n, "n")?;
    if n == 0 {
        return Err(Failure::invalid("dinof_sample_options.n is 0: ask for at least one image"));
    }
    if o.first_index.checked_add(o.n - 1).is_none() {
        return Err(Failure::invalid(format!(
            "first_index {} + n {n} runs past the last image index (2^64 - 1)",
            o.first_index
        )));
    }
    let label_count = count(o.label_count, "label_count")?;
    // The values are checked with the model (`Model::labels`); the count before reading them.
    let labels = match (o.labels.is_null(), label_count) {
        (_, 0) => None,
        (true, _) => {
            return Err(Failure::null(&format!("dinof_sample_options.labels (with label_count {label_count})")))
        }
        (false, c) => {
            crate::model::check_label_count(c, n).map_err(|e| Failure::from(crate::Error::from(e)))?;
            let given =
                in_slice(o.labels, o.label_count, "dinof_sample_options.labels", "dinof_sample_options.label_count")?;
            let mut v = crate::error::try_capacity(given.len(), "the class labels").map_err(Failure::from)?;
            v.extend_from_slice(given);
            Some(v)
        }
    };
    let mut choices = choices_from_c(&o)?;
    if o.guidance < 0.0 {
        // < 0 switches guidance off explicitly (0 already means "the bundle's default").
        choices.guidance = Some(0.0);
    }
    let options = SampleOptions {
        n,
        seed: if o.random_seed != 0 { None } else { Some(o.seed) },
        first_index: o.first_index,
        labels,
        // Above n means n; saturating keeps a 32-bit platform's huge values meaning "all".
        batch_size: usize::try_from(o.batch_size).unwrap_or(usize::MAX),
        raw: o.raw != 0,
        ..Default::default()
    };
    Ok(options.with_choices(choices))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::status::*;
    use std::ptr;

    fn init() -> dinof_sample_options {
        let mut o = std::mem::MaybeUninit::<dinof_sample_options>::zeroed();
        assert_eq!(
            unsafe { dinof_sample_options_init(o.as_mut_ptr(), std::mem::size_of::<dinof_sample_options>() as u32) },
            DINOF_STATUS_OK
        );
        unsafe { o.assume_init() }
    }

    #[test]
    fn defaults_translate_to_the_rust_defaults() {
        let d = init();
        let o = unsafe { sample_options(&d) }.unwrap();
        assert_eq!(o, SampleOptions { n: 1, ..Default::default() });
        let mut l = std::mem::MaybeUninit::<dinof_load_options>::zeroed();
        assert_eq!(
            unsafe { dinof_load_options_init(l.as_mut_ptr(), std::mem::size_of::<dinof_load_options>() as u32) },
            DINOF_STATUS_OK
        );
        assert_eq!(unsafe { load_options(l.as_ptr()) }.unwrap(), LoadOptions::default());
        assert_eq!(unsafe { load_options(ptr::null()) }.unwrap(), LoadOptions::default());
    }

    #[test]
    fn older_sizes_read_defaults_for_the_missing_tail() {
        let mut d = init();
        d.batch_size = 7;
        d.label_count = 0;
        d.struct_size = std::mem::offset_of!(dinof_sample_options, batch_size) as u32;
        assert_eq!(unsafe { sample_options(&d) }.unwrap().batch_size, 0, "batch_size lies outside the older struct");
        d.struct_size = std::mem::size_of::<dinof_sample_options>() as u32;
        assert_eq!(unsafe { sample_options(&d) }.unwrap().batch_size, 7);
    }

    #[test]
    fn bad_values_are_refused_without_ub() {
        let mut d = init();
        d.struct_size = 4;
        assert_eq!(unsafe { sample_options(&d) }.unwrap_err().status, DINOF_STATUS_STRUCT_SIZE);
        d.struct_size = std::mem::size_of::<dinof_sample_options>() as u32 + 8;
        assert_eq!(unsafe { sample_options(&d) }.unwrap_err().status, DINOF_STATUS_STRUCT_SIZE);
        d.struct_size = std::mem::offset_of!(dinof_sample_options, n) as u32 + 4; // inside n
        assert_eq!(unsafe { sample_options(&d) }.unwrap_err().status, DINOF_STATUS_STRUCT_SIZE);
        let mut d = init();
        d.method = 9;
        let e = unsafe { sample_options(&d) }.unwrap_err();
        assert_eq!(e.status, DINOF_STATUS_BAD_ENUM_VALUE);
        assert!(e.message.contains("method = 9"), "{}", e.message);
        let mut d = init();
        d.label_count = 3;
        assert_eq!(unsafe { sample_options(&d) }.unwrap_err().status, DINOF_STATUS_NULL_POINTER);
        let mut d = init();
        d.t_m = f64::NAN;
        assert_eq!(unsafe { sample_options(&d) }.unwrap_err().status, DINOF_STATUS_INVALID_ARGUMENT);
        assert_eq!(unsafe { sample_options(ptr::null()) }.unwrap_err().status, DINOF_STATUS_NULL_POINTER);
    }
}
