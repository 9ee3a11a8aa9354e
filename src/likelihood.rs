//! Log-likelihood (bits/dim) of given images: the probability-flow ODE dx/dt = f(x, t) = f(t)·x − ½g(t)²·s(x, t)
//! carries x(eps) = the image to x(T) (T = T_m of a flow, or 1), and the instantaneous change of variables gives
//!
//!   log p_eps(x(eps)) = log p_T(x(T)) + ∫_eps^T div f(x(t), t) dt,
//!
//! with log p_T from the flow's density graph (`flow_density_*.onnx`: N(0, I) on z plus log|det ∂z/∂x|) or the SDE's
//! Gaussian prior N(0, σ_prior² I) (the sampler's prior: σ_max for VE, 1 for VP/sub-VP). The state (x, ℓ) with
//! dℓ/dt = div f is integrated by the adaptive Dormand–Prince RK45 of the sampler (`sampler::rk45::integrate`,
//! score_sde's rtol = atol = 1e-5), per image.
//!
//! div f = f(t)·D − ½g(t)²·div s, and div s is Hutchinson–Skilling's estimate with Rademacher probes v (fixed per
//! image along the trajectory, as score_sde's likelihood.py): div s ≈ mean_k v_kᵀ(s(x + δv_k) − s(x − δv_k))/(2δ),
//! central differences of the score network (ONNX graphs have no autodiff). δ(t) = c·σ(t), c = `fd_step` (1e-2 by
//! default): p_t is the data smoothed by noise of std σ(t), so the score varies on that scale and the truncation
//! error, O((δ/σ)²) relative, is the same at every t; δ is kept ≥ 1e-4 of the data range so that x ± δv still
//! differ by many f32 ulps. Each derivative costs 1 + 2K score evaluations (K = probes), made in one batched call.
//!
//! Pixels map to the model's space by x = (pixel − offset)/scale (the manifest's `image`), so the density of the
//! pixel values is p(pixel) = p_x(x)·scale^(−D). Bits/dim:
//! - `none`: −log₂ p(pixel)/D, the continuous density of the given [0, 1] values;
//! - `uniform` (score_sde's likelihood.py): 8-bit data k = round(255·pixel), dequantised to (k + u)/256 with
//!   u ~ U[0, 1)^D, then −log₂ p((k + u)/256)/D + 8: the uniform-dequantisation bound on the 8-bit
//!   probability, whose bins are 1/256 wide (the 8 is log₂ 256). For a [−1, 1] model (scale ½) this is score_sde's
//!   −log₂ p_x/D + 7.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::backend::{DType, Input, NetSpec};
use crate::error::{try_filled, Error, Result};
use crate::model::{load_network, Model, SampleOptions};
use crate::sampler::score::{check_finite, Guidance, ScoreEval};
use crate::rng::{self, SampleRng};
use crate::sampler::{rk45, Start};
use crate::sde::Sde;

/// How pixel values become a density.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dequantize {
    /// 8-bit data with uniform dequantisation (score_sde's bits/dim).
    #[default]
    Uniform,
    /// The continuous density of the given values.
    None,
}

impl std::str::FromStr for Dequantize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "uniform" => Ok(Dequantize::Uniform),
            "none" => Ok(Dequantize::None),
            _ => Err(format!("unknown dequantize '{s}' (expected one of: uniform, none)")),
        }
    }
}

impl std::fmt::Display for Dequantize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dequantize::Uniform => "uniform",
            Dequantize::None => "none",
        })
    }
}

/// Largest number of Hutchinson probes accepted (each costs two score evaluations per ODE derivative).
pub const MAX_PROBES: usize = 1024;
/// Default central-difference step, relative to the noise level σ(t).
pub const DEFAULT_FD_STEP: f64 = 1e-2;

