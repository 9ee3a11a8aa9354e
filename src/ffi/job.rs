//! Asynchronous sampling for game loops: a job samples on its own thread while the caller polls its progress,
//! waits with a timeout, cancels it from any thread, and collects the images.

use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::enums::{DINOF_PHASE_FINISHED, DINOF_PHASE_PENDING};
use super::layout::{out_size, write_struct, Versioned};
use super::model::{dinof_model, model_arg};
use super::options::{dinof_sample_options, sample_options};
use super::ptr::{out_slice, total_len};
use super::sample::{dinof_progress, dinof_progress_fn, dinof_sample_report, write_report, Callback};
use super::status::*;
use crate::error::try_filled;
use crate::log::{log, Level};
use crate::model::{Output, Progress, SampleReport};
use crate::pixels::to_rgba8;

/// Job handles alive (dinof_shutdown refuses to run while any is).
pub(crate) static LIVE_JOBS: AtomicUsize = AtomicUsize::new(0);

/// A sampling run on its own thread. All functions taking a job may be called from any thread, concurrently,
/// except dinof_job_free.
pub struct dinof_job {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    n: usize,
    image_len: usize,
    channels: usize,
    /// Bytes per image as RGBA8, or why the model's images have no RGBA8 form.
    rgba8_len: Result<usize, String>,
    raw: bool,
}

struct Shared {
    cancel: AtomicBool,
    state: Mutex<State>,
    finished: Condvar,
    /// Held while the progress callback runs; true once the job was freed, after which the callback is never
    /// called again (its user data may be gone).
    detached: Mutex<bool>,
}

struct State {
    progress: dinof_progress,
    /// None while running; then the images and report, or why there are none.
    outcome: Option<Result<Done, Failure>>,
}

struct Done {
    pixels: Vec<f32>,
    report: SampleReport,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere; the state itself is always consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn finish(&self, outcome: Result<Done, Failure>) {
        let mut st = self.lock();
        st.progress.phase = DINOF_PHASE_FINISHED;
        if outcome.is_ok() {
            st.progress.fraction = 1.0;
            st.progress.done = st.progress.total;
        }
        st.outcome = Some(outcome);
        self.finished.notify_all();
    }

    /// The user's callback, unless the job was freed; true = continue.
    fn callback(&self, cb: &Callback, p: &Progress) -> bool {
        let detached = self.detached.lock().unwrap_or_else(|e| e.into_inner());
        !*detached && cb.call(p)
    }
}

thread_local! {
    /// On a job's thread: its Shared (as an address), to recognise dinof_job_free called from the job's own callback.
    /// A plain const thread-local: std::thread::current() would allocate a handle on the caller's thread.
    static JOB_OF_THIS_THREAD: Cell<usize> = const { Cell::new(0) };
}

/// The job behind a handle argument.
///
/// # Safety
/// `j` must be NULL or a live handle from `dinof_job_start`.
unsafe fn job_arg<'a>(j: *const dinof_job) -> FfiResult<&'a dinof_job> {
    j.as_ref().ok_or_else(|| Failure::null("job"))
}

