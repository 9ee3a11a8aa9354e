//! One function per update rule, k-diffusion style: each maps (x, score, noise) to the next x and its noise-free
//! mean for a whole lockstep batch. Coefficients are computed in f64 once per step, applied in f32.

use crate::sde::{Sde, SdeKind};

/// Reverse diffusion (score_sde's ReverseDiffusionPredictor): x_mean = x − f + g²·s, x = x_mean + g·z.
pub fn reverse_diffusion(sde: &Sde, t: f64, t_next: f64, x: &mut [f32], x_mean: &mut [f32], s: &[f32], z: &[f32]) {
    let d = sde.discretize(t, t_next);
    let (keep, g2, g) = ((1.0 - d.f_coeff) as f32, (d.g * d.g) as f32, d.g as f32);
    for i in 0..x.len() {
        let m = keep * x[i] + g2 * s[i];
        x_mean[i] = m;
        x[i] = m + g * z[i];
    }
}

/// Euler–Maruyama on the reverse SDE with step h > 0: x_mean = x + (g²·s − f)·h, x = x_mean + g·√h·z.
pub fn euler_maruyama(sde: &Sde, t: f64, h: f64, x: &mut [f32], x_mean: &mut [f32], s: &[f32], z: &[f32]) {
    let (f, g) = (sde.drift(t), sde.diffusion(t));
    let (keep, g2h, noise) = ((1.0 - f * h) as f32, (g * g * h) as f32, (g * h.sqrt()) as f32);
    for i in 0..x.len() {
        let m = keep * x[i] + g2h * s[i];
        x_mean[i] = m;
        x[i] = m + noise * z[i];
    }
}

/// Ancestral sampling. VE (SMLD): x_mean = x + (σ² − σ'²)·s, std = √(σ'²(σ² − σ'²)/σ²).
/// VP (DDPM): x_mean = (x + β·s)/√(1 − β), std = √β. Not defined for sub-VP (refused when options resolve).
pub fn ancestral(sde: &Sde, t: f64, t_next: f64, x: &mut [f32], x_mean: &mut [f32], s: &[f32], z: &[f32]) {
    let (a, b, std) = match sde.kind {
        SdeKind::Ve => {
            let s2 = sde.sigma(t).powi(2);
            let s2n = if t_next <= 0.0 { 0.0 } else { sde.sigma(t_next).powi(2) };
            (1.0, s2 - s2n, (s2n * (s2 - s2n) / s2).max(0.0).sqrt())
        }
        SdeKind::Vp | SdeKind::Subvp => {
            let beta = sde.interval_beta(t, t_next);
            let r = 1.0 / (1.0 - beta).sqrt();
            (r, r * beta, beta.sqrt())
        }
    };
    let (a, b, std) = (a as f32, b as f32, std as f32);
    for i in 0..x.len() {
        let m = a * x[i] + b * s[i];
        x_mean[i] = m;
        x[i] = m + std * z[i];
    }
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&a| (a as f64) * (a as f64)).sum::<f64>().sqrt()
}

/// Langevin corrector (score_sde): step = 2α(snr·‖z‖/‖s‖)², x_mean = x + step·s, x = x_mean + √(2·step)·z.
/// `per_sample`: norms of each sample alone; else the batch means of the norms, as score_sde does.
#[allow(clippy::too_many_arguments)]
pub fn langevin(alpha: f64, snr: f64, per_sample: bool, dim: usize, x: &mut [f32], x_mean: &mut [f32], s: &[f32], z: &[f32]) {
    let batch = x.len() / dim;
    let step_of = |g: f64, n: f64| if g > 0.0 { 2.0 * alpha * (snr * n / g).powi(2) } else { 0.0 };
    let shared = (!per_sample).then(|| {
        let g = (0..batch).map(|k| norm(&s[k * dim..(k + 1) * dim])).sum::<f64>() / batch as f64;
        let n = (0..batch).map(|k| norm(&z[k * dim..(k + 1) * dim])).sum::<f64>() / batch as f64;
        step_of(g, n)
    });
    for k in 0..batch {
        let r = k * dim..(k + 1) * dim;
        let step = shared.unwrap_or_else(|| step_of(norm(&s[r.clone()]), norm(&z[r.clone()])));
        let (st, ns) = (step as f32, (2.0 * step).sqrt() as f32);
        for i in r {
            let m = x[i] + st * s[i];
            x_mean[i] = m;
            x[i] = m + ns * z[i];
        }
    }
}

/// Probability-flow ODE derivative dx/dt = f(t)·x − ½g(t)²·s, written into `d`.
pub fn ode_derivative(sde: &Sde, t: f64, x: &[f32], s: &[f32], d: &mut [f32]) {
    let (f, hg2) = (sde.drift(t) as f32, (0.5 * sde.diffusion(t).powi(2)) as f32);
    for i in 0..x.len() {
        d[i] = f * x[i] - hg2 * s[i];
    }
}

/// x += h·d (h is negative when integrating backwards in time).
pub fn axpy(x: &mut [f32], h: f64, d: &[f32]) {
    let h = h as f32;
    for i in 0..x.len() {
        x[i] += h * d[i];
    }
}

/// Tweedie's denoiser: E[x(0) | x(t)] = (x + std²·s)/mean.
pub fn tweedie(sde: &Sde, t: f64, x: &mut [f32], s: &[f32]) {
    let m = sde.marginal(t);
    let (inv, v) = ((1.0 / m.mean) as f32, (m.std * m.std) as f32);
    for i in 0..x.len() {
        x[i] = (x[i] + v * s[i]) * inv;
    }
}