/// What to measure. `None` fields take the bundle's defaults (start, T_m) or the runtime's.
#[derive(Clone, Debug, PartialEq)]
pub struct LikelihoodOptions {
    /// Seed of the dequantisation noise and the probes; `None` = random (reported back).
    pub seed: Option<u64>,
    /// Global index of the first image: image k uses the random stream (seed, first_index + k).
    pub first_index: u64,
    /// `flow`: integrate to T_m and use the flow's density; `prior`: to t = 1 and the SDE's prior.
    pub start: Option<Start>,
    pub t_m: Option<f64>,
    pub dequantize: Dequantize,
    /// Hutchinson probes per image (≥ 1).
    pub probes: usize,
    /// RK45 tolerances (default 1e-5 each, as score_sde).
    pub rtol: Option<f64>,
    pub atol: Option<f64>,
    /// Central-difference step relative to σ(t) (default `DEFAULT_FD_STEP`).
    pub fd_step: Option<f64>,
    /// Class labels of a conditional model: one per image, or one for all (required there).
    pub labels: Option<Vec<i64>>,
    /// Images integrated together (0 = min(n, 64)); never changes the result.
    pub batch_size: usize,
}

impl Default for LikelihoodOptions {
    fn default() -> Self {
        LikelihoodOptions {
            seed: None,
            first_index: 0,
            start: None,
            t_m: None,
            dequantize: Dequantize::Uniform,
            probes: 1,
            rtol: None,
            atol: None,
            fd_step: None,
            labels: None,
            batch_size: 0,
        }
    }
}

/// One image's figures (natural logs, in the model's space x unless said otherwise).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImageLikelihood {
    pub bits_per_dim: f64,
    /// log p_T(x(T)): the flow's or the prior's log-density at the end of the ODE.
    pub prior_logp: f64,
    /// ∫_eps^T div f dt.
    pub delta_logp: f64,
    /// RK45 derivative evaluations this image's slot received (each is 1 + 2·probes score evaluations).
    pub ode_evals: usize,
}

/// What a likelihood run did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LikelihoodReport {
    pub seed: u64,
    pub start: Start,
    /// T_m, or 1 for the prior.
    pub t_end: f64,
    pub dequantize: Dequantize,
    pub probes: usize,
    pub rtol: f64,
    pub atol: f64,
    pub fd_step: f64,
    pub images: Vec<ImageLikelihood>,
    pub mean_bits_per_dim: f64,
    /// Standard error of the mean (sample std / √n; 0 for one image).
    pub std_error: f64,
    /// Score evaluations per image (mean over images), counting every slot of every batched call.
    pub score_evals: usize,
    pub network_calls: usize,
    pub seconds: f64,
    pub network_seconds: f64,
}

/// The start's density at the end of the ODE.
enum End {
    Flow { net: Box<dyn crate::backend::Network>, conditional: bool },
    Prior { std: f64 },
}

/// Resolved numbers of one run.
struct Plan {
    start: Start,
    t_end: f64,
    probes: usize,
    rtol: f64,
    atol: f64,
    fd_step: f64,
    /// Smallest δ: 1e-4 of the data range in the model's space.
    delta_floor: f64,
}

