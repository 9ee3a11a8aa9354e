//! The three linear forward SDEs of score_sde (VE, VP, sub-VP): marginals, drift, diffusion, and the
//! discretisations the reverse samplers use. Pure math on f64 scalars; no tensors here.

use serde::{Deserialize, Serialize};

use crate::names::named_enum;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdeKind {
    Ve,
    Vp,
    Subvp,
}

impl crate::names::Named for SdeKind {
    const ALL: &'static [SdeKind] = &[SdeKind::Ve, SdeKind::Vp, SdeKind::Subvp];
    fn name(self) -> &'static str {
        SdeKind::name(self)
    }
}

impl SdeKind {
    pub fn name(self) -> &'static str {
        match self {
            SdeKind::Ve => "ve",
            SdeKind::Vp => "vp",
            SdeKind::Subvp => "subvp",
        }
    }
}

named_enum!(
    /// Where the fixed-step solvers put their steps between the start time and eps. Every grid is mapped back to t
    /// through the SDE, so it works for VE, VP and sub-VP alike.
    Schedule {
        /// Uniform in t (score_sde).
        Time = "time",
        /// Uniform in the log signal-to-noise ratio λ = log(α/σ) (DPM-Solver).
        LogSnr = "logsnr",
        /// Karras et al. (EDM): uniform in σ̃^(1/ρ), ρ = 7, with σ̃ = σ/α = e^(−λ).
        Edm = "edm",
        /// Uniform in the angle u = atan(σ̃/σ_d), σ_d = 0.5 (EDM's σ_data): σ̃ = σ_d·tan u, the cosine schedule
        /// (Nichol & Dhariwal) scaled to σ_d. Even steps in u are what a Gaussian's trajectory needs at every
        /// noise level (docs/solver-convergence.md).
        Cosine = "cosine",
    }
);

/// The cosine grid's σ_d: EDM's data standard deviation for data scaled to [−1, 1]. A constant, not the bundle's
/// data: the grid is tested on data with sd 0.1 and 0.2 (tests/solver_defaults.rs).
pub const COSINE_SIGMA_DATA: f64 = 0.5;

/// A forward SDE dx = f(t)·x dt + g(t) dW on t in [0, 1], with `n` discretisation steps and sampling cutoff `eps`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sde {
    pub kind: SdeKind,
    /// VE only.
    pub sigma_min: f64,
    pub sigma_max: f64,
    /// VP and sub-VP only.
    pub beta_min: f64,
    pub beta_max: f64,
    pub n: usize,
    pub eps: f64,
}

/// x(t) | x(0) ~ N(mean · x(0), std² I).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Marginal {
    pub mean: f64,
    pub std: f64,
}

/// One reverse step's discretisation over [t_next, t]: f = f_coeff·x (the step's drift, already times the step),
/// noise std g. Reverse-diffusion: x_mean = x − f + g²·score, x = x_mean + g·z.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Discrete {
    pub f_coeff: f64,
    pub g: f64,
}

impl Sde {
    pub fn ve(sigma_min: f64, sigma_max: f64, n: usize, eps: f64) -> Self {
        Sde { kind: SdeKind::Ve, sigma_min, sigma_max, beta_min: 0.0, beta_max: 0.0, n, eps }
    }
    pub fn vp(beta_min: f64, beta_max: f64, n: usize, eps: f64) -> Self {
        Sde { kind: SdeKind::Vp, sigma_min: 0.0, sigma_max: 0.0, beta_min, beta_max, n, eps }
    }
    pub fn subvp(beta_min: f64, beta_max: f64, n: usize, eps: f64) -> Self {
        Sde { kind: SdeKind::Subvp, sigma_min: 0.0, sigma_max: 0.0, beta_min, beta_max, n, eps }
    }

    /// VE noise level σ(t) = σmin (σmax/σmin)^t.
    pub fn sigma(&self, t: f64) -> f64 {
        self.sigma_min * (self.sigma_max / self.sigma_min).powf(t)
    }

    /// VP/sub-VP β(t) = β0 + t(β1 − β0).
    pub fn beta(&self, t: f64) -> f64 {
        self.beta_min + t * (self.beta_max - self.beta_min)
    }

    /// log of the VP mean coefficient: m(t) = −¼t²(β1−β0) − ½tβ0.
    fn log_mean_coeff(&self, t: f64) -> f64 {
        -0.25 * t * t * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min
    }

