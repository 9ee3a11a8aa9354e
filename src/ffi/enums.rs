//! The C side's enums. Values are fixed forever. In option structs, 0 always means "the bundle's default".
//!
//! Enum fields arrive from C as plain ints; Rust must never hold an out-of-range value in an enum type, so
//! option readers fetch them as `c_int` and convert here, refusing unknown values with DINOF_STATUS_BAD_ENUM_VALUE.

use std::ffi::c_int;

use super::status::{dinof_status, Failure, FfiResult};
use crate::backend::{BackendKind, ExecutionProvider};
use crate::sampler::{Corrector, LangevinNorm, Method, Phase, Predictor, Solver, Start};
use crate::sde::SdeKind;

/// Implements validation from a raw C int (0 = DEFAULT = `None`) and conversion back from the Rust value.
/// The enums themselves are written out below because cbindgen does not expand macros.
macro_rules! option_enum {
    ($c:ident => $rust:ty { $($var:ident => $rvar:expr),+ $(,)? }) => {
        impl $c {
            /// Validates a raw value read from a C struct; `field` names it in the error message.
            pub fn from_raw(v: c_int, field: &str) -> FfiResult<Option<$rust>> {
                if v == $c::Default as c_int {
                    return Ok(None);
                }
                $(if v == $c::$var as c_int {
                    return Ok(Some($rvar));
                })+
                Err(bad_enum(field, v, stringify!($c), &[$c::Default as c_int, $($c::$var as c_int),+]))
            }

            /// The C value of a resolved setting.
            pub fn from_rust(r: $rust) -> Self {
                $(if r == $rvar {
                    return $c::$var;
                })+
                $c::Default
            }
        }
    };
}

pub(crate) fn bad_enum(field: &str, v: c_int, ty: &str, valid: &[c_int]) -> Failure {
    Failure::new(dinof_status::BadEnumValue, format!("{field} = {v} is not a {ty} value (valid: {valid:?})"))
}

/// Which backend runs the networks.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum dinof_backend {
    /// The default: tract.
    Default = 0,
    /// Pure-Rust tract: CPU only, no native dependency.
    Tract = 1,
    /// ONNX Runtime (needs a build with the `ort` feature and libonnxruntime at run time).
    Ort = 2,
}
option_enum!(dinof_backend => BackendKind { Tract => BackendKind::Tract, Ort => BackendKind::Ort });

/// ONNX Runtime execution provider (ignored by tract).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum dinof_execution_provider {
    /// The default: CPU.
    Default = 0,
    Cpu = 1,
    Cuda = 2,
    Tensorrt = 3,
}
option_enum!(dinof_execution_provider => ExecutionProvider {
    Cpu => ExecutionProvider::Cpu, Cuda => ExecutionProvider::Cuda, Tensorrt => ExecutionProvider::TensorRt,
});

/// Where the reverse process starts.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum dinof_start {
    /// The bundle's default: flow when the bundle has one, else prior.
    Default = 0,
    /// z ~ N(0, temperature^2 I) through the flow to x(T_m), then reverse steps from T_m (DiNof).
    Flow = 1,
    /// x(1) from the SDE prior, then reverse steps from 1 (plain diffusion).
    Prior = 2,
}
option_enum!(dinof_start => Start { Flow => Start::Flow, Prior => Start::Prior });

/// Reverse-time SDE (predictor/corrector) or probability-flow ODE.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum dinof_method {
    /// The bundle's default (else SDE).
    Default = 0,
    Sde = 1,
    Ode = 2,
}
option_enum!(dinof_method => Method { Sde => Method::Sde, Ode => Method::Ode });

