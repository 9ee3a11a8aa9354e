//! The reverse-time loops: score_sde order (corrector, then predictor) for the SDE; Euler/Heun, DPM-Solver++ and
//! EDM Heun on a schedule's grid; adaptive RK45 (`rk45.rs`). The loops own the order of calls; the update rules
//! live in `steps.rs`; networks are reached through `ScoreFn` only.

pub mod choices;
pub mod options;
pub mod rk45;
pub(crate) mod score;
pub mod steps;

use crate::error::{try_capacity, Error, Result};
use crate::rng::SampleRng;
use crate::sde::Sde;
pub use choices::{resolve, BundleFacts, SamplerChoices, MAX_CORRECTOR_STEPS, MAX_STEPS};
pub use options::*;

/// The score network as the loop sees it: s(x, t) for a whole lockstep batch at one time t.
pub trait ScoreFn {
    fn eval(&mut self, x: &[f32], t: f64, out: &mut [f32]) -> Result<()>;
    /// s(x_k, t_k) with a time per sample (adaptive solvers: each sample follows its own steps).
    fn eval_each(&mut self, x: &[f32], t: &[f64], out: &mut [f32]) -> Result<()>;
}

/// Counts the evaluations a loop makes, so reports state calls made, not calls planned.
struct Counted<'a> {
    inner: &'a mut dyn ScoreFn,
    evals: usize,
}

impl ScoreFn for Counted<'_> {
    fn eval(&mut self, x: &[f32], t: f64, out: &mut [f32]) -> Result<()> {
        self.evals += 1;
        self.inner.eval(x, t, out)
    }
    fn eval_each(&mut self, x: &[f32], t: &[f64], out: &mut [f32]) -> Result<()> {
        self.evals += 1;
        self.inner.eval_each(x, t, out)
    }
}

/// Phase of a run, reported to progress observers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub enum Phase {
    /// Mapping z through the flow to x(T_m).
    Flow = 0,
    /// Reverse-time steps.
    Steps = 1,
    /// The final noise-free (Tweedie) evaluation of the ODE sampler.
    Denoise = 2,
}

impl crate::names::Named for Phase {
    const ALL: &'static [Phase] = &[Phase::Flow, Phase::Steps, Phase::Denoise];
    fn name(self) -> &'static str {
        match self {
            Phase::Flow => "flow",
            Phase::Steps => "steps",
            Phase::Denoise => "denoise",
        }
    }
}

/// Buffers of one lockstep batch, allocated once per chunk and reused by every step.
pub struct Batch {
    pub dim: usize,
    pub x: Vec<f32>,
    pub x_mean: Vec<f32>,
    s: Vec<f32>,
    z: Vec<f32>,
    d: Vec<f32>,
    x2: Vec<f32>,
    pub rngs: Vec<SampleRng>,
}

impl Batch {
    pub fn new(dim: usize, rngs: Vec<SampleRng>) -> Self {
        let n = dim * rngs.len();
        Batch {
            dim,
            x: vec![0.0; n],
            x_mean: vec![0.0; n],
            s: vec![0.0; n],
            z: vec![0.0; n],
            d: Vec::new(),
            x2: Vec::new(),
            rngs,
        }
    }

    /// Buffers for up to `capacity` images, allocated fallibly and all reserved before any is touched, so a request
    /// too large for the process is refused (Error::OutOfMemory) instead of aborting it. `ode`/`two_stage` reserve the
    /// ODE solver's buffers too, so no step allocates.
    pub fn try_new(dim: usize, capacity: usize, ode: bool, two_stage: bool) -> Result<Self> {
        let len =
            dim.checked_mul(capacity).ok_or_else(|| Error::OutOfMemory { what: "a batch".into(), bytes: u128::MAX })?;
        let buf = |what: &str| try_capacity::<f32>(len, what);
        let (mut x, mut x_mean, mut s, mut z) =
            (buf("the batch's x")?, buf("the batch's means")?, buf("the batch's scores")?, buf("the batch's noise")?);
        let d = if ode { buf("the ODE derivative")? } else { Vec::new() };
        let x2 = if two_stage { buf("the solver's second state")? } else { Vec::new() };
        let rngs = try_capacity(capacity, "per-image noise streams")?;
        for v in [&mut x, &mut x_mean, &mut s, &mut z] {
            v.resize(len, 0.0);
        }
        Ok(Batch { dim, x, x_mean, s, z, d, x2, rngs })
    }