/// Starts sampling on a new thread and returns at once. Everything is validated and all memory the run needs is
/// allocated before this returns, so every option, label and memory error (DINOF_STATUS_OUT_OF_MEMORY) comes back
/// here; only run-time errors (cancelled, NON_FINITE, BACKEND) come back from dinof_job_wait. Labels are copied.
/// `progress` (may be NULL) is called on the job's thread with `user` (see dinof_progress_fn; the first call may
/// come before this function returns); returning nonzero cancels. The job keeps the model alive. Free it with
/// dinof_job_free.
#[no_mangle]
pub unsafe extern "C" fn dinof_job_start(
    model: *const dinof_model,
    opts: *const dinof_sample_options,
    progress: dinof_progress_fn,
    user: *mut c_void,
    out: *mut *mut dinof_job,
) -> dinof_status {
    guard(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        out.write(ptr::null_mut());
        let m = model_arg(model)?;
        let o = sample_options(opts)?;
        let image_len = m.model.image_len();
        let len = total_len(o.n, image_len)?;
        // The working memory first: with a huge batch it is the larger allocation, and it is reserved untouched.
        let mut prepared = m.model.prepare(&o)?;
        let mut pixels = try_filled(len, 0f32, &format!("the images of {} samples", o.n))?;

        let mut progress0 = dinof_progress::defaults();
        progress0.phase = DINOF_PHASE_PENDING;
        progress0.total = o.n as u64;
        let shared = Arc::new(Shared {
            cancel: AtomicBool::new(false),
            state: Mutex::new(State { progress: progress0, outcome: None }),
            finished: Condvar::new(),
            detached: Mutex::new(false),
        });
        let (n, raw, channels) = (o.n, o.raw, m.model.info().channels);
        let rgba8_len = m.model.bundle().manifest.image.rgba8_len();
        let model = Arc::clone(&m.model);
        let cb = Callback { f: progress, user };
        let job_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("dinof-job".into())
            .spawn(move || {
                crate::log::mark_dinof_thread();
                let shared = job_shared;
                JOB_OF_THIS_THREAD.with(|j| j.set(Arc::as_ptr(&shared) as usize));
                let run = catch_unwind(AssertUnwindSafe(|| {
                    let mut observe = |p: &Progress| {
                        shared.lock().progress = dinof_progress::from_rust(p);
                        !shared.cancel.load(Ordering::Relaxed)
                            && shared.callback(&cb, p)
                            && !shared.cancel.load(Ordering::Relaxed)
                    };
                    model.run(&mut prepared, Output::F32(&mut pixels), &mut observe, Some(&shared.cancel))
                }));
                let outcome = match run {
                    Ok(Ok(report)) => Ok(Done { pixels, report }),
                    Ok(Err(e)) => Err(Failure::from(e)),
                    Err(payload) => Err(Failure::panic(&*payload)),
                };
                if let Err(f) = &outcome {
                    log(Level::Debug, &format!("job ended: {}", f.message));
                }
                // Release the model before announcing the end: once dinof_job_wait returns, the job no longer holds
                // it, so freeing the job (or the model) frees the networks there and then.
                drop(prepared);
                drop(model);
                shared.finish(outcome);
            })
            .map_err(|e| Failure::new(DINOF_STATUS_INTERNAL, format!("cannot start the job thread: {e}")))?;
        let job = dinof_job { shared, thread: Some(thread), n, image_len, channels, rgba8_len, raw };
        LIVE_JOBS.fetch_add(1, Ordering::SeqCst);
        out.write(Box::into_raw(Box::new(job)));
        Ok(())
    })
}

/// Copies the job's current progress into *out (the caller sets out->struct_size). phase is
/// DINOF_PHASE_PENDING before the first step and DINOF_PHASE_FINISHED once the job has ended. Cheap: meant to be
/// polled every frame from an engine's main thread.
#[no_mangle]
pub unsafe extern "C" fn dinof_job_progress(job: *mut dinof_job, out: *mut dinof_progress) -> dinof_status {
    guard(|| {
        let j = job_arg(job)?;
        let size = out_size(out, "out (dinof_progress)")?;
        let snapshot = j.shared.lock().progress;
        write_struct(out, size, snapshot);
        Ok(())
    })
}

/// Waits up to `timeout_ms` milliseconds (0 = just poll, negative = forever) for the job to end. Returns
/// DINOF_STATUS_TIMEOUT while it runs, else its final status (DINOF_STATUS_OK, _CANCELLED, or the error that
/// stopped it, with dinof_last_error_message set on this thread; dinof_job_error_message gives the same text from
/// any thread). May be called again after it ended.
#[no_mangle]
pub unsafe extern "C" fn dinof_job_wait(job: *mut dinof_job, timeout_ms: i64) -> dinof_status {
    guard(|| {
        let j = job_arg(job)?;
        let deadline = u64::try_from(timeout_ms).ok().map(|ms| Instant::now() + Duration::from_millis(ms));
        let mut st = j.shared.lock();
        while st.outcome.is_none() {
            st = match deadline {
                None => j.shared.finished.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Failure::new(
                            DINOF_STATUS_TIMEOUT,
                            format!("the job is still running after {timeout_ms} ms"),
                        ));
                    }
                    j.shared.finished.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0
                }
            };
        }
        match &st.outcome {
            Some(Err(f)) => Err(f.clone()),
            _ => Ok(()),
        }
    })
}

/// Asks the job to stop; returns at once. The job ends with DINOF_STATUS_CANCELLED before its next network call
/// (unless it already finished). Safe from any thread, also while another thread waits.
#[no_mangle]
pub unsafe extern "C" fn dinof_job_cancel(job: *mut dinof_job) -> dinof_status {
    guard(|| {
        job_arg(job)?.shared.cancel.store(true, Ordering::Relaxed);
        Ok(())
    })
}

