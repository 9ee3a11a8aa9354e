//! The probability-flow ODE of one batch of images with its log-density (module docs of `likelihood`): buffers,
//! dequantisation and probes, the RK45 integration of (x, ℓ), and the start's log-density at the end.

use std::time::{Duration, Instant};

use super::{Dequantize, ImageLikelihood, Plan};
use crate::backend::Input;
use crate::error::{try_filled, Error, Result};
use crate::model::Model;
use crate::rng::SampleRng;
use crate::sampler::rk45;
use crate::sampler::score::{check_finite, Guidance, ScoreEval};
use crate::sde::Sde;

/// The start's density at the end of the ODE.
pub(super) enum End {
    Flow { net: Box<dyn crate::backend::Network>, conditional: bool },
    Prior { std: f64 },
}

/// Buffers of one batch of images, reused by every batch.
pub(super) struct Run<'m> {
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
    pub(super) calls: usize,
    pub(super) net_time: Duration,
}

impl<'m> Run<'m> {
    pub(super) fn new(model: &'m Model, plan: &Plan, chunk: usize) -> Result<Self> {
        let dim = model.image_len();
        let slots = chunk * (1 + 2 * plan.probes);
        let len = |k: usize, what: &str| {
            chunk.checked_mul(k).ok_or_else(|| Error::OutOfMemory { what: what.into(), bytes: u128::MAX })
        };
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
    pub(super) fn prepare(&mut self, pixels: &[f32], b: usize, seed: u64, first: u64, dq: Dequantize) {
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
    pub(super) fn integrate(&mut self, labels: Option<&[i64]>) -> Result<()> {
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
        let deltas: Vec<f64> =
            ts.iter().map(|&t| (self.fd_step * self.sde.marginal(t).std).max(self.delta_floor)).collect();
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
        crate::sampler::ScoreFn::eval_each(
            &mut eval,
            &self.eval_x[..n_eval * dim],
            &self.eval_t[..n_eval],
            &mut self.eval_s[..n_eval * dim],
        )?;
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
    pub(super) fn finish(
        &mut self,
        end: &End,
        labels: Option<&[i64]>,
        images: &mut Vec<ImageLikelihood>,
    ) -> Result<()> {
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
                    inputs.push(Input::I64(
                        labels.ok_or_else(|| Error::Internal("conditional flows need labels".into()))?,
                    ));
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
