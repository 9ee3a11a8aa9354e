//! Synchronous sampling into caller buffers, progress reports with cancellation, and the run report.

use std::ffi::{c_int, c_void};

use super::enums::*;
use super::model::{dinof_model, model_arg};
use super::options::{dinof_sample_options, sample_options};
use super::ptr::{optional_out, out_slice, total_len, write_struct};
use super::status::{dinof_status, guard, Failure, FfiResult};
use crate::model::{Progress, SampleReport};

/// Where a run is. Passed to progress callbacks (library-owned, valid during the callback only) and filled by
/// dinof_job_progress (caller-owned; the caller sets struct_size).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct dinof_progress {
    /// In callbacks: sizeof(dinof_progress) of the library. Filled by the caller for dinof_job_progress.
    pub struct_size: u32,
    pub phase: dinof_phase,
    /// Overall fraction in [0, 1].
    pub fraction: f64,
    /// Step within the current batch of images, and that batch's number of steps.
    pub step: usize,
    pub steps: usize,
    /// Images finished so far, and in total.
    pub done: usize,
    pub total: usize,
}

/// Progress callback: called on the sampling thread (the caller's for dinof_sample, the job's thread for jobs)
/// before the flow and after every step. Return 0 to continue, nonzero to cancel (the call then fails with
/// DINOF_STATUS_CANCELLED). `progress` is valid during the call only. Must not throw or longjmp.
pub type dinof_progress_fn = Option<unsafe extern "C" fn(progress: *const dinof_progress, user: *mut c_void) -> c_int>;

/// What a run did and the settings it resolved to. The caller sets struct_size.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct dinof_sample_report {
    /// sizeof(dinof_sample_report) as the caller compiled it.
    pub struct_size: u32,
    /// The seed actually used (the drawn one when random_seed was set): rerun with it to get the same images.
    pub seed: u64,
    /// Score-network evaluations per image.
    pub score_evals: usize,
    /// Flow evaluations per image (1 for the flow start, else 0).
    pub flow_evals: usize,
    /// Backend calls made (each covers a whole batch).
    pub network_calls: usize,
    /// Wall time of the run, and the part spent inside networks.
    pub seconds: f64,
    pub network_seconds: f64,
    /// The resolved sampler settings.
    pub start: dinof_start,
    /// Start time: the flow's T_m, or 1 for the prior start.
    pub t_start: f64,
    pub temperature: f64,
    pub method: dinof_method,
    pub predictor: dinof_predictor,
    pub corrector: dinof_corrector,
    pub solver: dinof_solver,
    pub snr: f64,
    pub corrector_steps: u32,
    pub langevin_norm: dinof_langevin_norm,
    pub steps: u32,
    pub denoise: bool,
}

impl dinof_progress {
    pub(crate) fn from_rust(p: &Progress) -> Self {
        dinof_progress {
            struct_size: std::mem::size_of::<dinof_progress>() as u32,
            phase: p.phase.into(),
            fraction: p.fraction(),
            step: p.step,
            steps: p.steps,
            done: p.done,
            total: p.total,
        }
    }
}

impl dinof_sample_report {
    pub(crate) fn from_rust(r: &SampleReport) -> Self {
        let c = &r.config;
        dinof_sample_report {
            struct_size: std::mem::size_of::<dinof_sample_report>() as u32,
            seed: r.seed,
            score_evals: r.score_evals,
            flow_evals: r.flow_evals,
            network_calls: r.network_calls,
            seconds: r.seconds,
            network_seconds: r.network_seconds,
            start: dinof_start::from_rust(c.start),
            t_start: c.t_start,
            temperature: c.temperature,
            method: dinof_method::from_rust(c.method),
            predictor: dinof_predictor::from_rust(c.predictor),
            corrector: dinof_corrector::from_rust(c.corrector),
            solver: dinof_solver::from_rust(c.solver),
            snr: c.snr,
            corrector_steps: c.corrector_steps as u32,
            langevin_norm: dinof_langevin_norm::from_rust(c.langevin_norm),
            steps: c.steps as u32,
            denoise: c.denoise,
        }
    }
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
                // SAFETY: the caller gave us this function and user pointer for exactly this purpose.
                unsafe { f(&c, self.user) == 0 }
            }
        }
    }
}

/// Writes the report into the caller's optional report struct.
///
/// # Safety
/// `out` must have passed `optional_out`.
pub(crate) unsafe fn write_report(out: Option<*mut dinof_sample_report>, r: &SampleReport) {
    if let Some(p) = out {
        write_struct(p, dinof_sample_report::from_rust(r));
    }
}

enum Output {
    Float(*mut f32),
    Rgba8(*mut u8),
}

/// The shared body of dinof_sample and dinof_sample_rgba8: validate everything before running anything.
unsafe fn sample_into(
    model: *const dinof_model,
    opts: *const dinof_sample_options,
    out: Output,
    out_len: usize,
    progress: dinof_progress_fn,
    user: *mut c_void,
    report: *mut dinof_sample_report,
) -> FfiResult<()> {
    let m = model_arg(model)?;
    let o = sample_options(opts)?;
    let report = optional_out(report, "report (dinof_sample_report)")?;
    let cb = Callback { f: progress, user };
    let mut observe = |p: &Progress| cb.call(p);
    let r = match out {
        Output::Float(ptr) => {
            let buf = out_slice(ptr, out_len, total_len(o.n, m.model.image_len())?, "out")?;
            m.model.sample(&o, buf, &mut observe)?
        }
        Output::Rgba8(ptr) => {
            if o.raw {
                return Err(Failure::invalid("raw (SDE-space) output has no RGBA8 form: use dinof_sample"));
            }
            let info = m.model.info();
            let buf = out_slice(ptr, out_len, total_len(o.n, info.height * info.width * 4)?, "out")?;
            m.model.sample_rgba8(&o, buf, &mut observe)?
        }
    };
    write_report(report, &r);
    Ok(())
}

/// Generates opts->n images into `out`: n x C x H x W floats (NCHW), pixels in [0, 1] (SDE-space values when
/// opts->raw). `out_len` counts floats and must be >= n x dinof_model_info.image_len. `progress` (may be NULL) is
/// called on this thread with `user`; returning nonzero cancels (DINOF_STATUS_CANCELLED). `report` may be NULL.
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
    guard(|| sample_into(model, opts, Output::Float(out), out_len, progress, user, report))
}

/// Like dinof_sample, but packs the images as RGBA8, row-major, n x H x W x 4 bytes (1 channel -> grey, 3 -> RGB,
/// 4 -> RGBA; alpha 255 otherwise): what a texture upload wants. `out_len` counts bytes and must be
/// >= n x dinof_model_info.rgba8_len.
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
    guard(|| sample_into(model, opts, Output::Rgba8(out), out_len, progress, user, report))
}
