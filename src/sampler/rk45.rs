//! Adaptive Dormand–Prince RK45 on the probability-flow ODE (score_sde integrates it with scipy's RK45 at
//! rtol = atol = 1e-5). The controller is scipy's (error norm, safety 0.9, factors in [0.2, 10], initial-step
//! heuristic), run per sample: each image follows its own steps, with its own time passed to the network, so an
//! image never depends on its batch-mates. A batch runs until its slowest image is done; finished images are still
//! evaluated (and ignored) in the meantime, and those evaluations are counted. The integrator itself (`integrate`)
//! takes any right-hand side over independent samples, in either direction of time: the likelihood integrates the
//! ODE augmented with its divergence through it.

use super::{report_step, steps, Batch, Phase, SamplerConfig, ScoreFn, StepObserver};
use crate::error::{try_filled, Error, Result};
use crate::sde::Sde;

/// Nodes, matrix and weights of Dormand–Prince 5(4); `E` = 5th-order minus embedded 4th-order weights
/// (the last over the FSAL stage f(t + h, y_new)).
const C: [f64; 6] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0];
const A: [&[f64]; 6] = [
    &[],
    &[1.0 / 5.0],
    &[3.0 / 40.0, 9.0 / 40.0],
    &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
    &[19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0],
    &[9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0],
];
const B: [f64; 6] = [35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0];
const E: [f64; 7] =
    [-71.0 / 57600.0, 0.0, 71.0 / 16695.0, -71.0 / 1920.0, 17253.0 / 339200.0, -22.0 / 525.0, 1.0 / 40.0];
const SAFETY: f64 = 0.9;
const MIN_FACTOR: f64 = 0.2;
const MAX_FACTOR: f64 = 10.0;
/// A hang guard: no sane tolerance needs this many step attempts.
const MAX_ROUNDS: usize = 100_000;

/// One sample's integration state (`h` has the sign of the direction of integration).
#[derive(Clone, Copy)]
struct Track {
    t: f64,
    h: f64,
    done: bool,
    rejected: bool,
}

/// out = y + h·Σ_j w_j·k_j over one sample's values (f64 accumulation).
fn combine(y: &[f32], h: f64, w: &[f64], k: &[Vec<f32>], r: std::ops::Range<usize>, out: &mut [f32]) {
    for i in r {
        let acc: f64 = w.iter().zip(k).map(|(&w, k)| w * k[i] as f64).sum();
        out[i] = (y[i] as f64 + h * acc) as f32;
    }
}

/// RMS of v_i / (atol + rtol·max(|a_i|, |b_i|)) over one sample.
fn rms_norm(v: impl Iterator<Item = f64>, a: &[f32], b: &[f32], rtol: f64, atol: f64) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for ((v, &a), &b) in v.zip(a).zip(b) {
        let scale = atol + rtol * (a.abs().max(b.abs()) as f64);
        sum += (v / scale).powi(2);
        n += 1;
    }
    (sum / n.max(1) as f64).sqrt()
}

/// The ODE's right-hand side f(t_k, x_k) for every sample at its own time, into `out` (`s` is scratch).
fn derivative(
    sde: &Sde,
    score: &mut dyn ScoreFn,
    dim: usize,
    x: &[f32],
    ts: &[f64],
    s: &mut [f32],
    out: &mut [f32],
) -> Result<()> {
    score.eval_each(x, ts, s)?;
    for (k, &t) in ts.iter().enumerate() {
        let r = k * dim..(k + 1) * dim;
        steps::ode_derivative(sde, t, &x[r.clone()], &s[r.clone()], &mut out[r]);
    }
    Ok(())
}

/// Integrates every sample of `b.x` from cfg.t_start down to eps, then denoises (as the fixed-step solvers).
pub fn run(
    sde: &Sde,
    cfg: &SamplerConfig,
    b: &mut Batch,
    score: &mut dyn ScoreFn,
    observe: &mut StepObserver<'_>,
) -> Result<()> {
    let (dim, len) = (b.dim, b.x.len());
    let mut s = try_filled(len, 0f32, "rk45's scores")?;
    let mut rhs = |x: &[f32], ts: &[f64], out: &mut [f32]| derivative(sde, score, dim, x, ts, &mut s, out);
    let mut progress = |done: f64| report_step(observe, Phase::Steps, (done * 1000.0) as usize, 1000);
    integrate(dim, &mut b.x, cfg.t_start, sde.eps, cfg.rtol, cfg.atol, &mut rhs, &mut progress)?;
    super::finish(sde, cfg, b, score, observe)
}

/// The right-hand side of an ODE over independent samples: out_k = f(t_k, y_k) for every sample k of `y` at its
/// own time (one batched call).
pub type Rhs<'a> = dyn FnMut(&[f32], &[f64], &mut [f32]) -> Result<()> + 'a;

