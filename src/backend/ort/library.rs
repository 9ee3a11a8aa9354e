//! Finding, checking and loading libonnxruntime: the library is opened at run time, and checked here before ort
//! sees it, because ort panics on a missing or too-old library.

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ::ort::environment::Environment;

use super::guarded;
use crate::backend::OrtOptions;
use crate::error::{Error, Result};

const FETCH_HINT: &str =
    "fetch one with `scripts/fetch-onnxruntime.sh` and set ORT_DYLIB_PATH (or OrtOptions::library_path, or the CLI's \
        --ort-lib) to the path it prints";

/// The loaded library and ort's environment. Both are per process: ort keeps the first library it loads and
/// allows one environment, so every backend in the process shares this one.
pub(super) struct Runtime {
    path: PathBuf,
    pub(super) version: String,
    pub(super) env: Environment,
}

static RUNTIME: Mutex<Option<Arc<Runtime>>> = Mutex::new(None);

/// The library to load: `OrtOptions::library_path`, else `ORT_DYLIB_PATH`, else the platform's file name next to
/// the dinof library (how an application ships the two together).
pub(super) fn locate(opts: &OrtOptions) -> Result<PathBuf> {
    let given = |path: PathBuf, source: &str| {
        if path.is_file() {
            return Ok(path);
        }
        let what = if path.exists() { "is not a file" } else { "does not exist" };
        Err(Error::BackendUnavailable(format!(
            "ONNX Runtime library {} (from {source}) {what}; {FETCH_HINT}",
            path.display()
        )))
    };
    if let Some(path) = &opts.library_path {
        return given(path.clone(), "OrtOptions::library_path");
    }
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return given(path.into(), "ORT_DYLIB_PATH");
    }
    let name = format!("{}onnxruntime{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    let dir = own_dir();
    if let Some(path) = dir.as_ref().map(|d| d.join(&name)).filter(|p| p.is_file()) {
        return Ok(path);
    }
    let place = dir.map(|d| format!(" in {}", d.display())).unwrap_or_default();
    Err(Error::BackendUnavailable(format!(
        "no ONNX Runtime library: no library path was given, ORT_DYLIB_PATH is unset and there is no {name} next to \
            the dinof library{place}; {FETCH_HINT}"
    )))
}

/// The directory of the binary holding this code: the dinof shared library, or the executable it is linked into.
#[cfg(unix)]
fn own_dir() -> Option<PathBuf> {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the address and fills `info`; dli_fname points into the loader's own tables.
    let found = unsafe { libc::dladdr(own_dir as *const libc::c_void, &mut info) } != 0;
    if !found || info.dli_fname.is_null() {
        return std::env::current_exe().ok()?.parent().map(Path::to_path_buf);
    }
    let file = PathBuf::from(unsafe { CStr::from_ptr(info.dli_fname) }.to_string_lossy().into_owned());
    let file = file.canonicalize().unwrap_or(file);
    file.parent().map(Path::to_path_buf)
}

#[cfg(not(unix))]
fn own_dir() -> Option<PathBuf> {
    std::env::current_exe().ok()?.parent().map(Path::to_path_buf)
}

/// Loads the library once per process (or returns the one already loaded from the same file).
pub(super) fn runtime(path: &Path) -> Result<Arc<Runtime>> {
    let canonical = path.canonicalize().map_err(|e| {
        Error::BackendUnavailable(format!("ONNX Runtime library {}: {e}; {FETCH_HINT}", path.display()))
    })?;
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(rt) = slot.as_ref().filter(|rt| rt.path == canonical) {
        return Ok(rt.clone());
    }
    // Checked before a second library is refused, so that a wrong file is named as such.
    let (lib, version) = probe(&canonical)?;
    if let Some(rt) = slot.as_ref() {
        return Err(Error::BackendUnavailable(format!(
            "ONNX Runtime {} is already loaded from {}; one process can use one ONNX Runtime library, so {} \
                ({version}) cannot be loaded too",
            rt.version,
            rt.path.display(),
            canonical.display()
        )));
    }
    let env = guarded("loading the library", || {
        ::ort::init_from(&canonical)
            .map_err(|e| e.to_string())?
            .with_name("dinof")
            // Microsoft's builds send usage telemetry by default; a library embedded in other programs must not.
            .with_telemetry(false)
            .build()
            .map_err(|e| e.to_string())
    })
    .map_err(|msg| Error::BackendUnavailable(format!("ONNX Runtime {version} at {}: {msg}", canonical.display())))?;
    // Stays loaded for the life of the process: ort holds its own handle to the same file, and unloading ONNX
    // Runtime with sessions alive is unsafe.
    std::mem::forget(lib);
    let rt = Arc::new(Runtime { path: canonical, version, env });
    *slot = Some(rt.clone());
    Ok(rt)
}

