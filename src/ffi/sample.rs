//! Synchronous sampling into caller buffers, progress reports with cancellation, and the run report.

use std::cell::Cell;
use std::ffi::{c_int, c_void};

use super::enums::*;
use super::layout::{out_size, versioned, write_struct};
use super::model::{dinof_model, model_arg};
use super::options::{dinof_sample_options, sample_options};
use super::ptr::{out_slice, total_len};
use super::status::{dinof_status, guard, Failure, FfiResult};
use crate::model::{Output, Progress, SampleReport};

/// Where a run is. Passed to progress callbacks (library-owned, valid during the callback only) and filled by
/// dinof_job_progress (caller-owned; the caller sets struct_size).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct dinof_progress {
    /// In callbacks: sizeof(dinof_progress) of the library. Set by the caller for dinof_job_progress.
    pub struct_size: u32,
    /// DINOF_PHASE_*.
    pub phase: dinof_phase,
    /// Overall fraction in [0, 1]: images done plus the current batch's share of its steps.
    pub fraction: f64,
    /// Step within the current batch of images, and that batch's number of steps.
    pub step: u64,
    pub steps: u64,
    /// Images finished so far, and in total.
    pub done: u64,
    pub total: u64,
}

/// Progress callback: called on the sampling thread (the caller's for dinof_sample; the job's own thread for jobs,
/// where the first call may come before dinof_job_start has returned) before the flow and after every step of
/// every batch. Return 0 to continue, nonzero to cancel (the call then fails with DINOF_STATUS_CANCELLED).
/// `progress` is valid during the call only. Must not throw or longjmp, and must not call dinof_job_free on its own
/// job or dinof_shutdown (they fail with DINOF_STATUS_CALLED_FROM_CALLBACK). For engines, polling
/// dinof_job_progress from the main thread is the recommended path; a callback needs a static function (IL2CPP:
/// [MonoPInvokeCallback]) and a main-thread dispatcher.
pub type dinof_progress_fn = Option<unsafe extern "C" fn(progress: *const dinof_progress, user: *mut c_void) -> c_int>;

/// What a run did and the settings it resolved to. The caller sets struct_size.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct dinof_sample_report {
    /// sizeof(dinof_sample_report) as the caller compiled it.
    pub struct_size: u32,
    /// The resolved start (DINOF_START_*).
    pub start: dinof_start,
    /// The seed actually used (the drawn one when random_seed was set): rerun with it to get the same images.
    pub seed: u64,
    /// Score-network evaluations per image.
    pub score_evals: u64,
    /// Evaluations of the start's network per image (1 for the flow and Gaussian starts, else 0).
    pub flow_evals: u64,
    /// Backend calls made (each covers a whole batch).
    pub network_calls: u64,
    /// Wall time of the run, and the part spent inside networks.
    pub seconds: f64,
    pub network_seconds: f64,
    /// Start time: the flow's (or Gaussian's) T_m, or 1 for the prior start.
    pub t_start: f64,
    pub temperature: f64,
    pub snr: f64,
    /// The resolved sampler settings (DINOF_METHOD_*, ...).
    pub method: dinof_method,
    pub predictor: dinof_predictor,
    pub corrector: dinof_corrector,
    pub solver: dinof_solver,
    pub langevin_norm: dinof_langevin_norm,
    pub corrector_steps: u32,
    pub steps: u32,
    /// Nonzero when the last step returned the noise-free mean.
    pub denoise: u8,
    /// Appended within ABI 2: the resolved grid of the fixed-step solvers (DINOF_SCHEDULE_*; reported whatever the
    /// solver, unused by predictor/corrector and rk45), rk45's tolerances and edm_heun's churn.
    pub schedule: dinof_schedule,
    pub rtol: f64,
    pub atol: f64,
    pub churn: f64,
    /// The classifier-free guidance scale used (0 = none; with w > 0 score_evals counts both evaluations per
    /// step). Appended in ABI 2 with class names.
    pub guidance: f64,
}

versioned!(dinof_progress { phase: DINOF_PHASE_PENDING });
versioned!(dinof_sample_report {});

impl dinof_progress {
    pub(crate) fn from_rust(p: &Progress) -> Self {
        dinof_progress {
            struct_size: std::mem::size_of::<dinof_progress>() as u32,
            phase: to_c(p.phase),
            fraction: p.fraction(),
            step: p.step as u64,
            steps: p.steps as u64,
            done: p.done as u64,
            total: p.total as u64,
        }
    }
}

impl dinof_sample_report {
    pub(crate) fn from_rust(r: &SampleReport) -> Self {
        let c = &r.config;
        dinof_sample_report {
            struct_size: std::mem::size_of::<dinof_sample_report>() as u32,
            start: to_c(c.start),
            seed: r.seed,
            score_evals: r.score_evals as u64,
            flow_evals: r.flow_evals as u64,
            network_calls: r.network_calls as u64,
            seconds: r.seconds,
            network_seconds: r.network_seconds,
            t_start: c.t_start,
            temperature: c.temperature,
            snr: c.snr,
            method: to_c(c.method),
            predictor: to_c(c.predictor),
            corrector: to_c(c.corrector),
            solver: to_c(c.solver),
            langevin_norm: to_c(c.langevin_norm),
            corrector_steps: c.corrector_steps as u32,
            steps: c.steps as u32,
            denoise: u8::from(c.denoise),
            schedule: to_c(c.schedule),
            rtol: c.rtol,
            atol: c.atol,
            churn: c.churn,
            guidance: c.guidance,
        }
    }
}

