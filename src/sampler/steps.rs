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
pub fn langevin(
    alpha: f64,
    snr: f64,
    per_sample: bool,
    dim: usize,
    x: &mut [f32],
    x_mean: &mut [f32],
    s: &[f32],
    z: &[f32],
) {
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

/// The data prediction x̂0 = (x + σ²·s)/α from the score, through the marginal x(t) = α·x(0) + σ·ε.
pub fn data_prediction(sde: &Sde, t: f64, x: &[f32], s: &[f32], x0: &mut [f32]) {
    let m = sde.marginal(t);
    let (inv, v) = (1.0 / m.mean, m.std * m.std);
    for i in 0..x.len() {
        x0[i] = ((x[i] as f64 + v * s[i] as f64) * inv) as f32;
    }
}

/// DPM-Solver++(2M), data-prediction form (Lu et al. 2022, Algorithm 2), from t to t_next with h = λ' − λ:
/// x' = (σ'/σ)·x + α'(1 − e^(−h))·D, D = (1 + 1/2r)·x̂0 − (1/2r)·x̂0_prev, r = h_prev/h.
/// Without a previous step (`prev` = None) it is first order (DDIM): D = x̂0.
pub fn dpmpp_2m(sde: &Sde, t: f64, t_next: f64, prev: Option<(f64, &[f32])>, x: &mut [f32], x0: &[f32]) {
    let (m, mn) = (sde.marginal(t), sde.marginal(t_next));
    let h = sde.log_snr(t_next) - sde.log_snr(t);
    let (keep, c) = (mn.std / m.std, mn.mean * -(-h).exp_m1());
    let w = prev.map_or(0.0, |(h_prev, _)| 0.5 * h / h_prev);
    for i in 0..x.len() {
        let d = match prev {
            Some((_, p)) => (1.0 + w) * x0[i] as f64 - w * p[i] as f64,
            None => x0[i] as f64,
        };
        x[i] = (keep * x[i] as f64 + c * d) as f32;
    }
}

/// Stochastic DPM-Solver++(2M) (Lu et al. 2022, SDE-DPM-Solver++(2M); k-diffusion's midpoint form, η = 1):
/// x' = (σ'/σ)e^(−h)·x + α'(1 − e^(−2h))·[x̂0 + (1/2r)(x̂0 − x̂0_prev)] + σ'·√(1 − e^(−2h))·z.
/// First order (the exact solution of the linear part given x̂0) without a previous step.
pub fn dpmpp_2m_sde(sde: &Sde, t: f64, t_next: f64, prev: Option<(f64, &[f32])>, x: &mut [f32], x0: &[f32], z: &[f32]) {
    let (m, mn) = (sde.marginal(t), sde.marginal(t_next));
    let h = sde.log_snr(t_next) - sde.log_snr(t);
    let one_minus = -(-2.0 * h).exp_m1();
    let (keep, c, noise) = (mn.std / m.std * (-h).exp(), mn.mean * one_minus, mn.std * one_minus.sqrt());
    let w = prev.map_or(0.0, |(h_prev, _)| 0.5 * h / h_prev);
    for i in 0..x.len() {
        let d = match prev {
            Some((_, p)) => (1.0 + w) * x0[i] as f64 - w * p[i] as f64,
            None => x0[i] as f64,
        };
        x[i] = (keep * x[i] as f64 + c * d + noise * z[i] as f64) as f32;
    }
}

/// One EDM step (Karras et al. 2022) in the scaled variables x̃ = x/α, σ̃ = σ/α, where the ODE is
/// dx̃/dσ̃ = (x̃ − x̂0)/σ̃ = −σ·s: x̃' = x̃ + (σ̃' − σ̃)·d̄ with d̄ = −σ(t)·s (Euler) or the mean of that and
/// −σ(t')·s2, s2 the score at the Euler guess (Heun). Result in `out`, unscaled (x' = α'·x̃').
pub fn edm_step(sde: &Sde, t: f64, t_next: f64, x: &[f32], s: &[f32], s2: Option<&[f32]>, out: &mut [f32]) {
    let (m, mn) = (sde.marginal(t), sde.marginal(t_next));
    let dsig = mn.std / mn.mean - m.std / m.mean;
    let (a, inv) = (mn.mean, 1.0 / m.mean);
    for i in 0..x.len() {
        let dir = match s2 {
            Some(s2) => -0.5 * (m.std * s[i] as f64 + mn.std * s2[i] as f64),
            None => -m.std * s[i] as f64,
        };
        out[i] = (a * (x[i] as f64 * inv + dsig * dir)) as f32;
    }
}

/// EDM's churn: raises the noise from σ̃(t) to σ̃(t_hat) ≥ σ̃(t) by adding fresh noise,
/// x̃ ← x̃ + √(σ̃(t_hat)² − σ̃(t)²)·z, in place (unscaled: x ← α(t_hat)·x̃).
pub fn edm_churn(sde: &Sde, t: f64, t_hat: f64, x: &mut [f32], z: &[f32]) {
    let (m, mh) = (sde.marginal(t), sde.marginal(t_hat));
    let (sig, sig_hat) = (m.std / m.mean, mh.std / mh.mean);
    let (scale, noise) = (mh.mean / m.mean, mh.mean * (sig_hat * sig_hat - sig * sig).max(0.0).sqrt());
    for i in 0..x.len() {
        x[i] = (scale * x[i] as f64 + noise * z[i] as f64) as f32;
    }
}