impl Model {
    /// Bits/dim of `n` images (`pixels`: n × C × H × W values in [0, 1], NCHW, as `sample` writes them), by the
    /// probability-flow ODE from eps to the start time plus the start's density (module docs). `observe(done, n)`
    /// is called after every batch and before the first; returning false cancels (→ `Error::Cancelled`).
    pub fn log_likelihood(&self, pixels: &[f32], n: usize, o: &LikelihoodOptions, observe: &mut dyn FnMut(usize, usize) -> bool) -> Result<LikelihoodReport> {
        let started = Instant::now();
        let dim = self.image_len();
        if n == 0 {
            return Err(Error::invalid("no images to measure (n = 0)"));
        }
        let needed = n.checked_mul(dim).ok_or_else(|| Error::invalid("n × image size overflows"))?;
        if pixels.len() != needed {
            return Err(Error::invalid(format!("{} pixel values for {n} images of {dim} values each (need {needed})", pixels.len())));
        }
        check_pixels(pixels, dim, o.dequantize)?;
        let plan = self.plan(o)?;
        let labels = self.labels(&SampleOptions { n, first_index: o.first_index, labels: o.labels.clone(), ..Default::default() })?;
        let end = match plan.start {
            Start::Flow => {
                let flow = self.flow(plan.t_end)?;
                let Some((name, bytes)) = &flow.density else {
                    return Err(Error::invalid(format!(
                        "the flow at T_m = {} has no density graph (flow_density_*.onnx) in this bundle; use start 'prior'", flow.t_m)));
                };
                let spec = density_spec(self, flow.t_m, flow.conditional);
                let net = load_network(&*self.backend, &self.bundle.file(name), bytes, &spec)?;
                End::Flow { net, conditional: flow.conditional }
            }
            Start::Prior => End::Prior { std: self.bundle.sde.prior_std() },
        };
        let seed = o.seed.unwrap_or_else(rng::random_seed);
        let chunk = (if o.batch_size == 0 { n.min(64) } else { o.batch_size.min(n) }).max(1);
        let mut run = Run::new(self, &plan, chunk)?;
        let mut images = Vec::new();
        images.try_reserve_exact(n).map_err(|_| Error::OutOfMemory { what: "the per-image results".into(), bytes: n as u128 * 32 })?;
        let mut done = 0;
        if !observe(0, n) {
            return Err(Error::Cancelled);
        }
        while done < n {
            let b = chunk.min(n - done);
            let y = labels.as_ref().map(|l| &l[done..done + b]);
            let first = o.first_index + done as u64;
            run.prepare(&pixels[done * dim..(done + b) * dim], b, seed, first, o.dequantize);
            run.integrate(y)?;
            run.finish(&end, y, &mut images)?;
            done += b;
            if !observe(done, n) {
                return Err(Error::Cancelled);
            }
        }
        let m = &self.bundle.manifest.image;
        // log p(pixels) = log p_x − D log(scale); the 8 bits of 1/256-wide bins for uniform dequantisation.
        let jacobian = -(dim as f64) * m.pixel_scale.ln();
        let bins = if o.dequantize == Dequantize::Uniform { 8.0 } else { 0.0 };
        for im in &mut images {
            let logp = im.prior_logp + im.delta_logp + jacobian;
            im.bits_per_dim = -logp / (dim as f64 * std::f64::consts::LN_2) + bins;
        }
        let (mean, se) = mean_and_se(images.iter().map(|i| i.bits_per_dim));
        let per_eval = 1 + 2 * plan.probes;
        let slots: usize = images.iter().map(|i| i.ode_evals * per_eval).sum();
        Ok(LikelihoodReport {
            seed,
            start: plan.start,
            t_end: plan.t_end,
            dequantize: o.dequantize,
            probes: plan.probes,
            rtol: plan.rtol,
            atol: plan.atol,
            fd_step: plan.fd_step,
            mean_bits_per_dim: mean,
            std_error: se,
            score_evals: slots.div_ceil(n),
            network_calls: run.calls,
            seconds: started.elapsed().as_secs_f64(),
            network_seconds: run.net_time.as_secs_f64(),
            images,
        })
    }

    fn plan(&self, o: &LikelihoodOptions) -> Result<Plan> {
        // The start and T_m resolve exactly as for sampling (bundle defaults, then the runtime's).
        let cfg = self.resolve(&SampleOptions { start: o.start, t_m: o.t_m, ..Default::default() })?;
        let probes = o.probes;
        if probes == 0 || probes > MAX_PROBES {
            return Err(Error::invalid(format!("probes must be in 1..={MAX_PROBES}, got {probes}")));
        }
        let (rtol, atol) = (o.rtol.unwrap_or(1e-5), o.atol.unwrap_or(1e-5));
        if !((1e-7..1.0).contains(&rtol) && atol > 0.0 && atol.is_finite()) {
            return Err(Error::invalid(format!("rk45 needs 1e-7 ≤ rtol < 1 (the state is f32) and atol > 0, got rtol {rtol}, atol {atol}")));
        }
        let fd_step = o.fd_step.unwrap_or(DEFAULT_FD_STEP);
        if !(fd_step > 0.0 && fd_step <= 1.0) {
            return Err(Error::invalid(format!("fd_step must be in (0, 1], got {fd_step}")));
        }
        let delta_floor = 1e-4 / self.bundle.manifest.image.pixel_scale;
        Ok(Plan { start: cfg.start, t_end: cfg.t_start, probes, rtol, atol, fd_step, delta_floor })
    }
}