/// Predictor of the SDE method.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum dinof_predictor {
    /// The bundle's default (else reverse diffusion for VE, Euler-Maruyama otherwise).
    Default = 0,
    ReverseDiffusion = 1,
    EulerMaruyama = 2,
    Ancestral = 3,
    None = 4,
}
option_enum!(dinof_predictor => Predictor {
    ReverseDiffusion => Predictor::ReverseDiffusion, EulerMaruyama => Predictor::EulerMaruyama,
    Ancestral => Predictor::Ancestral, None => Predictor::None,
});

/// Corrector of the SDE method.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum dinof_corrector {
    /// The bundle's default (else Langevin for VE, none otherwise).
    Default = 0,
    Langevin = 1,
    None = 2,
}
option_enum!(dinof_corrector => Corrector { Langevin => Corrector::Langevin, None => Corrector::None });

/// Solver of the ODE method.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum dinof_solver {
    /// The bundle's default (else Heun).
    Default = 0,
    Euler = 1,
    Heun = 2,
}
option_enum!(dinof_solver => Solver { Euler => Solver::Euler, Heun => Solver::Heun });

/// How the Langevin step size averages norms: per sample (images independent of their batch-mates) or over the
/// batch (score_sde's behaviour).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum dinof_langevin_norm {
    /// The bundle's default (else per sample).
    Default = 0,
    PerSample = 1,
    Batch = 2,
}
option_enum!(dinof_langevin_norm => LangevinNorm { PerSample => LangevinNorm::PerSample, Batch => LangevinNorm::Batch });

/// Whether the last step returns the noise-free mean.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum dinof_denoise {
    /// The bundle's default (else on).
    Default = 0,
    On = 1,
    Off = 2,
}
option_enum!(dinof_denoise => bool { On => true, Off => false });

/// The SDE a model was trained with.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum dinof_sde {
    Ve = 1,
    Vp = 2,
    Subvp = 3,
}

impl From<SdeKind> for dinof_sde {
    fn from(k: SdeKind) -> Self {
        match k {
            SdeKind::Ve => dinof_sde::Ve,
            SdeKind::Vp => dinof_sde::Vp,
            SdeKind::Subvp => dinof_sde::Subvp,
        }
    }
}

/// What a run is doing, in progress reports.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum dinof_phase {
    /// A job that has not reported its first step yet.
    Pending = 0,
    /// Mapping z through the flow to x(T_m).
    Flow = 1,
    /// Reverse-time steps.
    Steps = 2,
    /// The final noise-free evaluation of the ODE sampler.
    Denoise = 3,
    /// A job that has finished (successfully or not; dinof_job_wait tells which).
    Finished = 4,
}

impl From<Phase> for dinof_phase {
    fn from(p: Phase) -> Self {
        match p {
            Phase::Flow => dinof_phase::Flow,
            Phase::Steps => dinof_phase::Steps,
            Phase::Denoise => dinof_phase::Denoise,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_values_are_validated() {
        assert_eq!(dinof_start::from_raw(0, "start").unwrap(), None);
        assert_eq!(dinof_start::from_raw(2, "start").unwrap(), Some(Start::Prior));
        let e = dinof_start::from_raw(3, "dinof_sample_options.start").unwrap_err();
        assert_eq!(e.status, dinof_status::BadEnumValue);
        assert!(e.message.contains("dinof_sample_options.start = 3"), "{}", e.message);
        assert_eq!(dinof_predictor::from_raw(-1, "p").unwrap_err().status, dinof_status::BadEnumValue);
        assert_eq!(dinof_denoise::from_raw(2, "denoise").unwrap(), Some(false));
    }

    #[test]
    fn every_rust_value_has_a_c_value() {
        for &p in Predictor::ALL {
            let c = dinof_predictor::from_rust(p);
            assert_eq!(dinof_predictor::from_raw(c as c_int, "p").unwrap(), Some(p));
        }
        for &m in Method::ALL {
            assert_ne!(dinof_method::from_rust(m), dinof_method::Default);
        }
        for &s in Solver::ALL {
            assert_ne!(dinof_solver::from_rust(s), dinof_solver::Default);
        }
    }
}