    /// `try_new` with the buffers `cfg`'s loop uses, so that no step allocates (rk45 reserves its stages itself).
    pub fn for_config(dim: usize, capacity: usize, cfg: &SamplerConfig) -> Result<Self> {
        let fixed_step = !cfg.predictor_corrector();
        let derivative = cfg.method == Method::Ode || (fixed_step && cfg.solver == Solver::Dpmpp2mSde);
        // Every fixed-step solver writes its next state (or keeps the previous x̂0) beside x; rk45 has its own.
        let two_stage = fixed_step && cfg.solver != Solver::Rk45;
        Self::try_new(dim, capacity, derivative, two_stage)
    }

    /// Reuses the buffers for the images of `rngs` (at most the capacity; nothing is reallocated).
    pub fn reset(&mut self, rngs: impl Iterator<Item = SampleRng>) {
        self.rngs.clear();
        self.rngs.extend(rngs);
        let len = self.rngs.len() * self.dim;
        for v in [&mut self.x, &mut self.x_mean, &mut self.s, &mut self.z] {
            v.resize(len, 0.0);
        }
    }

    pub fn len(&self) -> usize {
        self.rngs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rngs.is_empty()
    }

    /// Each sample draws from its own stream: the noise never depends on batch-mates.
    pub fn fill_noise(buf: &mut [f32], rngs: &mut [SampleRng], dim: usize, scale: f32) {
        for (k, rng) in rngs.iter_mut().enumerate() {
            rng.fill_normal(&mut buf[k * dim..(k + 1) * dim], scale);
        }
    }

    /// Initialises x with N(0, scale²) noise (prior start, or the flow's z).
    pub fn draw_x(&mut self, scale: f32) {
        Self::fill_noise(&mut self.x, &mut self.rngs, self.dim, scale);
    }
}

/// Progress inside one chunk: (phase, step, steps). Returns false to cancel.
pub type StepObserver<'a> = dyn FnMut(Phase, usize, usize) -> bool + 'a;

/// Runs the reverse process on `b.x` (holding x(t_start)) and leaves the result in `b.x`. Returns the score
/// evaluations made per sample.
pub fn run(
    sde: &Sde,
    cfg: &SamplerConfig,
    b: &mut Batch,
    score: &mut dyn ScoreFn,
    observe: &mut StepObserver<'_>,
) -> Result<usize> {
    let mut counted = Counted { inner: score, evals: 0 };
    let score = &mut counted;
    match (cfg.method, cfg.solver) {
        (Method::Sde, Solver::Dpmpp2mSde) | (Method::Ode, Solver::Dpmpp2m) => run_dpmpp(sde, cfg, b, score, observe)?,
        (Method::Sde, _) => run_sde(sde, cfg, b, score, observe)?,
        (Method::Ode, Solver::Euler | Solver::Heun) => run_ode(sde, cfg, b, score, observe)?,
        (Method::Ode, Solver::EdmHeun) => run_edm(sde, cfg, b, score, observe)?,
        (Method::Ode, Solver::Rk45) => rk45::run(sde, cfg, b, score, observe)?,
        // Never resolved (`SamplerChoices::check` states the rule); only a hand-made config gets here.
        (Method::Ode, Solver::Dpmpp2mSde) => return Err(Error::Internal("method ode with solver dpmpp_2m_sde".into())),
    }
    Ok(counted.evals)
}

fn report_step(observe: &mut StepObserver<'_>, phase: Phase, step: usize, steps: usize) -> Result<()> {
    if observe(phase, step, steps) {
        Ok(())
    } else {
        Err(Error::Cancelled)
    }
}