/// The contract of a density graph: x (+ y) → z [D], logdet [].
pub fn density_spec(model: &Model, t_m: f64, conditional: bool) -> NetSpec {
    let im = &model.bundle.manifest.image;
    let mut inputs = vec![("x".to_string(), DType::F32, vec![im.channels, im.height, im.width])];
    if conditional {
        inputs.push(("y".to_string(), DType::I64, vec![]));
    }
    NetSpec { role: format!("flow_density(t_m={t_m})"), inputs, outputs: vec![("z".into(), vec![im.dim()]), ("logdet".into(), vec![])] }
}

/// Pixels must be finite, and on [0, 1] when they are to be read as 8-bit values.
fn check_pixels(pixels: &[f32], dim: usize, dq: Dequantize) -> Result<()> {
    for (i, &p) in pixels.iter().enumerate() {
        let (image, value) = (i / dim, i % dim);
        if !p.is_finite() {
            return Err(Error::invalid(format!("image {image}, value {value} is {p} (pixels must be finite)")));
        }
        if dq == Dequantize::Uniform && !(0.0..=1.0).contains(&p) {
            return Err(Error::invalid(format!(
                "image {image}, value {value} is {p}, outside [0, 1]: dequantize 'uniform' reads pixels as 8-bit values (use 'none' for a continuous density)")));
        }
    }
    Ok(())
}

fn mean_and_se(v: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = v.clone().count().max(1);
    let mean = v.clone().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, 0.0);
    }
    let var = v.map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, (var / n as f64).sqrt())
}

/// Buffers of one batch of images, reused by every batch.
struct Run<'m> {
    model: &'m Model,
    sde: &'m Sde,
    dim: usize,
    probes: usize,
    t_end: f64,
    rtol: f64,
    atol: f64,
    fd_step: f64,
    delta_floor: f64,
    /// Per image: x (dim values) then ℓ.
    state: Vec<f32>,
    /// Per image: probes × dim signs.
    v: Vec<f32>,
    /// The score network's batch: per image, x then x ± δv_k; and its output.
    eval_x: Vec<f32>,
    eval_s: Vec<f32>,
    eval_t: Vec<f64>,
    eval_y: Vec<i64>,
    ts: Vec<f32>,
    ode_evals: usize,
    calls: usize,
    net_time: Duration,
}

impl<'m> Run<'m> {
    fn new(model: &'m Model, plan: &Plan, chunk: usize) -> Result<Self> {
        let dim = model.image_len();
        let slots = chunk * (1 + 2 * plan.probes);
        let len = |k: usize, what: &str| chunk.checked_mul(k).ok_or_else(|| Error::OutOfMemory { what: what.into(), bytes: u128::MAX });
        Ok(Run {
            model,
            sde: &model.bundle.sde,
            dim,
            probes: plan.probes,
            t_end: plan.t_end,
            rtol: plan.rtol,
            atol: plan.atol,
            fd_step: plan.fd_step,
            delta_floor: plan.delta_floor,
            state: try_filled(len(dim + 1, "the ODE state")?, 0f32, "the ODE state")?,
            v: try_filled(len(plan.probes * dim, "the probes")?, 0f32, "the probes")?,
            eval_x: try_filled(len((1 + 2 * plan.probes) * dim, "the score batch")?, 0f32, "the score batch")?,
            eval_s: try_filled(len((1 + 2 * plan.probes) * dim, "the score batch")?, 0f32, "the scores")?,
            eval_t: try_filled(slots, 0f64, "the score batch's times")?,
            eval_y: Vec::new(),
            ts: Vec::new(),
            ode_evals: 0,
            calls: 0,
            net_time: Duration::ZERO,
        })
    }

