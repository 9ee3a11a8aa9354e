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

use std::time::Instant;

use serde::Serialize;

use crate::backend::{DType, NetSpec};
use crate::bundle::Alpha;
use crate::error::{Error, Result};
use crate::model::{load_network, Model, SampleOptions};
use crate::rng;
use crate::sampler::{SamplerChoices, Start};

mod ode;
use ode::{End, Run};

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
    pub fn log_likelihood(
        &self,
        pixels: &[f32],
        n: usize,
        o: &LikelihoodOptions,
        observe: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<LikelihoodReport> {
        let started = Instant::now();
        let dim = self.image_len();
        if n == 0 {
            return Err(Error::invalid("no images to measure (n = 0)"));
        }
        let needed = n.checked_mul(dim).ok_or_else(|| Error::invalid("n × image size overflows"))?;
        if pixels.len() != needed {
            return Err(Error::invalid(format!(
                "{} pixel values for {n} images of {dim} values each (need {needed})",
                pixels.len()
            )));
        }
        check_pixels(pixels, dim, o.dequantize)?;
        let plan = self.plan(o)?;
        let labels = self.labels(&SampleOptions {
            n,
            first_index: o.first_index,
            labels: o.labels.clone(),
            ..Default::default()
        })?;
        let end = match plan.start {
            Start::Flow | Start::Gaussian => {
                let flow = self.start_net(plan.start, plan.t_end)?;
                let Some((name, bytes)) = &flow.density else {
                    let graph =
                        if plan.start == Start::Gaussian { "gaussian_density_*.onnx" } else { "flow_density_*.onnx" };
                    return Err(Error::invalid(format!(
                        "the {} at T_m = {} has no density graph ({graph}) in this bundle; use start 'prior'",
                        plan.start, flow.t_m
                    )));
                };
                let mut spec = density_spec(self, flow.t_m, flow.conditional);
                spec.role = format!("{}_density(t_m={})", plan.start, flow.t_m);
                let net = load_network(&*self.backend, &self.bundle.file(name), bytes, &spec)?;
                End::Flow { net, conditional: flow.conditional }
            }
            Start::Prior => End::Prior { std: self.bundle.sde.prior_std() },
        };
        let seed = o.seed.unwrap_or_else(rng::random_seed);
        let chunk = (if o.batch_size == 0 { n.min(64) } else { o.batch_size.min(n) }).max(1);
        let mut run = Run::new(self, &plan, chunk)?;
        let mut images = Vec::new();
        images
            .try_reserve_exact(n)
            .map_err(|_| Error::OutOfMemory { what: "the per-image results".into(), bytes: n as u128 * 32 })?;
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
        if self.bundle.manifest.image.alpha == Alpha::Premultiplied {
            // Straight-alpha pixels map to the model's space by colour·alpha, which is singular at alpha 0 (every
            // colour of a transparent pixel is one point): no density of the straight pixels exists.
            return Err(Error::invalid(
                "likelihood of a premultiplied-alpha model (manifest image.alpha) is not defined on straight-alpha \
                 pixels: transparent pixels have no colour density",
            ));
        }
        let probes = o.probes;
        if probes == 0 || probes > MAX_PROBES {
            return Err(Error::invalid(format!("probes must be in 1..={MAX_PROBES}, got {probes}")));
        }
        // rk45's tolerances obey the sampler's rule for them, and default as there.
        SamplerChoices { rtol: o.rtol, atol: o.atol, ..Default::default() }
            .check("")
            .map_err(Error::InvalidArgument)?;
        let (rtol, atol) = (o.rtol.unwrap_or(1e-5), o.atol.unwrap_or(1e-5));
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
    NetSpec {
        role: format!("flow_density(t_m={t_m})"),
        inputs,
        outputs: vec![("z".into(), vec![im.dim()]), ("logdet".into(), vec![])],
    }
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
                "image {image}, value {value} is {p}, outside [0, 1]: dequantize 'uniform' reads pixels as 8-bit \
                    values (use 'none' for a continuous density)"
            )));
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