thread_local! {
    /// Set while this thread runs a progress callback (dinof_shutdown must not run from one).
    pub(crate) static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// A C callback plus its user pointer, as a Rust observer (true = continue).
#[derive(Clone, Copy)]
pub(crate) struct Callback {
    pub f: dinof_progress_fn,
    pub user: *mut c_void,
}

// The caller promises (docs of dinof_job_start) that `user` may be used from the job's thread.
unsafe impl Send for Callback {}

impl Callback {
    /// Calls the C function, if any; returns true to continue.
    pub fn call(&self, p: &Progress) -> bool {
        match self.f {
            None => true,
            Some(f) => {
                let c = dinof_progress::from_rust(p);
                IN_CALLBACK.with(|b| b.set(true));
                // SAFETY: the caller gave us this function and user pointer for exactly this purpose.
                let go_on = unsafe { f(&c, self.user) == 0 };
                IN_CALLBACK.with(|b| b.set(false));
                go_on
            }
        }
    }
}

/// Writes the report into the caller's optional report struct.
///
/// # Safety
/// `out` must be NULL or have passed `out_size` with `size`.
pub(crate) unsafe fn write_report(out: *mut dinof_sample_report, size: usize, r: &SampleReport) {
    if !out.is_null() {
        write_struct(out, size, dinof_sample_report::from_rust(r));
    }
}

enum Buffer {
    Float(*mut f32),
    Rgba8(*mut u8),
}

/// The shared body of dinof_sample and dinof_sample_rgba8: validate everything (arguments, buffer, options,
/// memory) before writing anything.
unsafe fn sample_into(
    model: *const dinof_model,
    opts: *const dinof_sample_options,
    out: Buffer,
    out_len: usize,
    progress: dinof_progress_fn,
    user: *mut c_void,
    report: *mut dinof_sample_report,
) -> FfiResult<()> {
    let m = model_arg(model)?;
    let o = sample_options(opts)?;
    let report_size = if report.is_null() { 0 } else { out_size(report, "report (dinof_sample_report)")? };
    let cb = Callback { f: progress, user };
    let mut observe = |p: &Progress| cb.call(p);
    let out = match out {
        Buffer::Float(ptr) => Output::F32(out_slice(ptr, out_len, total_len(o.n, m.model.image_len())?, "out")?),
        Buffer::Rgba8(ptr) => {
            if o.raw {
                return Err(Failure::invalid("raw (SDE-space) output has no RGBA8 form: use dinof_sample"));
            }
            Output::Rgba8(out_slice(ptr, out_len, m.model.rgba8_needed(o.n)?, "out")?)
        }
    };
    let mut prepared = m.model.prepare(&o)?;
    let r = m.model.run(&mut prepared, out, &mut observe, None)?;
    write_report(report, report_size, &r);
    Ok(())
}

/// Generates opts->n images into `out`: n x C x H x W floats (NCHW), pixels in [0, 1] (SDE-space values when
/// opts->raw). `out` must be 4-byte aligned; `out_len` counts floats (size_t: the platform's pointer width) and must
/// be >= n x dinof_model_info.image_len. `progress` (may be NULL) is called on this thread with `user`; returning
/// nonzero cancels (DINOF_STATUS_CANCELLED). `report` may be NULL.
/// On failure: an argument, option or memory error (found before sampling starts) leaves `out` untouched; a failure
/// once sampling has started (cancelled, NON_FINITE, BACKEND) sets the first n x image_len floats to 0 - never
/// partial images. The report is written on success only.
/// Any number of threads may sample the same model at once.
#[no_mangle]
pub unsafe extern "C" fn dinof_sample(
    model: *const dinof_model,
    opts: *const dinof_sample_options,
    out: *mut f32,
    out_len: usize,
    progress: dinof_progress_fn,
    user: *mut c_void,
    report: *mut dinof_sample_report,
) -> dinof_status {
    guard(|| sample_into(model, opts, Buffer::Float(out), out_len, progress, user, report))
}

/// Like dinof_sample, but packs the images as RGBA8, row-major, n x H x W x 4 bytes (1 channel -> grey, 3 -> RGB,
/// 4 -> RGBA; alpha 255 otherwise): what a texture upload wants. Converted batch by batch (no float copy of all
/// images). `out_len` counts bytes and must be >= n x dinof_model_info.rgba8_len. Failure leaves `out` as
/// dinof_sample does (untouched, or its first n x rgba8_len bytes 0).
#[no_mangle]
pub unsafe extern "C" fn dinof_sample_rgba8(
    model: *const dinof_model,
    opts: *const dinof_sample_options,
    out: *mut u8,
    out_len: usize,
    progress: dinof_progress_fn,
    user: *mut c_void,
    report: *mut dinof_sample_report,
) -> dinof_status {
    guard(|| sample_into(model, opts, Buffer::Rgba8(out), out_len, progress, user, report))
}