    /// Loads b images: dequantised, mapped to the model's space, ℓ = 0, and their probes drawn. Image k's stream
    /// (seed, first + k) gives its dequantisation noise first, then its probes.
    fn prepare(&mut self, pixels: &[f32], b: usize, seed: u64, first: u64, dq: Dequantize) {
        let (dim, k) = (self.dim, self.probes);
        let im = &self.model.bundle.manifest.image;
        let (scale, offset) = (im.pixel_scale, im.pixel_offset);
        let mut u = vec![0f64; if dq == Dequantize::Uniform { dim } else { 0 }];
        self.state.resize(b * (dim + 1), 0.0);
        self.v.resize(b * k * dim, 0.0);
        for j in 0..b {
            let mut rng = SampleRng::new(seed, first.wrapping_add(j as u64));
            rng.fill_uniform(&mut u);
            let px = &pixels[j * dim..(j + 1) * dim];
            let st = &mut self.state[j * (dim + 1)..(j + 1) * (dim + 1)];
            for i in 0..dim {
                let p = px[i] as f64;
                let y = match dq {
                    Dequantize::Uniform => ((p * 255.0).round() + u[i]) / 256.0,
                    Dequantize::None => p,
                };
                st[i] = ((y - offset) / scale) as f32;
            }
            st[dim] = 0.0;
            rng.fill_rademacher(&mut self.v[j * k * dim..(j + 1) * k * dim]);
        }
    }

    /// Integrates (x, ℓ) of the loaded images from eps to t_end.
    fn integrate(&mut self, labels: Option<&[i64]>) -> Result<()> {
        let per = 1 + 2 * self.probes;
        self.eval_y.clear();
        if let Some(l) = labels {
            for &y in l {
                self.eval_y.extend(std::iter::repeat_n(y, per));
            }
        }
        let mut state = std::mem::take(&mut self.state);
        let (eps, t_end, rtol, atol, width) = (self.sde.eps, self.t_end, self.rtol, self.atol, self.dim + 1);
        let mut rhs = |y: &[f32], ts: &[f64], out: &mut [f32]| self.derivative(y, ts, out);
        let result = rk45::integrate(width, &mut state, eps, t_end, rtol, atol, &mut rhs, &mut |_| Ok(()));
        self.state = state;
        result
    }