/// Opens the file and checks that it is an ONNX Runtime recent enough for the C API level this build uses: the
/// failures ort would otherwise panic on. Returns the open library and its release, e.g. "1.19.2".
fn probe(path: &Path) -> Result<(libloading::Library, String)> {
    let fail = |msg: String| Error::BackendUnavailable(format!("{}: {msg}", path.display()));
    // SAFETY: loading runs the library's initialisers, which is what using ONNX Runtime means.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| {
        // libloading's own message is only "dlopen failed"; the loader's reason is its source.
        let reason = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
        fail(format!("cannot be loaded ({e}{reason})"))
    })?;
    // SAFETY: the type is OrtGetApiBase's signature in onnxruntime_c_api.h.
    let get_base = unsafe { lib.get::<unsafe extern "system" fn() -> *const ::ort::sys::OrtApiBase>(b"OrtGetApiBase") }
        .map_err(|_| fail("is not an ONNX Runtime library (it has no OrtGetApiBase)".into()))?;
    // SAFETY: OrtGetApiBase takes no arguments and returns a pointer to a static table, or null.
    let base = unsafe { get_base() };
    if base.is_null() {
        return Err(fail("OrtGetApiBase returned null".into()));
    }
    // SAFETY: `base` points to the library's static OrtApiBase; the version string is static and NUL-terminated.
    let version = unsafe { CStr::from_ptr(((*base).GetVersionString)()) }.to_string_lossy().into_owned();
    check_version(&version).map_err(fail)?;
    // SAFETY: GetApi returns a static table for a supported level, null otherwise.
    if unsafe { ((*base).GetApi)(::ort::sys::ORT_API_VERSION) }.is_null() {
        return Err(fail(format!(
            "ONNX Runtime {version} does not provide C API level {}",
            ::ort::sys::ORT_API_VERSION
        )));
    }
    Ok((lib, version))
}

/// Accepts ONNX Runtime 1.x with x at least the C API level this build is compiled for (ort's `api-NN` feature).
fn check_version(version: &str) -> std::result::Result<(), String> {
    let min = ::ort::sys::ORT_API_VERSION;
    let mut parts = version.split('.').map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(1)), Some(Ok(minor))) if minor >= min => Ok(()),
        (Some(Ok(1)), Some(Ok(_))) => {
            Err(format!("ONNX Runtime {version} is too old: this build of dinof needs 1.{min} or newer"))
        }
        (Some(Ok(_)), Some(Ok(_))) => Err(format!(
            "ONNX Runtime {version} is not a 1.x release, which this build of dinof needs (1.{min} or newer)"
        )),
        _ => Err(format!("reports an unreadable ONNX Runtime version '{version}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::check_version;

    #[test]
    fn version_floor_is_the_api_level() {
        let min = ::ort::sys::ORT_API_VERSION;
        assert!(check_version(&format!("1.{min}.0")).is_ok());
        assert!(check_version("1.32.0").is_ok());
        assert!(check_version(&format!("1.{}.3", min - 1)).unwrap_err().contains("too old"));
        assert!(check_version("2.0.0").unwrap_err().contains("not a 1.x"));
        assert!(check_version("garbage").unwrap_err().contains("unreadable"));
    }
}
