//! Process-wide concerns of a library embedded in a host: where its messages go (a log callback instead of
//! stderr) and ending all its threads before the host unloads it.

use std::ffi::{c_char, c_void, CString};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::enums::*;
use super::job::LIVE_JOBS;
use super::model::LIVE_MODELS;
use super::sample::IN_CALLBACK;
use super::status::*;
use crate::log::{set_sink, Level};

/// Log callback: `message` (UTF-8, NUL-terminated) is valid during the call only. Called on whichever thread logs
/// (the caller's, a job's, a worker's), possibly concurrently: it must be thread-safe, must not throw or longjmp,
/// and must not call dinof_set_log_callback.
pub type dinof_log_fn = Option<unsafe extern "C" fn(level: dinof_log_level, message: *const c_char, user: *mut c_void)>;

struct UserPtr(*mut c_void);
// The caller promises (docs of dinof_set_log_callback) that `user` may be used from any thread.
unsafe impl Send for UserPtr {}
unsafe impl Sync for UserPtr {}

impl UserPtr {
    // A method, so that closures capture the whole (Send) wrapper, not its raw-pointer field.
    fn get(&self) -> *mut c_void {
        self.0
    }
}

/// Sends the library's messages (DINOF_LOG_ERROR .. up to `max_level`) to `callback` with `user`; NULL removes the
/// callback. Without one, the library writes nothing anywhere: no stderr output, also not for a bug caught at
/// the API boundary (DINOF_STATUS_PANIC), whose report goes to the callback at DINOF_LOG_ERROR. Process-wide.
/// (ABI 2)
#[no_mangle]
pub unsafe extern "C" fn dinof_set_log_callback(
    callback: dinof_log_fn,
    user: *mut c_void,
    max_level: dinof_log_level,
) -> dinof_status {
    guard(|| {
        let max = match max_level {
            DINOF_LOG_ERROR => Level::Error,
            DINOF_LOG_WARN => Level::Warn,
            DINOF_LOG_INFO => Level::Info,
            DINOF_LOG_DEBUG => Level::Debug,
            v => {
                return Err(Failure::new(
                    DINOF_STATUS_BAD_ENUM_VALUE,
                    format!("max_level = {v} is not a DINOF_LOG_* value (1..4)"),
                ))
            }
        };
        let sink = callback.map(|f| {
            let user = UserPtr(user);
            Arc::new(move |level: Level, message: &str| {
                let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
                // SAFETY: the caller registered this function and user pointer for exactly this purpose.
                unsafe { f(level as i32, text.as_ptr(), user.get()) };
            }) as crate::log::Sink
        });
        set_sink(sink, max);
        Ok(())
    })
}

/// Waits for every thread dinof started to end and joins it: detached jobs (dinof_job_free on a running job) and
/// the worker pools of freed models. Call it after freeing every model and job, before unloading the library
/// (FreeLibrary, dlclose, an editor's hot reload). `timeout_ms` < 0 waits as long as needed. Returns
/// DINOF_STATUS_OK when no dinof thread is left, _BUSY (waiting for nothing) while models or jobs are still alive,
/// _TIMEOUT if threads remain at the deadline (call again), _CALLED_FROM_CALLBACK from a progress callback. The
/// library stays usable afterwards. (ABI 2)
#[no_mangle]
pub extern "C" fn dinof_shutdown(timeout_ms: i64) -> dinof_status {
    guard(|| {
        if IN_CALLBACK.with(|c| c.get()) {
            return Err(Failure::new(
                DINOF_STATUS_CALLED_FROM_CALLBACK,
                "dinof_shutdown was called from a progress callback",
            ));
        }
        let (models, jobs) = (LIVE_MODELS.load(Ordering::SeqCst), LIVE_JOBS.load(Ordering::SeqCst));
        if models + jobs > 0 {
            return Err(Failure::new(
                DINOF_STATUS_BUSY,
                format!("{models} model(s) and {jobs} job(s) are still alive: free them first"),
            ));
        }
        let deadline = u64::try_from(timeout_ms).ok().map(|ms| Instant::now() + Duration::from_millis(ms));
        if !crate::threads::join_all(deadline) {
            return Err(Failure::new(
                DINOF_STATUS_TIMEOUT,
                format!("{} dinof thread(s) still running after {timeout_ms} ms", crate::threads::count()),
            ));
        }
        Ok(())
    })
}