    /// d/dt (x, ℓ) = (f(t)x − ½g²s(x), f(t)·D − ½g²·div s) for every image at its own time, one network call.
    fn derivative(&mut self, y: &[f32], ts: &[f64], out: &mut [f32]) -> Result<()> {
        let (dim, k) = (self.dim, self.probes);
        let per = 1 + 2 * k;
        let b = ts.len();
        let deltas: Vec<f64> = ts.iter().map(|&t| (self.fd_step * self.sde.marginal(t).std).max(self.delta_floor)).collect();
        for j in 0..b {
            let x = &y[j * (dim + 1)..j * (dim + 1) + dim];
            let base = j * per * dim;
            self.eval_x[base..base + dim].copy_from_slice(x);
            for p in 0..k {
                let v = &self.v[(j * k + p) * dim..(j * k + p + 1) * dim];
                let plus = base + (1 + 2 * p) * dim;
                let minus = plus + dim;
                for i in 0..dim {
                    let d = (deltas[j] * v[i] as f64) as f32;
                    self.eval_x[plus + i] = x[i] + d;
                    self.eval_x[minus + i] = x[i] - d;
                }
            }
            self.eval_t[j * per..(j + 1) * per].fill(ts[j]);
        }
        let n_eval = b * per;
        let mut no_uncond = Vec::new(); // the likelihood of the conditional density: no guidance
        let mut eval = ScoreEval {
            net: &*self.model.score,
            labels: &self.eval_y[..if self.eval_y.is_empty() { 0 } else { n_eval }],
            guidance: Guidance { w: 0.0, null_labels: &[], uncond: &mut no_uncond },
            calls: 0,
            net_time: Duration::ZERO,
            cancel: None,
            ts: &mut self.ts,
        };
        crate::sampler::ScoreFn::eval_each(&mut eval, &self.eval_x[..n_eval * dim], &self.eval_t[..n_eval], &mut self.eval_s[..n_eval * dim])?;
        self.calls += eval.calls;
        self.net_time += eval.net_time;
        self.ode_evals += 1;
        for j in 0..b {
            let t = ts[j];
            let (f, hg2) = (self.sde.drift(t), 0.5 * self.sde.diffusion(t).powi(2));
            let x = &y[j * (dim + 1)..j * (dim + 1) + dim];
            let s = &self.eval_s[j * per * dim..(j + 1) * per * dim];
            let o = &mut out[j * (dim + 1)..(j + 1) * (dim + 1)];
            for i in 0..dim {
                o[i] = (f * x[i] as f64 - hg2 * s[i] as f64) as f32;
            }
            let mut div_s = 0.0;
            for p in 0..k {
                let v = &self.v[(j * k + p) * dim..(j * k + p + 1) * dim];
                let (sp, sm) = (&s[(1 + 2 * p) * dim..(2 + 2 * p) * dim], &s[(2 + 2 * p) * dim..(3 + 2 * p) * dim]);
                div_s += (0..dim).map(|i| v[i] as f64 * (sp[i] as f64 - sm[i] as f64)).sum::<f64>() / (2.0 * deltas[j]);
            }
            o[dim] = (f * dim as f64 - hg2 * div_s / k as f64) as f32;
        }
        Ok(())
    }

    /// Adds the start's log-density at x(t_end) and records each image.
    fn finish(&mut self, end: &End, labels: Option<&[i64]>, images: &mut Vec<ImageLikelihood>) -> Result<()> {
        let dim = self.dim;
        let b = self.state.len() / (dim + 1);
        let mut x = try_filled(b * dim, 0f32, "x(T)")?;
        for j in 0..b {
            x[j * dim..(j + 1) * dim].copy_from_slice(&self.state[j * (dim + 1)..j * (dim + 1) + dim]);
        }
        check_finite(&x, "likelihood ODE (x at the end)", self.ode_evals)?;
        let half_log_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
        let prior: Vec<f64> = match end {
            End::Prior { std } => (0..b)
                .map(|j| {
                    let sq: f64 = x[j * dim..(j + 1) * dim].iter().map(|&v| (v as f64 / std).powi(2)).sum();
                    -0.5 * sq - dim as f64 * (half_log_2pi + std.ln())
                })
                .collect(),
            End::Flow { net, conditional, .. } => {
                let mut z = try_filled(b * dim, 0f32, "the flow's z")?;
                let mut logdet = try_filled(b, 0f32, "the flow's log-determinants")?;
                let mut inputs = vec![Input::F32(&x)];
                if *conditional {
                    inputs.push(Input::I64(labels.ok_or_else(|| Error::Internal("conditional flows need labels".into()))?));
                }
                let t0 = Instant::now();
                net.run(b, &inputs, &mut [&mut z[..], &mut logdet[..]])?;
                self.net_time += t0.elapsed();
                self.calls += 1;
                check_finite(&z, &net.spec().role, 0)?;
                check_finite(&logdet, &net.spec().role, 0)?;
                (0..b)
                    .map(|j| {
                        let sq: f64 = z[j * dim..(j + 1) * dim].iter().map(|&v| (v as f64).powi(2)).sum();
                        -0.5 * sq - dim as f64 * half_log_2pi + logdet[j] as f64
                    })
                    .collect()
            }
        };
        let ode_evals = std::mem::take(&mut self.ode_evals);
        for (j, prior_logp) in prior.into_iter().enumerate() {
            let delta_logp = self.state[j * (dim + 1) + dim] as f64;
            images.push(ImageLikelihood { bits_per_dim: f64::NAN, prior_logp, delta_logp, ode_evals });
        }
        Ok(())
    }
}