fn run_sde(
    sde: &Sde,
    cfg: &SamplerConfig,
    b: &mut Batch,
    score: &mut dyn ScoreFn,
    observe: &mut StepObserver<'_>,
) -> Result<()> {
    let grid = sde.time_grid(cfg.t_start, cfg.steps);
    let dim = b.dim;
    for k in 0..cfg.steps {
        let (t, t_next) = (grid[k], grid[k + 1]);
        if cfg.corrector == Corrector::Langevin {
            let alpha = sde.langevin_alpha(t);
            for _ in 0..cfg.corrector_steps {
                score.eval(&b.x, t, &mut b.s)?;
                Batch::fill_noise(&mut b.z, &mut b.rngs, dim, 1.0);
                steps::langevin(
                    alpha,
                    cfg.snr,
                    cfg.langevin_norm == LangevinNorm::PerSample,
                    dim,
                    &mut b.x,
                    &mut b.x_mean,
                    &b.s,
                    &b.z,
                );
            }
        }
        if cfg.predictor != Predictor::None {
            score.eval(&b.x, t, &mut b.s)?;
            Batch::fill_noise(&mut b.z, &mut b.rngs, dim, 1.0);
            match cfg.predictor {
                Predictor::ReverseDiffusion => {
                    steps::reverse_diffusion(sde, t, t_next, &mut b.x, &mut b.x_mean, &b.s, &b.z)
                }
                Predictor::EulerMaruyama => {
                    steps::euler_maruyama(sde, t, t - t_next, &mut b.x, &mut b.x_mean, &b.s, &b.z)
                }
                Predictor::Ancestral => steps::ancestral(sde, t, t_next, &mut b.x, &mut b.x_mean, &b.s, &b.z),
                Predictor::None => unreachable!(),
            }
        }
        report_step(observe, Phase::Steps, k + 1, cfg.steps)?;
    }
    if cfg.denoise {
        b.x.copy_from_slice(&b.x_mean);
    }
    Ok(())
}

fn run_ode(
    sde: &Sde,
    cfg: &SamplerConfig,
    b: &mut Batch,
    score: &mut dyn ScoreFn,
    observe: &mut StepObserver<'_>,
) -> Result<()> {
    let grid = sde.schedule_grid(cfg.schedule, cfg.t_start, cfg.steps);
    let n = b.x.len();
    if cfg.solver == Solver::Heun {
        b.d.resize(n, 0.0); // the derivative; Euler steps from x into x2 directly
    }
    b.x2.resize(n, 0.0);
    for k in 0..cfg.steps {
        let (t, t_next) = (grid[k], grid[k + 1]);
        let h = t_next - t;
        score.eval(&b.x, t, &mut b.s)?;
        match cfg.solver {
            // k-diffusion's Euler: in the scaled variables x̃ = x/α and σ̃ (= DDIM), where the ODE is linear in σ̃
            // at large noise, so the step is exact there; Euler in t on the probability-flow ODE was 86 % off at 20
            // steps on VE from the prior (docs/solver-convergence.md).
            Solver::Euler => {
                steps::edm_step(sde, t, t_next, &b.x, &b.s, None, &mut b.x2);
                std::mem::swap(&mut b.x, &mut b.x2);
            }
            _ => {
                // Heun (the only other solver `run` sends here), in t on the probability-flow ODE. x2 = Euler guess;
                // then x += h/2 (d + d(x2, t_next)).
                steps::ode_derivative(sde, t, &b.x, &b.s, &mut b.d);
                b.x2.copy_from_slice(&b.x);
                steps::axpy(&mut b.x2, h, &b.d);
                steps::axpy(&mut b.x, 0.5 * h, &b.d);
                score.eval(&b.x2, t_next, &mut b.s)?;
                steps::ode_derivative(sde, t_next, &b.x2, &b.s, &mut b.d);
                steps::axpy(&mut b.x, 0.5 * h, &b.d);
            }
        }
        report_step(observe, Phase::Steps, k + 1, cfg.steps)?;
    }
    finish(sde, cfg, b, score, observe)
}

/// The last, noise-free evaluation at eps (Tweedie's denoiser) of the solvers that end there.
fn finish(
    sde: &Sde,
    cfg: &SamplerConfig,
    b: &mut Batch,
    score: &mut dyn ScoreFn,
    observe: &mut StepObserver<'_>,
) -> Result<()> {
    if cfg.denoise {
        score.eval(&b.x, sde.eps, &mut b.s)?;
        steps::tweedie(sde, sde.eps, &mut b.x, &b.s);
        report_step(observe, Phase::Denoise, 1, 1)?;
    }
    Ok(())
}

