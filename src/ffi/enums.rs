//! The C side's enumerations, as fixed-width integers: `typedef int32_t dinof_start;` plus DINOF_START_* constants.
//! A C enum's size is implementation-defined, which a binding (C#, Unreal) cannot mirror reliably; an int32_t it can.
//! Values are fixed forever. In option structs, 0 always means "the bundle's default".
//!
//! Values arrive from C as plain integers and are validated here; unknown ones are refused with
//! DINOF_STATUS_BAD_ENUM_VALUE naming the field.

use super::status::{Failure, FfiResult, DINOF_STATUS_BAD_ENUM_VALUE};
use crate::backend::{BackendKind, ExecutionProvider};
use crate::sampler::{Corrector, LangevinNorm, Method, Phase, Predictor, Schedule, Solver, Start};
use crate::sde::SdeKind;

/// Which backend runs the networks (DINOF_BACKEND_*).
pub type dinof_backend = i32;
/// The default: tract.
pub const DINOF_BACKEND_DEFAULT: dinof_backend = 0;
/// Pure-Rust tract: CPU only, no native dependency.
pub const DINOF_BACKEND_TRACT: dinof_backend = 1;
/// ONNX Runtime (needs a build with the `ort` feature and libonnxruntime at run time).
pub const DINOF_BACKEND_ORT: dinof_backend = 2;
/// ONNX Runtime when the library has the `ort` feature and libonnxruntime is found and loads (load options'
/// ort_library_path, $ORT_DYLIB_PATH, or next to the dinof library), else tract; dinof_model_info.backend says
/// which. (ABI 2, appended)
pub const DINOF_BACKEND_AUTO: dinof_backend = 3;

/// ONNX Runtime execution provider, ignored by tract (DINOF_EXECUTION_PROVIDER_*).
pub type dinof_execution_provider = i32;
/// The default: CPU.
pub const DINOF_EXECUTION_PROVIDER_DEFAULT: dinof_execution_provider = 0;
pub const DINOF_EXECUTION_PROVIDER_CPU: dinof_execution_provider = 1;
pub const DINOF_EXECUTION_PROVIDER_CUDA: dinof_execution_provider = 2;
pub const DINOF_EXECUTION_PROVIDER_TENSORRT: dinof_execution_provider = 3;

/// Where the reverse process starts (DINOF_START_*).
pub type dinof_start = i32;
/// The bundle's default: flow when the bundle has one, else prior.
pub const DINOF_START_DEFAULT: dinof_start = 0;
/// z ~ N(0, temperature^2 I) through the flow to x(T_m), then reverse steps from T_m (DiNof).
pub const DINOF_START_FLOW: dinof_start = 1;
/// x(1) from the SDE prior, then reverse steps from 1 (plain diffusion).
pub const DINOF_START_PRIOR: dinof_start = 2;
/// z ~ N(0, temperature^2 I) through the fitted Gaussian of x(T_m) (the bundle's `gaussians`, see
/// dinof_model_info.gaussian_t_m) in the flow's place, then reverse steps from T_m: the baseline that shows what the
/// flow adds. (ABI 2, appended)
pub const DINOF_START_GAUSSIAN: dinof_start = 3;

/// Reverse-time SDE (predictor/corrector) or probability-flow ODE (DINOF_METHOD_*).
pub type dinof_method = i32;
/// The bundle's default (else SDE).
pub const DINOF_METHOD_DEFAULT: dinof_method = 0;
pub const DINOF_METHOD_SDE: dinof_method = 1;
pub const DINOF_METHOD_ODE: dinof_method = 2;

