//! The model handle: loading (from a directory or from memory), freeing and describing a model.

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::enums::{dinof_sde, dinof_start, to_c, DINOF_START_DEFAULT};
use super::layout::{out_size, versioned, write_struct};
use super::options::{dinof_load_options, load_options};
use super::ptr::{in_slice, path_arg};
use super::status::{dinof_status, guard, Failure, FfiResult};
use crate::error::Error;
use crate::model::{Model, SampleOptions};

/// Model handles alive (dinof_shutdown refuses to run while any is).
pub(crate) static LIVE_MODELS: AtomicUsize = AtomicUsize::new(0);

/// A loaded model: immutable, shareable by any number of threads. Jobs hold their own reference, so a model freed
/// while a job runs stays alive until the job ends.
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
    gaussian_t_ms: Vec<f64>,
    labels: Vec<CString>,
    label_ptrs: Vec<*const c_char>,
}

/// Static facts about a loaded model. The caller sets struct_size; pointers stay valid until dinof_model_free.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct dinof_model_info {
    /// sizeof(dinof_model_info) as the caller compiled it.
    pub struct_size: u32,
    pub channels: u32,
    pub height: u32,
    pub width: u32,
    /// Floats per image (channels * height * width): dinof_sample's out_len is n times this.
    pub image_len: u64,
    /// Bytes per image as RGBA8 (height * width * 4): dinof_sample_rgba8's out_len is n times this. 0 when the
    /// channel count (not 1, 3 or 4) has no RGBA8 packing.
    pub rgba8_len: u64,
    /// Number of classes; 0 = unconditional.
    pub classes: u32,
    /// DINOF_SDE_*.
    pub sde: dinof_sde,
    /// The bundle's name (UTF-8).
    pub name: *const c_char,
    /// T_m of each flow, ascending; t_m_count = 0 (and t_m NULL) for a plain diffusion bundle.
    pub t_m: *const f64,
    pub t_m_count: u64,
    /// Nonzero when start = DINOF_START_FLOW / DINOF_START_PRIOR is possible (DINOF_START_GAUSSIAN: when
    /// gaussian_t_m_count > 0).
    pub has_flow_start: u8,
    pub has_prior_start: u8,
    /// Nonzero when the requested execution provider was unavailable and the load fell back (allow_fallback).
    pub fell_back: u8,
    /// What the default options resolve to for this bundle (DINOF_START_*).
    pub default_start: dinof_start,
    /// Start time of the default run (the default flow's or Gaussian's T_m, or 1 for the prior start).
    pub default_t_start: f64,
    pub default_steps: u32,
    /// Worker threads and images per network call of the backend.
    pub threads: u32,
    pub sub_batch: u32,
    /// The backend actually running the networks ("tract", "ort").
    pub backend: *const c_char,
    /// Execution providers actually registered, in priority order ("cpu", "cuda", "tensorrt").
    pub execution_providers: *const *const c_char,
    pub execution_provider_count: u64,
    /// Class names (UTF-8), label_name_count of them in label order, when the bundle has them (manifest `labels`); else
    /// 0 and NULL. dinof_model_label_index turns a name (or an index written as text) into a label. Appended in
    /// ABI 2 with class names.
    pub label_names: *const *const c_char,
    pub label_name_count: u64,
    /// Nonzero when the score takes the null label: dinof_sample_options.guidance > 0 is possible.
    pub has_guidance: u8,
    /// The guidance scale the default options use (the manifest's sampler.guidance, else 0). Last, after the
    /// flag, so the struct has no tail padding (a size cutting through it is refused).
    pub default_guidance: f64,
    /// T_m of each Gaussian start (start = DINOF_START_GAUSSIAN), ascending; gaussian_t_m_count = 0 (and
    /// gaussian_t_m NULL) for a bundle without them. Appended in ABI 2 with the Gaussian start; pointer and count
    /// only, so the struct keeps no tail padding.
    pub gaussian_t_m: *const f64,
    pub gaussian_t_m_count: u64,
}

versioned!(dinof_model_info {});

/// One named file of a bundle held in memory, for dinof_model_load_from_memory. Fixed forever (it is passed as an
/// array, so it has no struct_size).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct dinof_blob {
    /// The file name the manifest uses (UTF-8, NUL-terminated), e.g. "score.onnx".
    pub name: *const c_char,
    /// The file's bytes; read during the call only.
    pub data: *const c_void,
    pub size: u64,
}

fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