/// DPM-Solver++(2M), deterministic or stochastic: one evaluation per step, the previous step's x̂0 kept in `x2`.
fn run_dpmpp(
    sde: &Sde,
    cfg: &SamplerConfig,
    b: &mut Batch,
    score: &mut dyn ScoreFn,
    observe: &mut StepObserver<'_>,
) -> Result<()> {
    let grid = sde.schedule_grid(cfg.schedule, cfg.t_start, cfg.steps);
    let n = b.x.len();
    b.d.resize(n, 0.0);
    b.x2.resize(n, 0.0);
    let stochastic = cfg.solver == Solver::Dpmpp2mSde;
    let mut h_prev = None;
    for k in 0..cfg.steps {
        let (t, t_next) = (grid[k], grid[k + 1]);
        score.eval(&b.x, t, &mut b.s)?;
        steps::data_prediction(sde, t, &b.x, &b.s, &mut b.d);
        let prev = h_prev.map(|h| (h, &b.x2[..]));
        if stochastic {
            Batch::fill_noise(&mut b.z, &mut b.rngs, b.dim, 1.0);
            steps::dpmpp_2m_sde(sde, t, t_next, prev, &mut b.x, &b.d, &b.z);
        } else {
            steps::dpmpp_2m(sde, t, t_next, prev, &mut b.x, &b.d);
        }
        std::mem::swap(&mut b.d, &mut b.x2);
        h_prev = Some(sde.log_snr(t_next) - sde.log_snr(t));
        report_step(observe, Phase::Steps, k + 1, cfg.steps)?;
    }
    finish(sde, cfg, b, score, observe)
}

/// EDM's sampler (Karras et al. 2022, Algorithm 2): optional churn, then a Heun step in σ̃. Churn never raises the
/// noise above the start's, so the score is only asked where it was trained.
fn run_edm(
    sde: &Sde,
    cfg: &SamplerConfig,
    b: &mut Batch,
    score: &mut dyn ScoreFn,
    observe: &mut StepObserver<'_>,
) -> Result<()> {
    let grid = sde.schedule_grid(cfg.schedule, cfg.t_start, cfg.steps);
    let n = b.x.len();
    b.d.resize(n, 0.0);
    b.x2.resize(n, 0.0);
    let gamma = (cfg.churn / cfg.steps as f64).min(std::f64::consts::SQRT_2 - 1.0);
    let lambda_start = sde.log_snr(cfg.t_start);
    for k in 0..cfg.steps {
        let (mut t, t_next) = (grid[k], grid[k + 1]);
        if gamma > 0.0 {
            // σ̃ = e^(−λ): raising σ̃ by (1 + γ) lowers λ by ln(1 + γ).
            let t_hat = sde.t_of_log_snr((sde.log_snr(t) - gamma.ln_1p()).max(lambda_start)).min(cfg.t_start);
            Batch::fill_noise(&mut b.z, &mut b.rngs, b.dim, 1.0);
            steps::edm_churn(sde, t, t_hat, &mut b.x, &b.z);
            t = t_hat;
        }
        // Euler guess into x2 with s(x, t) kept in d, then Heun's correction with s(x2, t_next).
        score.eval(&b.x, t, &mut b.d)?;
        steps::edm_step(sde, t, t_next, &b.x, &b.d, None, &mut b.x2);
        score.eval(&b.x2, t_next, &mut b.s)?;
        steps::edm_step(sde, t, t_next, &b.x, &b.d, Some(&b.s), &mut b.x2);
        std::mem::swap(&mut b.x, &mut b.x2);
        report_step(observe, Phase::Steps, k + 1, cfg.steps)?;
    }
    finish(sde, cfg, b, score, observe)
}

/// Score evaluations per sample that a fixed-step configuration makes; `None` for rk45, whose count depends on
/// the run (the loops return the count they made).
pub fn score_evals(cfg: &SamplerConfig) -> Option<usize> {
    if cfg.predictor_corrector() {
        let c = if cfg.corrector == Corrector::Langevin { cfg.corrector_steps } else { 0 };
        let p = usize::from(cfg.predictor != Predictor::None);
        return Some(cfg.steps * (c + p));
    }
    let per = match cfg.solver {
        Solver::Euler | Solver::Dpmpp2m | Solver::Dpmpp2mSde => 1,
        Solver::Heun | Solver::EdmHeun => 2,
        Solver::Rk45 => return None,
    };
    Some(cfg.steps * per + usize::from(cfg.denoise))
}
