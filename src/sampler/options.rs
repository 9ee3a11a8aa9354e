//! The sampler's choices, shared by the manifest defaults, the Rust API, the C ABI and the CLI.

use crate::names::named_enum;
pub use crate::sde::Schedule;

named_enum!(
    /// Where the reverse process starts.
    Start {
        /// z ~ N(0, τ²I) → flow → x(T_m), then reverse steps from T_m (DiNof).
        Flow = "flow",
        /// x(1) from the SDE prior, then reverse steps from 1 (plain diffusion).
        Prior = "prior",
        /// z ~ N(0, τ²I) → the fitted Gaussian of x(T_m) (an affine map, the bundle's `gaussians`), then reverse
        /// steps from T_m: the baseline that shows what the flow adds.
        Gaussian = "gaussian",
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
    /// Solvers. Probability-flow ODE (method `ode`): Euler and Heun in t, DPM-Solver++(2M), EDM's Heun in σ
    /// (with optional churn), adaptive Dormand–Prince RK45. Reverse SDE (method `sde`, in place of the
    /// predictor/corrector): the stochastic DPM-Solver++(2M).
    Solver {
        Euler = "euler",
        Heun = "heun",
        Dpmpp2m = "dpmpp_2m",
        Dpmpp2mSde = "dpmpp_2m_sde",
        EdmHeun = "edm_heun",
        Rk45 = "rk45",
    }
);

impl Start {
    /// Whether the start maps z through a network at T_m (a flow or a Gaussian) rather than drawing from the prior.
    pub fn from_t_m(self) -> bool {
        matches!(self, Start::Flow | Start::Gaussian)
    }

    /// The manifest array holding this start's networks ("flows" or "gaussians"); None for the prior.
    pub fn array(self) -> Option<&'static str> {
        match self {
            Start::Flow => Some("flows"),
            Start::Gaussian => Some("gaussians"),
            Start::Prior => None,
        }
    }
}

impl Solver {
    /// The method a solver belongs to: only `dpmpp_2m_sde` integrates the reverse SDE.
    pub fn method(self) -> Method {
        if self == Solver::Dpmpp2mSde {
            Method::Sde
        } else {
            Method::Ode
        }
    }

    /// The grid a solver gets unless the caller (or the bundle, for its own solver) names one: the one it is accurate
    /// with at few steps (docs/solver-convergence.md).
    pub fn default_schedule(self) -> Schedule {
        match self {
            // Measured at 20 steps over VE/VP/sub-VP × flow/prior starts: log-SNR is Euler's least bad grid, EDM
            // gives Heun in t the smallest worst case; Heun in σ̃ is within 2 % on the cosine grid only (EDM's own
            // ρ = 7 grid leaves it 4–8 % off from the prior).
            Solver::Euler => Schedule::LogSnr,
            Solver::Heun => Schedule::Edm,
            Solver::Dpmpp2m | Solver::Dpmpp2mSde => Schedule::LogSnr,
            Solver::EdmHeun => Schedule::Cosine,
            // rk45 chooses its own steps; the grid plays no part.
            Solver::Rk45 => Schedule::Time,
        }
    }

    /// The steps a fixed-step solver gets unless the caller (or the bundle, for its own sampler) names them: the
    /// fewest, a multiple of 5, whose sample sd is within 2.6 % of the data's from there on, on all six exact-score
    /// cases (VE, VP, sub-VP × flow start at T_m 0.6 and prior start) with the default grid: 3 % (the budget of
    /// `tests/solver_defaults.rs`) less 3 standard errors of that test's stochastic estimate. The prior start's long
    /// log-SNR range is what needs them; from a flow or Gaussian start they are generous (docs/solver-convergence.md,
    /// "Default steps"). rk45 chooses its own: `None`.
    pub fn default_steps(self) -> Option<usize> {
        match self {
            Solver::Euler => Some(135), // first order: 20 steps are 16 % off
            Solver::Heun => Some(45),
            Solver::Dpmpp2m => Some(20),
            Solver::Dpmpp2mSde => Some(35),
            Solver::EdmHeun => Some(20),
            Solver::Rk45 => None,
        }
    }
}

named_enum!(
    /// How the Langevin step size averages gradient/noise norms. `PerSample` keeps every sample independent of its
    /// batch-mates (our default); `Batch` reproduces score_sde, whose batch-averaged norms couple the samples.
    LangevinNorm { PerSample = "per_sample", Batch = "batch" }
);

/// The fully resolved sampler settings of one run (bundle defaults overlaid with the caller's choices).
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerConfig {
    pub start: Start,
    /// Start time of the reverse process: the flow's (or Gaussian's) T_m, or 1 for the prior start.
    pub t_start: f64,
    pub temperature: f64,
    pub method: Method,
    pub predictor: Predictor,
    pub corrector: Corrector,
    pub snr: f64,
    pub corrector_steps: usize,
    pub langevin_norm: LangevinNorm,
    pub solver: Solver,
    /// Grid of the fixed-step solvers (ignored by rk45, which chooses its own steps).
    pub schedule: Schedule,
    /// rk45's tolerances on the f32 state.
    pub rtol: f64,
    pub atol: f64,
    /// EDM's S_churn (0 = deterministic); edm_heun only.
    pub churn: f64,
    pub steps: usize,
    pub denoise: bool,
    /// Classifier-free guidance scale w: the score used is (1 + w)·s(x|y) − w·s(x|null); 0 = none (one
    /// evaluation per score call, the plain conditional score).
    pub guidance: f64,
}

impl SamplerConfig {
    /// Whether the predictor/corrector loop runs (the SDE method without an SDE solver).
    pub fn predictor_corrector(&self) -> bool {
        self.method == Method::Sde && self.solver.method() != Method::Sde
    }
}