impl dinof_model {
    fn new(model: Model) -> Self {
        let info = model.info();
        let providers: Vec<CString> = info.backend.execution_providers.iter().map(|s| c_string(s)).collect();
        let provider_ptrs = providers.iter().map(|s| s.as_ptr()).collect();
        let labels: Vec<CString> = info.labels.iter().map(|s| c_string(s)).collect();
        let label_ptrs = labels.iter().map(|s| s.as_ptr()).collect();
        let info = InfoStore {
            name: c_string(&info.name),
            backend: c_string(info.backend.name),
            providers,
            provider_ptrs,
            t_ms: info.t_ms,
            gaussian_t_ms: info.gaussian_t_ms,
            labels,
            label_ptrs,
        };
        dinof_model { model: Arc::new(model), info }
    }

    fn describe(&self) -> dinof_model_info {
        let info = self.model.info();
        let defaults = self.model.resolve(&SampleOptions::default()).ok();
        dinof_model_info {
            struct_size: std::mem::size_of::<dinof_model_info>() as u32,
            channels: info.channels as u32,
            height: info.height as u32,
            width: info.width as u32,
            image_len: self.model.image_len() as u64,
            rgba8_len: self.model.bundle().manifest.image.rgba8_len().unwrap_or(0) as u64,
            classes: info.classes,
            sde: to_c(info.sde),
            name: self.info.name.as_ptr(),
            t_m: if self.info.t_ms.is_empty() { ptr::null() } else { self.info.t_ms.as_ptr() },
            t_m_count: self.info.t_ms.len() as u64,
            has_flow_start: u8::from(!info.t_ms.is_empty()),
            has_prior_start: u8::from(info.has_prior_start),
            fell_back: u8::from(info.backend.fell_back),
            default_start: defaults.as_ref().map_or(DINOF_START_DEFAULT, |c| to_c(c.start)),
            default_t_start: defaults.as_ref().map_or(0.0, |c| c.t_start),
            default_steps: defaults.as_ref().map_or(0, |c| c.steps as u32),
            threads: info.backend.threads as u32,
            sub_batch: info.backend.sub_batch as u32,
            backend: self.info.backend.as_ptr(),
            execution_providers: self.info.provider_ptrs.as_ptr(),
            execution_provider_count: self.info.providers.len() as u64,
            label_names: if self.info.labels.is_empty() { ptr::null() } else { self.info.label_ptrs.as_ptr() },
            label_name_count: self.info.labels.len() as u64,
            default_guidance: defaults.as_ref().map_or(0.0, |c| c.guidance),
            has_guidance: u8::from(info.guidance),
            gaussian_t_m: if self.info.gaussian_t_ms.is_empty() {
                ptr::null()
            } else {
                self.info.gaussian_t_ms.as_ptr()
            },
            gaussian_t_m_count: self.info.gaussian_t_ms.len() as u64,
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

unsafe fn hand_out(out: *mut *mut dinof_model, model: Model) {
    LIVE_MODELS.fetch_add(1, Ordering::SeqCst);
    out.write(Box::into_raw(Box::new(dinof_model::new(model))));
}

/// Loads a bundle directory (dinof.json + ONNX files), validates it and compiles its networks.
///
/// `path`: the bundle directory, UTF-8 (Windows callers: convert from UTF-16; C#: UnmanagedType.LPUTF8Str); only
/// regular files directly inside it are read (symlinks are resolved and must stay inside). `opts`: NULL = defaults.
/// `out` receives the handle (NULL on failure); free it with dinof_model_free.
/// Errors: DINOF_STATUS_IO, _INVALID_MANIFEST, _UNSUPPORTED_VERSION, _MISSING_FILE, _CHECKSUM_MISMATCH,
/// _INVALID_ONNX, _NETWORK_MISMATCH, _BACKEND_UNAVAILABLE, _EXECUTION_PROVIDER_UNAVAILABLE, _BAD_FILE_NAME,
/// _FILE_OUTSIDE_BUNDLE, _NOT_A_REGULAR_FILE, _MANIFEST_TOO_LARGE, _OUT_OF_MEMORY, plus argument errors.
#[no_mangle]
pub unsafe extern "C" fn dinof_model_load(
    path: *const c_char,
    opts: *const dinof_load_options,
    out: *mut *mut dinof_model,
) -> dinof_status {
    guard(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        out.write(ptr::null_mut());
        let path = path_arg(path, "path")?;
        let opts = load_options(opts)?;
        hand_out(out, Model::load(&path, &opts)?);
        Ok(())
    })
}

/// Loads a bundle from memory, without touching the filesystem (Android assets inside the APK, an engine's own
/// asset system): `manifest` holds dinof.json's bytes, `blobs` every file the manifest names, by name. All bytes
/// are read during the call only. Errors as dinof_model_load; a file the manifest names but `blobs` lacks is
/// DINOF_STATUS_MISSING_FILE; manifest_size above DINOF_MAX_MANIFEST_BYTES is DINOF_STATUS_MANIFEST_TOO_LARGE and a
/// count or size no object can have (bytes above the platform's largest, PTRDIFF_MAX) DINOF_STATUS_INVALID_ARGUMENT,
/// both before any byte is read. (ABI 2)
#[no_mangle]
pub unsafe extern "C" fn dinof_model_load_from_memory(
    manifest: *const c_void,
    manifest_size: u64,
    blobs: *const dinof_blob,
    blob_count: u64,
    opts: *const dinof_load_options,
    out: *mut *mut dinof_model,
) -> dinof_status {
    guard(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        out.write(ptr::null_mut());
        if manifest.is_null() {
            return Err(Failure::null("manifest"));
        }
        // The cap before any slice: a size past isize::MAX (UINT64_MAX, 2^63) must not even be sliced.
        if manifest_size > super::DINOF_MAX_MANIFEST_BYTES {
            let path = std::path::Path::new("<memory>").join(crate::bundle::MANIFEST_FILE);
            return Err(
                Error::ManifestTooLarge { path, size: manifest_size, limit: super::DINOF_MAX_MANIFEST_BYTES }.into()
            );
        }
        let manifest = in_slice(manifest.cast::<u8>(), manifest_size, "manifest", "manifest_size")?;
        let blobs = in_slice(blobs, blob_count, "blobs", "blob_count")?;
        let mut named: Vec<(&str, &[u8])> = Vec::with_capacity(blobs.len());
        for (i, b) in blobs.iter().enumerate() {
            if b.name.is_null() {
                return Err(Failure::null(&format!("blobs[{i}].name")));
            }
            let name = CStr::from_ptr(b.name)
                .to_str()
                .map_err(|_| Failure::invalid(format!("blobs[{i}].name is not UTF-8")))?;
            let data = in_slice(b.data.cast::<u8>(), b.size, &format!("blobs[{i}].data"), &format!("blobs[{i}].size"))?;
            named.push((name, data));
        }
        let opts = load_options(opts)?;
        hand_out(out, Model::load_from_memory(manifest, &named, &opts)?);
        Ok(())
    })
}

/// Frees a model handle (NULL is fine). Running jobs keep the model itself alive until they end. No other thread
/// may use this handle concurrently with or after this call.
#[no_mangle]
pub unsafe extern "C" fn dinof_model_free(model: *mut dinof_model) {
    if !model.is_null() {
        let _inside = crate::log::Inside::enter();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(Box::from_raw(model))));
        LIVE_MODELS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Describes a model: image shape, classes, available T_m values, start modes, the backend and execution providers
/// actually in use. The caller sets out->struct_size = sizeof(dinof_model_info) (an older header's smaller size gets
/// the fields it knows); pointers in *out belong to the model and stay valid until dinof_model_free.
#[no_mangle]
pub unsafe extern "C" fn dinof_model_get_info(model: *const dinof_model, out: *mut dinof_model_info) -> dinof_status {
    guard(|| {
        let m = model_arg(model)?;
        let size = out_size(out, "out (dinof_model_info)")?;
        write_struct(out, size, m.describe());
        Ok(())
    })
}

/// The label of a class given as text: one of the model's class names (dinof_model_info.label_names, compared
/// ignoring case) or an index written in decimal ("3"). Writes it to *out_label (left alone on failure).
/// Errors: DINOF_STATUS_INVALID_ARGUMENT with a message for each case — an unconditional model, an index out of
/// range, a name the model does not have (the message lists the valid names), a name for a model without class
/// names; DINOF_STATUS_NULL_POINTER. (ABI 2, appended with class names)
#[no_mangle]
pub unsafe extern "C" fn dinof_model_label_index(
    model: *const dinof_model,
    name: *const c_char,
    out_label: *mut i64,
) -> dinof_status {
    guard(|| {
        let m = model_arg(model)?;
        if name.is_null() {
            return Err(Failure::null("name"));
        }
        if out_label.is_null() {
            return Err(Failure::null("out_label"));
        }
        super::ptr::check_aligned(out_label.cast_const(), "out_label")?;
        let name = CStr::from_ptr(name).to_str().map_err(|_| Failure::invalid("name is not UTF-8"))?;
        out_label.write(m.model.label_index(name)?);
        Ok(())
    })
}