    pub fn marginal(&self, t: f64) -> Marginal {
        match self.kind {
            SdeKind::Ve => Marginal { mean: 1.0, std: self.sigma(t) },
            SdeKind::Vp => {
                let m = self.log_mean_coeff(t);
                Marginal { mean: m.exp(), std: (-(2.0 * m).exp_m1()).sqrt() }
            }
            SdeKind::Subvp => {
                let m = self.log_mean_coeff(t);
                Marginal { mean: m.exp(), std: -(2.0 * m).exp_m1() }
            }
        }
    }

    /// Drift coefficient: f(x, t) = drift(t)·x.
    pub fn drift(&self, t: f64) -> f64 {
        match self.kind {
            SdeKind::Ve => 0.0,
            SdeKind::Vp | SdeKind::Subvp => -0.5 * self.beta(t),
        }
    }

    /// Diffusion coefficient g(t).
    pub fn diffusion(&self, t: f64) -> f64 {
        match self.kind {
            SdeKind::Ve => self.sigma(t) * (2.0 * (self.sigma_max / self.sigma_min).ln()).sqrt(),
            SdeKind::Vp => self.beta(t).sqrt(),
            SdeKind::Subvp => {
                let discount = 1.0 - (-2.0 * self.beta_min * t - (self.beta_max - self.beta_min) * t * t).exp();
                (self.beta(t) * discount).sqrt()
            }
        }
    }

    /// Standard deviation of the prior x(1) ~ N(0, std² I).
    pub fn prior_std(&self) -> f64 {
        match self.kind {
            SdeKind::Ve => self.sigma_max,
            SdeKind::Vp | SdeKind::Subvp => 1.0,
        }
    }

    /// Noise level of the data-space perturbation at t, as seen by the reverse-diffusion discretisation
    /// (SMLD for VE: σ at the previous level is 0 below the first level).
    fn ve_level(&self, t: f64) -> f64 {
        if t <= 0.0 {
            0.0
        } else {
            self.sigma(t)
        }
    }

    /// Discretisation of the reverse step from `t` down to `t_next` (< t, may be 0).
    /// VE: SMLD (f = 0, g² = σ(t)² − σ(t_next)²). VP: DDPM with 1 − β = (a(t)/a(t_next))², f = (√(1−β) − 1),
    /// g = √β. sub-VP: Euler–Maruyama of the continuous SDE. With the default grid these are score_sde's σ_i / β_i.
    pub fn discretize(&self, t: f64, t_next: f64) -> Discrete {
        match self.kind {
            SdeKind::Ve => {
                let (s, s_next) = (self.ve_level(t), self.ve_level(t_next));
                Discrete { f_coeff: 0.0, g: (s * s - s_next * s_next).max(0.0).sqrt() }
            }
            SdeKind::Vp => {
                let beta = self.interval_beta(t, t_next);
                Discrete { f_coeff: (1.0 - beta).sqrt() - 1.0, g: beta.sqrt() }
            }
            SdeKind::Subvp => {
                let dt = t - t_next;
                Discrete { f_coeff: self.drift(t) * dt, g: self.diffusion(t) * dt.sqrt() }
            }
        }
    }

    /// The DDPM β of the interval [t_next, t]: 1 − (a(t)/a(t_next))², with a the VP mean coefficient.
    pub fn interval_beta(&self, t: f64, t_next: f64) -> f64 {
        let log_ratio = 2.0 * (self.log_mean_coeff(t) - self.log_mean_coeff(t_next.max(0.0)));
        -log_ratio.exp_m1()
    }

    /// The Langevin step's α of score_sde: 1 − β_i for VP/sub-VP (β_i the N-step DDPM β at t), 1 for VE.
    pub fn langevin_alpha(&self, t: f64) -> f64 {
        match self.kind {
            SdeKind::Ve => 1.0,
            SdeKind::Vp | SdeKind::Subvp => {
                let n = self.n as f64;
                let i = (t * (n - 1.0)).floor();
                let beta_i = self.beta_min / n + i / (n - 1.0).max(1.0) * (self.beta_max - self.beta_min) / n;
                1.0 - beta_i
            }
        }
    }