/// Copies the message of the job's failure into `buf` ("" while it runs or after a success), from any thread: the
/// text dinof_job_wait leaves in the waiting thread's last error. Same conventions as dinof_last_error_copy (`len`
/// bytes, NUL-terminated, `needed` optional; DINOF_STATUS_BUFFER_TOO_SMALL when truncated). (ABI 2)
#[no_mangle]
pub unsafe extern "C" fn dinof_job_error_message(
    job: *const dinof_job,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> dinof_status {
    guard(|| {
        let j = job_arg(job)?;
        let message = match &j.shared.lock().outcome {
            Some(Err(f)) => f.message.clone(),
            _ => String::new(),
        };
        copy_text(&message, buf, len, needed)
    })
}

/// Runs `f` on the finished job's images: DINOF_STATUS_NOT_READY while running, the job's error if it failed.
fn with_done(j: &dinof_job, f: impl FnOnce(&Done) -> FfiResult<()>) -> FfiResult<()> {
    match &j.shared.lock().outcome {
        None => Err(Failure::new(DINOF_STATUS_NOT_READY, "the job is still running (dinof_job_wait first)")),
        Some(Err(e)) => Err(e.clone()),
        Some(Ok(done)) => f(done),
    }
}

/// Copies a finished job's images into `out` (4-byte aligned) as dinof_sample would write them; out_len counts
/// floats (>= n x image_len). Can be called repeatedly. On failure `out` is untouched.
#[no_mangle]
pub unsafe extern "C" fn dinof_job_result(job: *mut dinof_job, out: *mut f32, out_len: usize) -> dinof_status {
    guard(|| {
        let j = job_arg(job)?;
        let buf = out_slice(out, out_len, total_len(j.n, j.image_len)?, "out")?;
        with_done(j, |done| {
            buf.copy_from_slice(&done.pixels);
            Ok(())
        })
    })
}

/// Copies a finished job's images into `out` as RGBA8, as dinof_sample_rgba8 would write them; out_len counts
/// bytes (>= n x rgba8_len). Refused for raw jobs and for channel counts other than 1, 3 or 4. On failure `out` is
/// untouched.
#[no_mangle]
pub unsafe extern "C" fn dinof_job_result_rgba8(job: *mut dinof_job, out: *mut u8, out_len: usize) -> dinof_status {
    guard(|| {
        let j = job_arg(job)?;
        if j.raw {
            return Err(Failure::invalid("this job wrote raw (SDE-space) values, which have no RGBA8 form"));
        }
        let rgba8_len = j.rgba8_len.clone().map_err(Failure::invalid)?;
        let hw = j.image_len / j.channels;
        let buf = out_slice(out, out_len, total_len(j.n, rgba8_len)?, "out")?;
        with_done(j, |done| {
            to_rgba8(&done.pixels, j.n, j.channels, hw, buf);
            Ok(())
        })
    })
}

/// Copies a finished job's report (seed, evaluations, timing, resolved settings) into *out; the caller sets
/// out->struct_size.
#[no_mangle]
pub unsafe extern "C" fn dinof_job_report(job: *mut dinof_job, out: *mut dinof_sample_report) -> dinof_status {
    guard(|| {
        let j = job_arg(job)?;
        let size = out_size(out, "out (dinof_sample_report)")?;
        with_done(j, |done| {
            write_report(out, size, &done.report);
            Ok(())
        })
    })
}

/// Frees a job (NULL is fine) and returns promptly, also while it runs (from OnDestroy / EndPlay): a running job is
/// cancelled and detached, its thread ends on its own before its next network call, and its progress callback is
/// never called after this returns (a callback already running is waited for). dinof_shutdown joins detached
/// threads. No other thread may use the handle concurrently with or after this call.
/// Called from the job's own progress callback it frees nothing and returns DINOF_STATUS_CALLED_FROM_CALLBACK
/// (return nonzero from the callback to cancel, and free the job after dinof_job_wait). (ABI 2: returns a status.)
#[no_mangle]
pub unsafe extern "C" fn dinof_job_free(job: *mut dinof_job) -> dinof_status {
    // Inside the guard, so that freeing NULL clears the last error message as every successful call does.
    guard(|| {
        if job.is_null() {
            return Ok(());
        }
        if JOB_OF_THIS_THREAD.with(|j| j.get()) == Arc::as_ptr(&(*job).shared) as usize {
            return Err(Failure::new(
                DINOF_STATUS_CALLED_FROM_CALLBACK,
                "dinof_job_free was called from the job's own progress callback: return nonzero to cancel, then free \
                    the job after dinof_job_wait",
            ));
        }
        let mut job = Box::from_raw(job);
        job.shared.cancel.store(true, Ordering::Relaxed);
        *job.shared.detached.lock().unwrap_or_else(|e| e.into_inner()) = true;
        if let Some(t) = job.thread.take() {
            // An ended job's thread has only its return left to do: join it, so nothing of the job outlives this
            // call (a caller that frees a finished job and exits must not see its thread still alive).
            let ended = job.shared.lock().outcome.is_some();
            if ended || t.is_finished() {
                // The thread catches its own panics, so join only fails if the runtime is broken; nothing to report.
                let _ = t.join();
            } else {
                log(Level::Debug, "freed a running job: cancelled, its thread ends on its own");
                crate::threads::register(t);
            }
        }
        LIVE_JOBS.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    })
}