/// Predictor of the SDE method (DINOF_PREDICTOR_*).
pub type dinof_predictor = i32;
/// The bundle's default (else reverse diffusion for VE, Euler-Maruyama otherwise).
pub const DINOF_PREDICTOR_DEFAULT: dinof_predictor = 0;
pub const DINOF_PREDICTOR_REVERSE_DIFFUSION: dinof_predictor = 1;
pub const DINOF_PREDICTOR_EULER_MARUYAMA: dinof_predictor = 2;
pub const DINOF_PREDICTOR_ANCESTRAL: dinof_predictor = 3;
pub const DINOF_PREDICTOR_NONE: dinof_predictor = 4;

/// Corrector of the SDE method (DINOF_CORRECTOR_*).
pub type dinof_corrector = i32;
/// The bundle's default (else Langevin for VE, none otherwise).
pub const DINOF_CORRECTOR_DEFAULT: dinof_corrector = 0;
pub const DINOF_CORRECTOR_LANGEVIN: dinof_corrector = 1;
pub const DINOF_CORRECTOR_NONE: dinof_corrector = 2;

/// Fixed-step or adaptive solver (DINOF_SOLVER_*): Euler/Heun/DPM-Solver++(2M)/EDM Heun/RK45 for the ODE method,
/// DPM-Solver++(2M) SDE for the SDE method (in place of predictor/corrector). Values are appended, never renumbered.
pub type dinof_solver = i32;
/// The bundle's default (else Heun).
pub const DINOF_SOLVER_DEFAULT: dinof_solver = 0;
pub const DINOF_SOLVER_EULER: dinof_solver = 1;
pub const DINOF_SOLVER_HEUN: dinof_solver = 2;
/// DPM-Solver++(2M), data-prediction form (method ODE).
pub const DINOF_SOLVER_DPMPP_2M: dinof_solver = 3;
/// Its stochastic variant (method SDE).
pub const DINOF_SOLVER_DPMPP_2M_SDE: dinof_solver = 4;
/// EDM (Karras et al. 2022) Heun in sigma, optional churn (method ODE).
pub const DINOF_SOLVER_EDM_HEUN: dinof_solver = 5;
/// Adaptive Dormand-Prince RK45 with rtol/atol (method ODE).
pub const DINOF_SOLVER_RK45: dinof_solver = 6;

/// Time grid of the fixed-step solvers (DINOF_SCHEDULE_*).
pub type dinof_schedule = i32;
/// The bundle's default (else uniform in t).
pub const DINOF_SCHEDULE_DEFAULT: dinof_schedule = 0;
pub const DINOF_SCHEDULE_TIME: dinof_schedule = 1;
/// Uniform in log-SNR.
pub const DINOF_SCHEDULE_LOGSNR: dinof_schedule = 2;
/// EDM's rho = 7 sigma schedule.
pub const DINOF_SCHEDULE_EDM: dinof_schedule = 3;

/// How the Langevin step size averages norms: per sample (images independent of their batch-mates) or over the
/// batch (score_sde's behaviour) (DINOF_LANGEVIN_NORM_*).
pub type dinof_langevin_norm = i32;
/// The bundle's default (else per sample).
pub const DINOF_LANGEVIN_NORM_DEFAULT: dinof_langevin_norm = 0;
pub const DINOF_LANGEVIN_NORM_PER_SAMPLE: dinof_langevin_norm = 1;
pub const DINOF_LANGEVIN_NORM_BATCH: dinof_langevin_norm = 2;

/// Whether the last step returns the noise-free mean (DINOF_DENOISE_*).
pub type dinof_denoise = i32;
/// The bundle's default (else on).
pub const DINOF_DENOISE_DEFAULT: dinof_denoise = 0;
pub const DINOF_DENOISE_ON: dinof_denoise = 1;
pub const DINOF_DENOISE_OFF: dinof_denoise = 2;

/// The SDE a model was trained with (DINOF_SDE_*).
pub type dinof_sde = i32;
pub const DINOF_SDE_VE: dinof_sde = 1;
pub const DINOF_SDE_VP: dinof_sde = 2;
pub const DINOF_SDE_SUBVP: dinof_sde = 3;

