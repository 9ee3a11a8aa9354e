//! The C side's enumerations, as fixed-width integers: `typedef int32_t dinof_start;` plus DINOF_START_* constants.
//! A C enum's size is implementation-defined, which a binding (C#, Unreal) cannot mirror reliably; an int32_t it can.
//! Values are fixed forever. In option structs, 0 always means "the bundle's default".
//!
//! Values arrive from C as plain integers and are validated here; unknown ones are refused with
//! DINOF_STATUS_BAD_ENUM_VALUE naming the field.

use super::status::{Failure, FfiResult, DINOF_STATUS_BAD_ENUM_VALUE};
use crate::names::Named;

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
/// The solver's own grid: log-SNR for euler, dpmpp_2m and dpmpp_2m_sde, EDM for heun, cosine for edm_heun (a
/// bundle's grid when the solver is the bundle's own).
pub const DINOF_SCHEDULE_DEFAULT: dinof_schedule = 0;
pub const DINOF_SCHEDULE_TIME: dinof_schedule = 1;
/// Uniform in log-SNR.
pub const DINOF_SCHEDULE_LOGSNR: dinof_schedule = 2;
/// EDM's rho = 7 sigma schedule.
pub const DINOF_SCHEDULE_EDM: dinof_schedule = 3;
/// Uniform in atan(sigma~/0.5): the cosine schedule at EDM's sigma_data.
pub const DINOF_SCHEDULE_COSINE: dinof_schedule = 4;

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

/// The C value of a named Rust value: 1 + its position in `Named::ALL` (declaration order; 0 = DEFAULT, "not
/// chosen"). Appending a Rust value appends a C value; the header's DINOF_* constants are checked against this
/// rule by `header_constants_follow_the_rust_order`.
pub(crate) fn to_c<T: Named>(v: T) -> i32 {
    1 + T::ALL.iter().position(|&x| x == v).unwrap_or(usize::MAX - 1) as i32
}

/// Validates a raw value read from a C struct: 0 = not chosen (`None`), 1..=len a value, anything else
/// BAD_ENUM_VALUE naming `field` and the valid values.
pub(crate) fn from_c<T: Named>(v: i32, field: &str) -> FfiResult<Option<T>> {
    match usize::try_from(v) {
        Ok(0) => Ok(None),
        Ok(k) if k <= T::ALL.len() => Ok(Some(T::ALL[k - 1])),
        _ => Err(Failure::new(
            DINOF_STATUS_BAD_ENUM_VALUE,
            format!("{field} = {v} is not a valid value (valid: 0..={})", T::ALL.len()),
        )),
    }
}

/// Denoise as a C enum: DINOF_DENOISE_ON = 1, _OFF = 2.
impl Named for bool {
    const ALL: &'static [bool] = &[true, false];
    fn name(self) -> &'static str {
        if self {
            "on"
        } else {
            "off"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{BackendKind, ExecutionProvider};
    use crate::ffi::status::DINOF_STATUS_BAD_ENUM_VALUE;
    use crate::sampler::{Corrector, LangevinNorm, Method, Phase, Predictor, Schedule, Solver, Start};
    use crate::sde::SdeKind;

    #[test]
    fn raw_values_are_validated() {
        assert_eq!(from_c::<Start>(0, "start").unwrap(), None);
        assert_eq!(from_c::<Start>(2, "start").unwrap(), Some(Start::Prior));
        assert_eq!(from_c::<Start>(3, "start").unwrap(), Some(Start::Gaussian));
        let e = from_c::<Start>(4, "dinof_sample_options.start").unwrap_err();
        assert_eq!(e.status, DINOF_STATUS_BAD_ENUM_VALUE);
        assert!(e.message.contains("dinof_sample_options.start = 4"), "{}", e.message);
        assert_eq!(from_c::<Predictor>(-1, "p").unwrap_err().status, DINOF_STATUS_BAD_ENUM_VALUE);
        assert_eq!(from_c::<bool>(2, "denoise").unwrap(), Some(false));
    }

    /// The values of enum `T` against the header's constants DINOF_<prefix>_<NAME>: each named value has its
    /// constant with the value `to_c` gives, and every constant above 0 names a value (`extra` excepted).
    fn check_header<T: Named + std::fmt::Debug>(header: &str, prefix: &str, extra: &[&str]) {
        let consts: Vec<(String, i32)> = header
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("#define DINOF_{prefix}_")))
            .filter_map(|l| l.split_once(' ').map(|(n, v)| (n.to_string(), v.trim().parse().expect(l))))
            .filter(|(n, v)| *v > 0 && !extra.contains(&n.as_str()))
            .collect();
        for &v in T::ALL {
            let name = v.name().to_uppercase();
            assert!(
                consts.contains(&(name.clone(), to_c(v))),
                "{prefix}: {v:?} is {}, the header has no DINOF_{prefix}_{name} = {}",
                to_c(v),
                to_c(v)
            );
            assert_eq!(from_c::<T>(to_c(v), prefix).unwrap(), Some(v));
        }
        assert_eq!(consts.len(), T::ALL.len(), "{prefix}: header constants {consts:?}");
    }

    #[test]
    fn header_constants_follow_the_rust_order() {
        let header = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/include/dinof.h"));
        check_header::<BackendKind>(header, "BACKEND", &[]);
        check_header::<ExecutionProvider>(header, "EXECUTION_PROVIDER", &[]);
        check_header::<Start>(header, "START", &[]);
        check_header::<Method>(header, "METHOD", &[]);
        check_header::<Predictor>(header, "PREDICTOR", &[]);
        check_header::<Corrector>(header, "CORRECTOR", &[]);
        check_header::<Solver>(header, "SOLVER", &[]);
        check_header::<Schedule>(header, "SCHEDULE", &[]);
        check_header::<LangevinNorm>(header, "LANGEVIN_NORM", &[]);
        check_header::<bool>(header, "DENOISE", &[]);
        check_header::<SdeKind>(header, "SDE", &[]);
        check_header::<Phase>(header, "PHASE", &["FINISHED"]);
    }
}