    /// The sampler's evaluation times: linspace(t_start, eps, steps), as in score_sde, plus the end point of the
    /// last step (one more uniform step, clamped at 0), so step k goes from grid[k] to grid[k+1].
    pub fn time_grid(&self, t_start: f64, steps: usize) -> Vec<f64> {
        assert!(steps >= 1);
        let mut grid: Vec<f64> = if steps == 1 {
            vec![t_start]
        } else {
            let h = (t_start - self.eps) / (steps - 1) as f64;
            (0..steps).map(|k| if k + 1 == steps { self.eps } else { t_start - h * k as f64 }).collect()
        };
        let h = if steps == 1 { t_start } else { (t_start - self.eps) / (steps - 1) as f64 };
        grid.push((self.eps - h).max(0.0));
        grid
    }

    /// The probability-flow ODE's grid: steps intervals from t_start to eps (steps + 1 points).
    pub fn ode_grid(&self, t_start: f64, steps: usize) -> Vec<f64> {
        assert!(steps >= 1);
        let h = (t_start - self.eps) / steps as f64;
        (0..=steps).map(|k| if k == steps { self.eps } else { t_start - h * k as f64 }).collect()
    }

    /// Log signal-to-noise ratio λ(t) = log(α/σ) of the marginal x(t) = α·x(0) + σ·ε; decreasing in t.
    pub fn log_snr(&self, t: f64) -> f64 {
        let m = self.marginal(t);
        match self.kind {
            SdeKind::Ve => -m.std.ln(),
            // log α is exact here; α itself underflows nowhere in [0, 1] but its log is what we have.
            SdeKind::Vp | SdeKind::Subvp => self.log_mean_coeff(t) - m.std.ln(),
        }
    }

    /// The inverse of `log_snr`: the time at which λ(t) = `lambda` (closed forms; may leave [0, 1] for λ outside
    /// the SDE's range).
    pub fn t_of_log_snr(&self, lambda: f64) -> f64 {
        match self.kind {
            SdeKind::Ve => (-lambda - self.sigma_min.ln()) / (self.sigma_max / self.sigma_min).ln(),
            SdeKind::Vp | SdeKind::Subvp => {
                // L = −log α from λ: VP: α² = 1/(1 + e^(−2λ)); sub-VP: α/(1 − α²) = r = e^λ, the positive root of
                // rα² + α − r = 0, written so that L = log((1 + √(1+4r²))/2r) keeps its digits for large r.
                let l = if self.kind == SdeKind::Vp {
                    0.5 * (-2.0 * lambda).exp().ln_1p()
                } else {
                    let r = lambda.exp();
                    let q = 1f64.hypot(2.0 * r);
                    ((1.0 + 1.0 / (q + 2.0 * r)) / (2.0 * r)).ln_1p()
                };
                // ¼Δβ·t² + ½β0·t = L, the root ≥ 0 in the form without cancellation.
                let (a, b) = (0.25 * (self.beta_max - self.beta_min), 0.5 * self.beta_min);
                2.0 * l / (b + (b * b + 4.0 * a * l).sqrt())
            }
        }
    }

    /// The fixed-step solvers' grid: `steps` intervals from t_start down to eps (steps + 1 points, both ends exact),
    /// uniform in t, in λ, in σ̃^(1/7) with σ̃ = e^(−λ) (EDM), or in atan(σ̃/σ_d) (cosine), mapped back to t through
    /// the SDE.
    pub fn schedule_grid(&self, schedule: Schedule, t_start: f64, steps: usize) -> Vec<f64> {
        assert!(steps >= 1);
        let (l0, l1) = (self.log_snr(t_start), self.log_snr(self.eps));
        let frac = |k: usize| k as f64 / steps as f64;
        let mut grid: Vec<f64> = match schedule {
            Schedule::Time => return self.ode_grid(t_start, steps),
            Schedule::LogSnr => (0..=steps).map(|k| self.t_of_log_snr(l0 + frac(k) * (l1 - l0))).collect(),
            Schedule::Edm => {
                const RHO: f64 = 7.0;
                let (hi, lo) = ((-l0 / RHO).exp(), (-l1 / RHO).exp()); // σ̃^(1/ρ) at both ends
                (0..=steps).map(|k| self.t_of_log_snr(-RHO * (hi + frac(k) * (lo - hi)).ln())).collect()
            }
            Schedule::Cosine => {
                let angle = |l: f64| (-l).exp().atan2(COSINE_SIGMA_DATA);
                let (u0, u1) = (angle(l0), angle(l1));
                let t_of_angle = |u: f64| self.t_of_log_snr(-(COSINE_SIGMA_DATA * u.tan()).ln());
                (0..=steps).map(|k| t_of_angle(u0 + frac(k) * (u1 - u0))).collect()
            }
        };
        grid[0] = t_start;
        grid[steps] = self.eps;
        grid
    }

