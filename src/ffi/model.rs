//! The model handle: loading, freeing and describing a model.

use std::ffi::{c_char, CString};
use std::ptr;
use std::sync::Arc;

use super::enums::{dinof_sde, dinof_start};
use super::options::{load_options, dinof_load_options};
use super::ptr::{check_struct, path_arg, write_struct};
use super::status::{dinof_status, guard, Failure, FfiResult};
use crate::model::{Model, SampleOptions};

/// A loaded model: immutable, shareable by any number of threads. Jobs hold their own reference, so a model freed
/// while a job runs stays alive until the job is freed.
pub struct dinof_model {
    pub(crate) model: Arc<Model>,
    /// The strings and arrays `dinof_model_info` points into; they live as long as the handle.
    info: InfoStore,
}

struct InfoStore {
    name: CString,
    backend: CString,
    providers: Vec<CString>,
    provider_ptrs: Vec<*const c_char>,
    t_ms: Vec<f64>,
}

/// Static facts about a loaded model. The caller sets struct_size; pointers stay valid until dinof_model_free.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct dinof_model_info {
    /// sizeof(dinof_model_info) as the caller compiled it.
    pub struct_size: u32,
    /// The bundle's name (UTF-8).
    pub name: *const c_char,
    pub channels: u32,
    pub height: u32,
    pub width: u32,
    /// Floats per image (channels * height * width): dinof_sample's out_len is n times this.
    pub image_len: usize,
    /// Bytes per image as RGBA8 (height * width * 4): dinof_sample_rgba8's out_len is n times this. 0 when the
    /// channel count (not 1, 3 or 4) has no RGBA8 packing.
    pub rgba8_len: usize,
    /// Number of classes; 0 = unconditional.
    pub classes: u32,
    pub sde: dinof_sde,
    /// T_m of each flow, ascending; t_m_count = 0 for a plain diffusion bundle.
    pub t_m: *const f64,
    pub t_m_count: usize,
    /// Whether start = DINOF_START_FLOW / DINOF_START_PRIOR is possible.
    pub has_flow_start: bool,
    pub has_prior_start: bool,
    /// What the default options resolve to for this bundle.
    pub default_start: dinof_start,
    /// Start time of the default run (the default flow's T_m, or 1 for the prior start).
    pub default_t_start: f64,
    pub default_steps: u32,
    /// The backend actually running the networks ("tract", "ort").
    pub backend: *const c_char,
    /// Execution providers actually registered, in priority order ("cpu", "cuda", "tensorrt").
    pub execution_providers: *const *const c_char,
    pub execution_provider_count: usize,
    /// True when the requested execution provider was unavailable and the load fell back (allow_fallback).
    pub fell_back: bool,
    /// Worker threads and images per network call of the backend.
    pub threads: u32,
    pub sub_batch: u32,
}

fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

impl dinof_model {
    fn new(model: Model) -> Self {
        let info = model.info();
        let providers: Vec<CString> = info.backend.execution_providers.iter().map(|s| c_string(s)).collect();
        let provider_ptrs = providers.iter().map(|s| s.as_ptr()).collect();
        let info = InfoStore {
            name: c_string(&info.name),
            backend: c_string(info.backend.name),
            providers,
            provider_ptrs,
            t_ms: info.t_ms,
        };
        dinof_model { model: Arc::new(model), info }
    }

    fn describe(&self) -> dinof_model_info {
        let info = self.model.info();
        let rgba = matches!(info.channels, 1 | 3 | 4);
        let defaults = self.model.resolve(&SampleOptions::default()).ok();
        dinof_model_info {
            struct_size: std::mem::size_of::<dinof_model_info>() as u32,
            name: self.info.name.as_ptr(),
            channels: info.channels as u32,
            height: info.height as u32,
            width: info.width as u32,
            image_len: self.model.image_len(),
            rgba8_len: if rgba { info.height * info.width * 4 } else { 0 },
            classes: info.classes,
            sde: info.sde.into(),
            t_m: if self.info.t_ms.is_empty() { ptr::null() } else { self.info.t_ms.as_ptr() },
            t_m_count: self.info.t_ms.len(),
            has_flow_start: !info.t_ms.is_empty(),
            has_prior_start: info.has_prior_start,
            default_start: defaults.as_ref().map_or(dinof_start::Default, |c| dinof_start::from_rust(c.start)),
            default_t_start: defaults.as_ref().map_or(0.0, |c| c.t_start),
            default_steps: defaults.as_ref().map_or(0, |c| c.steps as u32),
            backend: self.info.backend.as_ptr(),
            execution_providers: self.info.provider_ptrs.as_ptr(),
            execution_provider_count: self.info.providers.len(),
            fell_back: info.backend.fell_back,
            threads: info.backend.threads as u32,
            sub_batch: info.backend.sub_batch as u32,
        }
    }
}

/// The model behind a handle argument.
///
/// # Safety
/// `m` must be NULL or a live handle from `dinof_model_load`.
pub(crate) unsafe fn model_arg<'a>(m: *const dinof_model) -> FfiResult<&'a dinof_model> {
    m.as_ref().ok_or_else(|| Failure::null("model"))
}

/// Loads a bundle directory (dinof.json + ONNX files), validates it and compiles its networks.
///
/// `path`: the bundle directory (UTF-8 on Windows, any bytes on Unix). `opts`: NULL = defaults. `out` receives
/// the handle (NULL on failure); free it with dinof_model_free.
/// Errors: DINOF_STATUS_IO, _INVALID_MANIFEST, _UNSUPPORTED_VERSION, _MISSING_FILE, _CHECKSUM_MISMATCH,
/// _INVALID_ONNX, _NETWORK_MISMATCH, _BACKEND_UNAVAILABLE, _EXECUTION_PROVIDER_UNAVAILABLE, plus argument errors.
#[no_mangle]
pub unsafe extern "C" fn dinof_model_load(path: *const c_char, opts: *const dinof_load_options, out: *mut *mut dinof_model) -> dinof_status {
    guard(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        out.write(ptr::null_mut());
        let path = path_arg(path, "path")?;
        let opts = load_options(opts)?;
        let model = Model::load(&path, &opts)?;
        out.write(Box::into_raw(Box::new(dinof_model::new(model))));
        Ok(())
    })
}

/// Frees a model handle (NULL is fine). Running jobs keep the model itself alive until they are freed. No other
/// thread may use this handle concurrently with or after this call.
#[no_mangle]
pub unsafe extern "C" fn dinof_model_free(model: *mut dinof_model) {
    if !model.is_null() {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(Box::from_raw(model))));
    }
}

/// Describes a model: image shape, classes, available T_m values, start modes, the backend and execution providers
/// actually in use. The caller sets out->struct_size = sizeof(dinof_model_info); pointers in *out belong to the
/// model and stay valid until dinof_model_free.
#[no_mangle]
pub unsafe extern "C" fn dinof_model_get_info(model: *const dinof_model, out: *mut dinof_model_info) -> dinof_status {
    guard(|| {
        let m = model_arg(model)?;
        check_struct(out.cast_const(), "out (dinof_model_info)")?;
        write_struct(out, m.describe());
        Ok(())
    })
}
