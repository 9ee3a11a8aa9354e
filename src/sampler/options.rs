//! The sampler's choices, shared by the manifest defaults, the Rust API, the C ABI and the CLI.

use serde::{Deserialize, Serialize};

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($(#[$vm])* #[serde(rename = $s)] $var),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            pub fn name(self) -> &'static str { match self { $($name::$var => $s),+ } }
        }
        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($s => Ok($name::$var),)+
                    _ => Err(format!("unknown {} '{}' (expected one of: {})", stringify!($name).to_lowercase(), s,
                        [$($s),+].join(", "))),
                }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.name()) }
        }
    };
}

named_enum!(
    /// Where the reverse process starts.
    Start {
        /// z ~ N(0, τ²I) → flow → x(T_m), then reverse steps from T_m (DiNof).
        Flow = "flow",
        /// x(1) from the SDE prior, then reverse steps from 1 (plain diffusion).
        Prior = "prior",
    }
);

named_enum!(
    /// Reverse-time SDE (predictor/corrector) or probability-flow ODE.
    Method { Sde = "sde", Ode = "ode" }
);

named_enum!(
    Predictor {
        ReverseDiffusion = "reverse_diffusion",
        EulerMaruyama = "euler_maruyama",
        Ancestral = "ancestral",
        None = "none",
    }
);

named_enum!(
    Corrector { Langevin = "langevin", None = "none" }
);

named_enum!(
    /// Probability-flow ODE solvers.
    Solver { Euler = "euler", Heun = "heun" }
);

named_enum!(
    /// How the Langevin step size averages gradient/noise norms. `PerSample` keeps every sample independent of its
    /// batch-mates (our default); `Batch` reproduces score_sde, whose batch-averaged norms couple the samples.
    LangevinNorm { PerSample = "per_sample", Batch = "batch" }
);

/// The fully resolved sampler settings of one run (bundle defaults overlaid with the caller's choices).
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerConfig {
    pub start: Start,
    /// Start time of the reverse process: the flow's T_m, or 1 for the prior start.
    pub t_start: f64,
    pub temperature: f64,
    pub method: Method,
    pub predictor: Predictor,
    pub corrector: Corrector,
    pub snr: f64,
    pub corrector_steps: usize,
    pub langevin_norm: LangevinNorm,
    pub solver: Solver,
    pub steps: usize,
    pub denoise: bool,
}