    /// score_sde's default number of reverse steps from t_start: int(N · t_start).
    pub fn default_steps(&self, t_start: f64) -> usize {
        ((self.n as f64 * t_start + 1e-9).floor() as usize).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mixed absolute/relative closeness. The tolerances below, by kind: 1e-12 for closed forms evaluated in f64
    /// (a few dozen roundings of 2⁻⁵³ ≈ 1.1e-16: ≤ ~1e-14, on any CPU, FMA or not); 1e-8…1e-5 for central differences
    /// with h = 1e-6 (truncation h²·f‴/6 ≈ 2e-13·f‴, roundoff 2⁻⁵³·|f|/h ≈ 1e-10·|f|); 1e-3 and 1e-2 for figures
    /// quoted to 4 and 3 digits; 2e-2 for a first-order-in-1/N approximation (N = 1000, see the test).
    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + b.abs())
    }

    #[test]
    fn ve_marginal_and_diffusion_match_closed_forms() {
        let sde = Sde::ve(0.01, 50.0, 1000, 1e-5);
        assert!(close(sde.marginal(0.0).std, 0.01, 1e-12));
        assert!(close(sde.marginal(1.0).std, 50.0, 1e-12));
        // The method doc: VE-CIFAR noise at T_m = 0.6 is 1.657 (4 digits: ±5e-4 from rounding, inside 1e-3·2.657).
        assert!(close(sde.marginal(0.6).std, 1.657, 1e-3));
        // d/dt σ² = g²: check numerically.
        let t = 0.37;
        let h = 1e-6;
        let dvar = (sde.sigma(t + h).powi(2) - sde.sigma(t - h).powi(2)) / (2.0 * h);
        assert!(close(sde.diffusion(t).powi(2), dvar, 1e-6)); // roundoff 2⁻⁵³·σ²/h ≈ 1e-11 ≪ 1e-6
    }

    #[test]
    fn vp_marginal_matches_method_doc_and_fokker_planck() {
        let sde = Sde::vp(0.1, 20.0, 1000, 1e-3);
        let m = sde.marginal(0.6);
        // Figures quoted to 3 digits: rounding leaves ±5e-4, inside both tolerances.
        assert!(close(m.mean, 0.162, 1e-2), "{m:?}");
        assert!(close(m.std, 0.987, 1e-3), "{m:?}");
        // Variance ODE for unit-variance data: d/dt Var = 2 f Var + g², with Var = a² + std².
        for &t in &[0.05, 0.3, 0.8] {
            let var = |t: f64| {
                let m = sde.marginal(t);
                m.mean * m.mean + m.std * m.std
            };
            let h = 1e-6;
            let dvar = (var(t + h) - var(t - h)) / (2.0 * h);
            assert!(close(dvar, 2.0 * sde.drift(t) * var(t) + sde.diffusion(t).powi(2), 1e-5));
            // Mean ODE: d/dt a = f a.
            let da = (sde.marginal(t + h).mean - sde.marginal(t - h).mean) / (2.0 * h);
            assert!(close(da, sde.drift(t) * sde.marginal(t).mean, 1e-6));
        }
    }

    #[test]
    fn subvp_std_has_no_sqrt_and_satisfies_variance_ode() {
        let sde = Sde::subvp(0.1, 20.0, 1000, 1e-3);
        let vp = Sde::vp(0.1, 20.0, 1000, 1e-3);
        let t = 0.5;
        assert!(close(sde.marginal(t).std, vp.marginal(t).std.powi(2), 1e-12));
        // Var of x(t) for data variance s²: a² s² + std²; check the ODE at s² = 0.3.
        let var = |t: f64| {
            let m = sde.marginal(t);
            m.mean * m.mean * 0.3 + m.std * m.std
        };
        let h = 1e-6;
        let dvar = (var(t + h) - var(t - h)) / (2.0 * h);
        assert!(close(dvar, 2.0 * sde.drift(t) * var(t) + sde.diffusion(t).powi(2), 1e-5));
    }

    #[test]
    fn discretisations_match_score_sde_on_the_default_grid() {
        let n = 1000;
        let vp = Sde::vp(0.1, 20.0, n, 1e-3);
        // DDPM β_i = β0/N + i/(N−1)·(β1−β0)/N; our interval β over one grid step ≈ β(t)/N. The two agree to first
        // order in 1/N: ours is 1 − exp(−β(t − 1/2N)/N), −0.1% from the midpoint and −β/2N = −0.5% from the
        // exponential, so ±2% relative (close(ratio, 1, 1e-2) allows |ratio − 1| ≤ 2e-2). Compared as ratios: the
        // values are ~0.01, and close(value, want, 2e-2) would have been an absolute ±0.02 that passes anything.
        let d = vp.discretize(0.5, 0.5 - 1.0 / n as f64);
        let beta_ddpm = vp.beta(0.5) / n as f64;
        assert!(close(d.g * d.g / beta_ddpm, 1.0, 1e-2), "{} vs {beta_ddpm}", d.g * d.g);
        assert!(close(d.f_coeff / ((1.0 - beta_ddpm).sqrt() - 1.0), 1.0, 1e-2));
        let ve = Sde::ve(0.01, 50.0, n, 1e-5);
        let d = ve.discretize(0.7, 0.6);
        assert!(close(d.g * d.g, ve.sigma(0.7).powi(2) - ve.sigma(0.6).powi(2), 1e-12));
        // Last step removes the remaining σmin entirely, as SMLD's σ_{-1} = 0.
        let d = ve.discretize(1e-5, 0.0);
        assert!(close(d.g, ve.sigma(1e-5), 1e-12));
    }

    #[test]
    fn time_grid_is_score_sde_linspace_plus_end() {
        let vp = Sde::vp(0.1, 20.0, 1000, 1e-3);
        let steps = vp.default_steps(0.6);
        assert_eq!(steps, 600);
        let g = vp.time_grid(0.6, steps);
        assert_eq!(g.len(), 601);
        assert_eq!(g[0], 0.6);
        assert_eq!(g[599], 1e-3);
        // One uniform step past eps lands at ~0 (official dt = 1/N).
        assert!(g[600].abs() < 1e-9);
        let o = vp.ode_grid(0.6, 10);
        assert_eq!(o.len(), 11);
        assert_eq!(o[10], 1e-3);
        assert_eq!(vp.default_steps(1.0), 1000);
    }

    fn all_kinds() -> [Sde; 3] {
        [Sde::ve(0.01, 50.0, 1000, 1e-5), Sde::vp(0.1, 20.0, 1000, 1e-3), Sde::subvp(0.1, 20.0, 1000, 1e-3)]
    }

    #[test]
    fn log_snr_inverse_round_trips() {
        for sde in all_kinds() {
            for &t in &[sde.eps, 0.01, 0.2, 0.4, 0.6, 0.9, 1.0] {
                let l = sde.log_snr(t);
                let m = sde.marginal(t);
                assert!(close(l, (m.mean / m.std).ln(), 1e-12), "{:?} t {t}", sde.kind);
                let back = sde.t_of_log_snr(l);
                assert!((back - t).abs() < 1e-10 * (1.0 + t), "{:?}: t {t} → λ {l} → {back}", sde.kind);
            }
        }
    }

    #[test]
    fn schedule_grids_are_uniform_in_their_variable() {
        for sde in all_kinds() {
            for t0 in [0.6, 1.0] {
                let steps = 8;
                for sch in Schedule::ALL.iter().copied() {
                    let g = sde.schedule_grid(sch, t0, steps);
                    assert_eq!((g.len(), g[0], g[steps]), (steps + 1, t0, sde.eps), "{:?} {sch}", sde.kind);
                    assert!(g.windows(2).all(|w| w[1] < w[0]), "{:?} {sch}: not decreasing {g:?}", sde.kind);
                    // The variable each grid is uniform in: t, λ, e^(−λ/7), or atan(e^(−λ)/σ_d).
                    let v = |t: f64| match sch {
                        Schedule::Time => t,
                        Schedule::LogSnr => sde.log_snr(t),
                        Schedule::Edm => (-sde.log_snr(t) / 7.0).exp(),
                        Schedule::Cosine => ((-sde.log_snr(t)).exp() / COSINE_SIGMA_DATA).atan(),
                    };
                    let d0 = v(g[1]) - v(g[0]);
                    for w in g.windows(2) {
                        assert!(close(v(w[1]) - v(w[0]), d0, 1e-8), "{:?} {sch}: uneven steps {g:?}", sde.kind);
                    }
                }
            }
        }
    }
}
