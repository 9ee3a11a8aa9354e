//! The reverse-time loop: score_sde order (corrector, then predictor) for the SDE, Euler/Heun for the
//! probability-flow ODE. The loop owns the math; networks are reached through `ScoreFn` only.

pub mod options;
pub mod steps;

use crate::error::{try_capacity, Error, Result};
use crate::rng::SampleRng;
use crate::sde::Sde;
pub use options::*;

/// The score network as the loop sees it: s(x, t) for a whole lockstep batch at one time t.
pub trait ScoreFn {
    fn eval(&mut self, x: &[f32], t: f64, out: &mut [f32]) -> Result<()>;
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
        Batch { dim, x: vec![0.0; n], x_mean: vec![0.0; n], s: vec![0.0; n], z: vec![0.0; n], d: Vec::new(), x2: Vec::new(), rngs }
    }

    /// Buffers for up to `capacity` images, allocated fallibly and all reserved before any is touched, so a request
    /// too large for the process is refused (Error::OutOfMemory) instead of aborting it. `ode`/`heun` reserve the
    /// ODE solver's buffers too, so no step allocates.
    pub fn try_new(dim: usize, capacity: usize, ode: bool, heun: bool) -> Result<Self> {
        let len = dim.checked_mul(capacity).ok_or_else(|| Error::OutOfMemory { what: "a batch".into(), bytes: u128::MAX })?;
        let buf = |what: &str| try_capacity::<f32>(len, what);
        let (mut x, mut x_mean, mut s, mut z) = (buf("the batch's x")?, buf("the batch's means")?, buf("the batch's scores")?, buf("the batch's noise")?);
        let d = if ode { buf("the ODE derivative")? } else { Vec::new() };
        let x2 = if heun { buf("Heun's predictor")? } else { Vec::new() };
        let rngs = try_capacity(capacity, "per-image noise streams")?;
        for v in [&mut x, &mut x_mean, &mut s, &mut z] {
            v.resize(len, 0.0);
        }
        Ok(Batch { dim, x, x_mean, s, z, d, x2, rngs })
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

/// Runs the reverse process on `b.x` (holding x(t_start)) and leaves the result in `b.x`.
pub fn run(sde: &Sde, cfg: &SamplerConfig, b: &mut Batch, score: &mut dyn ScoreFn, observe: &mut StepObserver<'_>) -> Result<()> {
    match cfg.method {
        Method::Sde => run_sde(sde, cfg, b, score, observe),
        Method::Ode => run_ode(sde, cfg, b, score, observe),
    }
}

fn check_cancel(observe: &mut StepObserver<'_>, phase: Phase, step: usize, steps: usize) -> Result<()> {
    if observe(phase, step, steps) {
        Ok(())
    } else {
        Err(Error::Cancelled)
    }
}

fn run_sde(sde: &Sde, cfg: &SamplerConfig, b: &mut Batch, score: &mut dyn ScoreFn, observe: &mut StepObserver<'_>) -> Result<()> {
    let grid = sde.time_grid(cfg.t_start, cfg.steps);
    let dim = b.dim;
    for k in 0..cfg.steps {
        let (t, t_next) = (grid[k], grid[k + 1]);
        if cfg.corrector == Corrector::Langevin {
            let alpha = sde.langevin_alpha(t);
            for _ in 0..cfg.corrector_steps {
                score.eval(&b.x, t, &mut b.s)?;
                Batch::fill_noise(&mut b.z, &mut b.rngs, dim, 1.0);
                steps::langevin(alpha, cfg.snr, cfg.langevin_norm == LangevinNorm::PerSample, dim, &mut b.x, &mut b.x_mean, &b.s, &b.z);
            }
        }
        if cfg.predictor != Predictor::None {
            score.eval(&b.x, t, &mut b.s)?;
            Batch::fill_noise(&mut b.z, &mut b.rngs, dim, 1.0);
            match cfg.predictor {
                Predictor::ReverseDiffusion => steps::reverse_diffusion(sde, t, t_next, &mut b.x, &mut b.x_mean, &b.s, &b.z),
                Predictor::EulerMaruyama => steps::euler_maruyama(sde, t, t - t_next, &mut b.x, &mut b.x_mean, &b.s, &b.z),
                Predictor::Ancestral => steps::ancestral(sde, t, t_next, &mut b.x, &mut b.x_mean, &b.s, &b.z),
                Predictor::None => unreachable!(),
            }
        }
        check_cancel(observe, Phase::Steps, k + 1, cfg.steps)?;
    }
    if cfg.denoise {
        b.x.copy_from_slice(&b.x_mean);
    }
    Ok(())
}

fn run_ode(sde: &Sde, cfg: &SamplerConfig, b: &mut Batch, score: &mut dyn ScoreFn, observe: &mut StepObserver<'_>) -> Result<()> {
    let grid = sde.ode_grid(cfg.t_start, cfg.steps);
    let n = b.x.len();
    b.d.resize(n, 0.0);
    if cfg.solver == Solver::Heun {
        b.x2.resize(n, 0.0);
    }
    for k in 0..cfg.steps {
        let (t, t_next) = (grid[k], grid[k + 1]);
        let h = t_next - t;
        score.eval(&b.x, t, &mut b.s)?;
        steps::ode_derivative(sde, t, &b.x, &b.s, &mut b.d);
        match cfg.solver {
            Solver::Euler => steps::axpy(&mut b.x, h, &b.d),
            Solver::Heun => {
                // x2 = Euler guess; then x += h/2 (d + d(x2, t_next)).
                b.x2.copy_from_slice(&b.x);
                steps::axpy(&mut b.x2, h, &b.d);
                steps::axpy(&mut b.x, 0.5 * h, &b.d);
                score.eval(&b.x2, t_next, &mut b.s)?;
                steps::ode_derivative(sde, t_next, &b.x2, &b.s, &mut b.d);
                steps::axpy(&mut b.x, 0.5 * h, &b.d);
            }
        }
        check_cancel(observe, Phase::Steps, k + 1, cfg.steps)?;
    }
    if cfg.denoise {
        let t = grid[cfg.steps];
        score.eval(&b.x, t, &mut b.s)?;
        steps::tweedie(sde, t, &mut b.x, &b.s);
        check_cancel(observe, Phase::Denoise, 1, 1)?;
    }
    Ok(())
}

/// Score evaluations per sample that a configuration makes (honest NFE: only calls actually made).
pub fn score_evals(cfg: &SamplerConfig) -> usize {
    match cfg.method {
        Method::Sde => {
            let c = if cfg.corrector == Corrector::Langevin { cfg.corrector_steps } else { 0 };
            let p = usize::from(cfg.predictor != Predictor::None);
            cfg.steps * (c + p)
        }
        Method::Ode => {
            let per = if cfg.solver == Solver::Heun { 2 } else { 1 };
            cfg.steps * per + usize::from(cfg.denoise)
        }
    }
}