/// What a run is doing, in progress reports (DINOF_PHASE_*).
pub type dinof_phase = i32;
/// A job that has not reported its first step yet.
pub const DINOF_PHASE_PENDING: dinof_phase = 0;
/// Mapping z through the flow to x(T_m).
pub const DINOF_PHASE_FLOW: dinof_phase = 1;
/// Reverse-time steps.
pub const DINOF_PHASE_STEPS: dinof_phase = 2;
/// The final noise-free evaluation of the ODE sampler.
pub const DINOF_PHASE_DENOISE: dinof_phase = 3;
/// A job that has finished (successfully or not; dinof_job_wait tells which).
pub const DINOF_PHASE_FINISHED: dinof_phase = 4;

/// Severity of a log message (DINOF_LOG_*); a log callback receives levels up to the one it asked for.
pub type dinof_log_level = i32;
pub const DINOF_LOG_ERROR: dinof_log_level = 1;
pub const DINOF_LOG_WARN: dinof_log_level = 2;
pub const DINOF_LOG_INFO: dinof_log_level = 3;
pub const DINOF_LOG_DEBUG: dinof_log_level = 4;

/// (C value, Rust value) pairs of each option enum; 0 (DEFAULT) is not listed, it means "not chosen".
pub(crate) const BACKENDS: &[(i32, BackendKind)] = &[
    (DINOF_BACKEND_TRACT, BackendKind::Tract),
    (DINOF_BACKEND_ORT, BackendKind::Ort),
    (DINOF_BACKEND_AUTO, BackendKind::Auto),
];
pub(crate) const PROVIDERS: &[(i32, ExecutionProvider)] = &[
    (DINOF_EXECUTION_PROVIDER_CPU, ExecutionProvider::Cpu),
    (DINOF_EXECUTION_PROVIDER_CUDA, ExecutionProvider::Cuda),
    (DINOF_EXECUTION_PROVIDER_TENSORRT, ExecutionProvider::TensorRt),
];
pub(crate) const STARTS: &[(i32, Start)] =
    &[(DINOF_START_FLOW, Start::Flow), (DINOF_START_PRIOR, Start::Prior), (DINOF_START_GAUSSIAN, Start::Gaussian)];
pub(crate) const METHODS: &[(i32, Method)] = &[(DINOF_METHOD_SDE, Method::Sde), (DINOF_METHOD_ODE, Method::Ode)];
pub(crate) const PREDICTORS: &[(i32, Predictor)] = &[
    (DINOF_PREDICTOR_REVERSE_DIFFUSION, Predictor::ReverseDiffusion),
    (DINOF_PREDICTOR_EULER_MARUYAMA, Predictor::EulerMaruyama),
    (DINOF_PREDICTOR_ANCESTRAL, Predictor::Ancestral),
    (DINOF_PREDICTOR_NONE, Predictor::None),
];
pub(crate) const CORRECTORS: &[(i32, Corrector)] =
    &[(DINOF_CORRECTOR_LANGEVIN, Corrector::Langevin), (DINOF_CORRECTOR_NONE, Corrector::None)];
pub(crate) const SOLVERS: &[(i32, Solver)] = &[
    (DINOF_SOLVER_EULER, Solver::Euler),
    (DINOF_SOLVER_HEUN, Solver::Heun),
    (DINOF_SOLVER_DPMPP_2M, Solver::Dpmpp2m),
    (DINOF_SOLVER_DPMPP_2M_SDE, Solver::Dpmpp2mSde),
    (DINOF_SOLVER_EDM_HEUN, Solver::EdmHeun),
    (DINOF_SOLVER_RK45, Solver::Rk45),
];
pub(crate) const SCHEDULES: &[(i32, Schedule)] = &[
    (DINOF_SCHEDULE_TIME, Schedule::Time),
    (DINOF_SCHEDULE_LOGSNR, Schedule::LogSnr),
    (DINOF_SCHEDULE_EDM, Schedule::Edm),
];
pub(crate) const NORMS: &[(i32, LangevinNorm)] =
    &[(DINOF_LANGEVIN_NORM_PER_SAMPLE, LangevinNorm::PerSample), (DINOF_LANGEVIN_NORM_BATCH, LangevinNorm::Batch)];