/// Integrates every sample (`dim` values each) of `y` from `t0` to `t_end`, in either direction, each with its own
/// adaptive steps; `y` ends holding the solution at `t_end`. `progress` gets the fraction of the span the slowest
/// sample has covered after every round, and may stop the run with an error.
#[allow(clippy::too_many_arguments)]
pub fn integrate(
    dim: usize,
    y: &mut [f32],
    t0: f64,
    t_end: f64,
    rtol: f64,
    atol: f64,
    rhs: &mut Rhs<'_>,
    progress: &mut dyn FnMut(f64) -> Result<()>,
) -> Result<()> {
    let (len, n) = (y.len(), y.len() / dim.max(1));
    let (span, dir) = ((t_end - t0).abs(), if t_end >= t0 { 1.0 } else { -1.0 });
    // Fallible: these grow with the batch, and out-of-memory must be a status in a host process, not an abort.
    let buf = |what: &str| try_filled(len, 0f32, what);
    let mut k: Vec<Vec<f32>> = (0..7).map(|_| buf("rk45's stages")).collect::<Result<_>>()?;
    let mut ys = buf("rk45's trial state")?;
    let mut ts = try_filled(n, t0, "rk45's times")?;
    rhs(y, &ts, &mut k[0])?;

    // Initial step (scipy's select_initial_step, order 4): one extra evaluation at an Euler probe.
    let mut h0 = try_filled(n, 0.0, "rk45's step sizes")?;
    for j in 0..n {
        let r = j * dim..(j + 1) * dim;
        let yj = &y[r.clone()];
        let d0 = rms_norm(yj.iter().map(|&v| v as f64), yj, yj, rtol, atol);
        let d1 = rms_norm(k[0][r.clone()].iter().map(|&v| v as f64), yj, yj, rtol, atol);
        h0[j] = if d0 < 1e-5 || d1 < 1e-5 { 1e-6 } else { 0.01 * d0 / d1 }.min(span);
        ts[j] = t0 + dir * h0[j];
        combine(y, dir * h0[j], &[1.0], &k[..1], r, &mut ys);
    }
    rhs(&ys, &ts, &mut k[1])?;
    let mut tracks: Vec<Track> = (0..n)
        .map(|j| {
            let r = j * dim..(j + 1) * dim;
            let yj = &y[r.clone()];
            let d1 = rms_norm(k[0][r.clone()].iter().map(|&v| v as f64), yj, yj, rtol, atol);
            let d2 = rms_norm(k[1][r.clone()].iter().zip(&k[0][r]).map(|(&a, &b)| (a - b) as f64), yj, yj, rtol, atol)
                / h0[j];
            let h1 = if d1 <= 1e-15 && d2 <= 1e-15 { (h0[j] * 1e-3).max(1e-6) } else { (0.01 / d1.max(d2)).powf(0.2) };
            Track { t: t0, h: dir * (100.0 * h0[j]).min(h1).min(span), done: span == 0.0, rejected: false }
        })
        .collect();

    for round in 0.. {
        if tracks.iter().all(|tr| tr.done) {
            break;
        }
        if round == MAX_ROUNDS {
            return Err(Error::invalid(format!(
                "rk45 made {MAX_ROUNDS} step attempts without reaching t = {t_end} (rtol {rtol}, atol {atol})"
            )));
        }
        for tr in tracks.iter_mut().filter(|tr| !tr.done) {
            if (tr.t + tr.h - t_end) * dir > 0.0 {
                tr.h = t_end - tr.t;
            }
        }
        // Stages 2..6 and the 5th-order solution (stage 7's input), each one batched evaluation.
        for st in 1..7 {
            for (j, tr) in tracks.iter().enumerate() {
                let r = j * dim..(j + 1) * dim;
                if tr.done {
                    ts[j] = tr.t;
                    ys[r.clone()].copy_from_slice(&y[r]);
                } else {
                    let (w, c) = if st < 6 { (A[st], C[st]) } else { (&B[..], 1.0) };
                    ts[j] = tr.t + c * tr.h;
                    combine(y, tr.h, w, &k[..w.len()], r, &mut ys);
                }
            }
            rhs(&ys, &ts, &mut k[st])?;
        }
        // ys holds y_new; k[6] = f(t + h, y_new).
        for (j, tr) in tracks.iter_mut().enumerate().filter(|(_, tr)| !tr.done) {
            let r = j * dim..(j + 1) * dim;
            let err = r.clone().map(|i| tr.h * E.iter().zip(&k).map(|(&e, k)| e * k[i] as f64).sum::<f64>());
            let norm = rms_norm(err, &y[r.clone()], &ys[r.clone()], rtol, atol);
            if norm.is_nan() {
                return Err(Error::NonFinite { network: "score (rk45 error estimate)".into(), step: round });
            }
            if norm <= 1.0 {
                let factor = if norm == 0.0 { MAX_FACTOR } else { (SAFETY * norm.powf(-0.2)).min(MAX_FACTOR) };
                let factor = if tr.rejected { factor.min(1.0) } else { factor };
                y[r.clone()].copy_from_slice(&ys[r.clone()]);
                let (k0, rest) = k.split_at_mut(1);
                // FSAL: f(t + h, y_new) starts the next step.
                k0[0][r.clone()].copy_from_slice(&rest[5][r]);
                // A step clipped to end at t_end lands exactly there, whatever the rounding of t + h.
                tr.t = if (t_end - (tr.t + tr.h)) * dir <= 1e-12 * span { t_end } else { tr.t + tr.h };
                tr.done = tr.t == t_end;
                tr.h *= factor;
                tr.rejected = false;
            } else {
                tr.h *= (SAFETY * norm.powf(-0.2)).max(MIN_FACTOR);
                tr.rejected = true;
                if tr.h.abs() < 10.0 * f64::EPSILON * tr.t.abs().max(t_end.abs()) {
                    return Err(Error::invalid(format!(
                        "rk45 step size underflow at t = {} (rtol {rtol}, atol {atol} are too tight for f32 values)",
                        tr.t
                    )));
                }
            }
        }
        let covered = tracks.iter().map(|tr| (tr.t - t0).abs()).fold(span, f64::min);
        progress(if span > 0.0 { covered / span } else { 1.0 })?;
    }
    Ok(())
}