pub(crate) const DENOISE: &[(i32, bool)] = &[(DINOF_DENOISE_ON, true), (DINOF_DENOISE_OFF, false)];

/// Validates a raw value read from a C struct: 0 = not chosen (`None`), a listed value, or BAD_ENUM_VALUE naming
/// `field` and the valid values.
pub(crate) fn from_raw<T: Copy>(v: i32, field: &str, table: &[(i32, T)]) -> FfiResult<Option<T>> {
    if v == 0 {
        return Ok(None);
    }
    match table.iter().find(|(c, _)| *c == v) {
        Some((_, r)) => Ok(Some(*r)),
        None => {
            let valid: Vec<i32> = std::iter::once(0).chain(table.iter().map(|(c, _)| *c)).collect();
            Err(Failure::new(
                DINOF_STATUS_BAD_ENUM_VALUE,
                format!("{field} = {v} is not a valid value (valid: {valid:?})"),
            ))
        }
    }
}

/// The C value of a resolved setting (0 if it has none, which the tests rule out).
pub(crate) fn to_raw<T: PartialEq>(r: T, table: &[(i32, T)]) -> i32 {
    table.iter().find(|(_, x)| *x == r).map_or(0, |(c, _)| *c)
}

pub(crate) fn sde_raw(k: SdeKind) -> dinof_sde {
    match k {
        SdeKind::Ve => DINOF_SDE_VE,
        SdeKind::Vp => DINOF_SDE_VP,
        SdeKind::Subvp => DINOF_SDE_SUBVP,
    }
}

pub(crate) fn phase_raw(p: Phase) -> dinof_phase {
    match p {
        Phase::Flow => DINOF_PHASE_FLOW,
        Phase::Steps => DINOF_PHASE_STEPS,
        Phase::Denoise => DINOF_PHASE_DENOISE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::status::DINOF_STATUS_BAD_ENUM_VALUE;

    #[test]
    fn raw_values_are_validated() {
        assert_eq!(from_raw(0, "start", STARTS).unwrap(), None);
        assert_eq!(from_raw(2, "start", STARTS).unwrap(), Some(Start::Prior));
        assert_eq!(from_raw(3, "start", STARTS).unwrap(), Some(Start::Gaussian));
        let e = from_raw(4, "dinof_sample_options.start", STARTS).unwrap_err();
        assert_eq!(e.status, DINOF_STATUS_BAD_ENUM_VALUE);
        assert!(e.message.contains("dinof_sample_options.start = 4"), "{}", e.message);
        assert_eq!(from_raw(-1, "p", PREDICTORS).unwrap_err().status, DINOF_STATUS_BAD_ENUM_VALUE);
        assert_eq!(from_raw(2, "denoise", DENOISE).unwrap(), Some(false));
    }

    #[test]
    fn every_rust_value_has_a_c_value() {
        for &p in Predictor::ALL {
            assert_eq!(from_raw(to_raw(p, PREDICTORS), "p", PREDICTORS).unwrap(), Some(p));
        }
        for &m in Method::ALL {
            assert_ne!(to_raw(m, METHODS), 0);
        }
        for &s in Solver::ALL {
            assert_ne!(to_raw(s, SOLVERS), 0);
        }
        for &s in Schedule::ALL {
            assert_ne!(to_raw(s, SCHEDULES), 0);
        }
        for &s in Start::ALL {
            assert_ne!(to_raw(s, STARTS), 0);
        }
        for &n in LangevinNorm::ALL {
            assert_ne!(to_raw(n, NORMS), 0);
        }
    }
}
