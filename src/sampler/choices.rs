//! The sampler settings a caller or a bundle chooses (each optional), the rules each value obeys, and how a
//! caller's choices resolve over the bundle's and the runtime's defaults into the `SamplerConfig` of one run.
//!
//! Every rule about the sampler settings is stated here once. The manifest's `sampler` section is checked at load
//! by the same two functions a request goes through (`SamplerChoices::check`, then `resolve`), and the Rust API,
//! the C ABI and the CLI all reach the sampler through them.

use super::options::{Corrector, LangevinNorm, Method, Predictor, SamplerConfig, Schedule, Solver, Start};
use crate::error::{Error, StartError};
use crate::sde::{Sde, SdeKind};

/// Largest `steps` accepted: the paper's N is 1000; a million is far beyond any use and still cancellable.
pub const MAX_STEPS: usize = 1_000_000;
/// Largest `corrector_steps` accepted (score_sde uses 1). A manifest asking for 2^64 corrector steps would
/// otherwise run forever (found by tests/fuzz_loader.rs).
pub const MAX_CORRECTOR_STEPS: usize = 1_000;

/// The one list of sampler settings: `name: Type` with its documentation. `SamplerChoices` (the manifest's
/// `sampler` section, the CLI's flags), `SampleOptions` and the C ABI's translation are all generated from it by
/// passing a macro that takes the list: adding a setting here adds it to each of them.
macro_rules! sampler_settings {
    ($m:ident) => {
        $m! {
            /// Where the reverse process starts (default: the bundle's, else the flow when the bundle has one, else
            /// the Gaussian start when it has one, else the prior).
            start: $crate::sampler::Start,
            /// Which flow or Gaussian (its T_m) for the flow and Gaussian starts (default: the bundle's when this start
            /// has a network there, else the largest T_m).
            t_m: f64,
            /// Temperature τ of the flow and Gaussian starts, z ~ N(0, τ²I) (default 1).
            temperature: f64,
            /// sde (reverse-time SDE) or ode (probability flow). Default: the solver's, else sde.
            method: $crate::sampler::Method,
            /// Predictor of the SDE method (default: reverse_diffusion for VE, else euler_maruyama).
            predictor: $crate::sampler::Predictor,
            /// Corrector of the SDE method (default: langevin for VE, else none).
            corrector: $crate::sampler::Corrector,
            /// Signal-to-noise ratio of the Langevin corrector (default 0.16).
            snr: f64,
            /// Corrector steps per predictor step (default 1).
            corrector_steps: usize,
            /// per_sample (default) or batch (score_sde's batch-averaged norms).
            langevin_norm: $crate::sampler::LangevinNorm,
            /// Solver: euler, heun, dpmpp_2m, edm_heun, rk45 (method ode) or dpmpp_2m_sde (method sde; replaces
            /// predictor/corrector). Given alone, it selects its method.
            solver: $crate::sampler::Solver,
            /// Step grid of the fixed-step solvers: time (uniform t), logsnr (uniform log-SNR) or edm (Karras ρ = 7).
            /// Default: the solver's own (`Solver::default_schedule`); a bundle's grid applies to its own solver only.
            schedule: $crate::sampler::Schedule,
            /// rk45's relative tolerance (default 1e-5, as score_sde).
            rtol: f64,
            /// rk45's absolute tolerance (default 1e-5).
            atol: f64,
            /// edm_heun's S_churn: fresh noise per step (default 0, deterministic).
            churn: f64,
            /// Reverse steps from the start time. Default: a bundle's steps for its own sampler, else the solver's
            /// measured default (`Solver::default_steps`), for the predictor/corrector sampler int(N·t_start). Ignored
            /// by rk45.
            steps: usize,
            /// Return the last step's noise-free mean (default true).
            denoise: bool,
            /// Classifier-free guidance scale w ≥ 0: score (1 + w)·s(x|y) − w·s(x|null), two score evaluations per
            /// step; needs a score that takes the null label (default: the bundle's, else 0 = none).
            guidance: f64,
        }
    };
}
pub(crate) use sampler_settings;

macro_rules! define_choices {
    ($($(#[doc = $doc:expr])* $field:ident: $ty:ty,)+) => {
        /// Sampler settings, each optional: a bundle's defaults (the manifest's `sampler` section) or a caller's
        /// choices (`SampleOptions::choices`). `None` = not chosen.
        #[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "cli", derive(clap::Args))]
        #[serde(deny_unknown_fields)]
        pub struct SamplerChoices {
            $(
                $(#[doc = $doc])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                #[cfg_attr(feature = "cli", arg(long))]
                pub $field: Option<$ty>,
            )+
        }
    };
}
sampler_settings!(define_choices);

impl SamplerChoices {
    /// The rules every value obeys on its own, whoever chose it. `who` prefixes the setting's name in messages
    /// ("sampler." for a manifest, "" for a caller).
    pub fn check(&self, who: &str) -> Result<(), String> {
        let positive = |v: Option<f64>, name: &str| match v {
            Some(v) if !(v > 0.0 && v.is_finite()) => Err(format!("{who}{name} must be > 0, got {v}")),
            _ => Ok(()),
        };
        let non_negative = |v: Option<f64>, name: &str| match v {
            Some(v) if !(v >= 0.0 && v.is_finite()) => Err(format!("{who}{name} must be ≥ 0, got {v}")),
            _ => Ok(()),
        };
        let count = |v: Option<usize>, name: &str, limit: usize| match v {
            Some(0) => Err(format!("{who}{name} must be ≥ 1")),
            Some(v) if v > limit => Err(format!("{who}{name} = {v} is unreasonably large (limit {limit})")),
            _ => Ok(()),
        };
        positive(self.temperature, "temperature")?;
        positive(self.snr, "snr")?;
        positive(self.atol, "atol")?;
        non_negative(self.churn, "churn")?;
        non_negative(self.guidance, "guidance")?;
        count(self.steps, "steps", MAX_STEPS)?;
        count(self.corrector_steps, "corrector_steps", MAX_CORRECTOR_STEPS)?;
        if let Some(r) = self.rtol.filter(|r| !(1e-7..1.0).contains(r)) {
            return Err(format!("{who}rtol must be in [1e-7, 1) (rk45's state is f32), got {r}"));
        }
        if self.method == Some(Method::Ode) && self.solver == Some(Solver::Dpmpp2mSde) {
            return Err(format!(
                "{who}solver 'dpmpp_2m_sde' samples the reverse SDE, so it needs {who}method 'sde': use method 'sde', \
                 or dpmpp_2m for the ODE"
            ));
        }
        Ok(())
    }
}

/// What resolving needs to know about a bundle.
pub struct BundleFacts<'a> {
    pub sde: &'a Sde,
    /// T_m of each flow, ascending.
    pub t_ms: &'a [f64],
    /// T_m of each Gaussian start (manifest `gaussians`), ascending.
    pub gaussian_t_ms: &'a [f64],
    /// The score's largest trained time (the prior start needs 1).
    pub t_max: f64,
    /// Whether the score takes the null label (classifier-free guidance).
    pub null_label: bool,
    /// The start a run takes when neither the caller nor the manifest names one (`Manifest::default_start`).
    pub default_start: Start,
}

impl BundleFacts<'_> {
    /// T_m of the networks of a start at T_m (flows or Gaussians), ascending; empty for the prior.
    pub fn start_t_ms(&self, start: Start) -> &[f64] {
        match start {
            Start::Flow => self.t_ms,
            Start::Gaussian => self.gaussian_t_ms,
            Start::Prior => &[],
        }
    }

    fn possible(&self, start: Start) -> bool {
        match start {
            Start::Prior => self.t_max >= 1.0,
            s => !self.start_t_ms(s).is_empty(),
        }
    }

    /// The exact T_m of `start`'s network at a requested one (to 1e-6), or the error naming the T_m values there are.
    pub fn start_t_m(&self, start: Start, t_m: f64) -> Result<f64, StartError> {
        let t_ms = self.start_t_ms(start);
        t_ms.iter().copied().find(|f| (f - t_m).abs() < 1e-6).ok_or_else(|| StartError::NoTm {
            start,
            t_m,
            available: t_ms.to_vec(),
        })
    }
}

/// Resolves a caller's choices `o` over the bundle's defaults `d` (already checked) and the runtime's, refusing
/// inconsistent choices (`Error::InvalidArgument`, or `Error::Start` for a start the bundle cannot give). `who`
/// prefixes the caller's settings in messages, as for `SamplerChoices::check`; a manifest is checked at load by
/// resolving an empty request with `who` = "sampler.".
pub fn resolve(o: &SamplerChoices, d: &SamplerChoices, f: &BundleFacts<'_>, who: &str) -> Result<SamplerConfig, Error> {
    o.check(who).map_err(Error::InvalidArgument)?;
    let start = o.start.or(d.start).unwrap_or(f.default_start);
    let t_start = match start {
        Start::Flow | Start::Gaussian => {
            let t_ms = f.start_t_ms(start);
            let Some(&last) = t_ms.last() else {
                let others = Start::ALL.iter().copied().filter(|&s| s != start && f.possible(s)).collect();
                return Err(StartError::Absent { start, others }.into());
            };
            // The bundle's T_m belongs to its default start: it applies when this start has a network there, else
            // this start's largest T_m (the one closest to the prior).
            let bundle_t = d.t_m.filter(|&t| t_ms.iter().any(|m| (m - t).abs() < 1e-6));
            f.start_t_m(start, o.t_m.or(bundle_t).unwrap_or(last))?
        }
        Start::Prior => {
            if f.t_max < 1.0 {
                return Err(Error::InvalidArgument(format!(
                    "{who}start 'prior' needs a score trained up to t = 1; this one stops at {}",
                    f.t_max
                )));
            }
            if o.t_m.is_some() {
                return Err(Error::invalid("t_m selects a flow or Gaussian; it has no meaning with start 'prior'"));
            }
            1.0
        }
    };
    resolve_sampler(o, d, f, who, start, t_start).map_err(Error::InvalidArgument)
}

/// Which sampler a method and solver select: the predictor/corrector sampler (method sde with an ODE solver, which
/// it ignores) or the solver itself.
fn sampler_of(method: Method, solver: Solver) -> Option<Solver> {
    (method == solver.method()).then_some(solver)
}

/// The rest of `resolve`, once the start is known: the sampler's settings and their cross rules.
fn resolve_sampler(
    o: &SamplerChoices,
    d: &SamplerChoices,
    f: &BundleFacts<'_>,
    who: &str,
    start: Start,
    t_start: f64,
) -> Result<SamplerConfig, String> {
    let sde = f.sde;
    let ve = sde.kind == SdeKind::Ve;
    // A solver chosen without a method brings its own (so `solver: dpmpp_2m` alone is not ignored).
    let method = o.method.or(o.solver.map(Solver::method)).or(d.method).unwrap_or(Method::Sde);
    // A bundle's default SDE solver (dpmpp_2m_sde) gives way to what the caller picked instead: an explicit
    // predictor or corrector (the predictor/corrector sampler) or method 'ode' (the ODE solvers' default).
    let bundle_solver = d.solver.filter(|s| {
        s.method() != Method::Sde || (method == Method::Sde && o.predictor.is_none() && o.corrector.is_none())
    });
    let solver = o.solver.or(bundle_solver).unwrap_or(Solver::Heun);
    // The manifest's grid and steps were chosen for the manifest's own sampler (9 steps suit its dpmpp_2m_sde, not
    // Euler–Maruyama; 200 predictor/corrector steps are not Heun's); any other sampler gets the grid and steps it is
    // accurate with (`Solver::default_schedule`, `Solver::default_steps`); the caller's always win.
    let manifest_method = d.method.or(d.solver.map(Solver::method)).unwrap_or(Method::Sde);
    let own = sampler_of(method, solver) == sampler_of(manifest_method, d.solver.unwrap_or(Solver::Heun));
    // Steps: the caller's, else the manifest's for its own sampler, else the solver's measured default, else (the
    // predictor/corrector sampler) score_sde's int(N·t_start).
    let solver_steps = solver.default_steps().filter(|_| sampler_of(method, solver).is_some());
    let steps = o.steps.or(d.steps.filter(|_| own)).or(solver_steps).unwrap_or_else(|| sde.default_steps(t_start));
    let mut cfg = SamplerConfig {
        start,
        t_start,
        temperature: o.temperature.or(d.temperature).unwrap_or(1.0),
        method,
        predictor: o.predictor.or(d.predictor).unwrap_or(if ve {
            Predictor::ReverseDiffusion
        } else {
            Predictor::EulerMaruyama
        }),
        corrector: o.corrector.or(d.corrector).unwrap_or(if ve { Corrector::Langevin } else { Corrector::None }),
        snr: o.snr.or(d.snr).unwrap_or(0.16),
        corrector_steps: o.corrector_steps.or(d.corrector_steps).unwrap_or(1),
        langevin_norm: o.langevin_norm.or(d.langevin_norm).unwrap_or(LangevinNorm::PerSample),
        solver,
        schedule: o.schedule.or(d.schedule.filter(|_| own)).unwrap_or(solver.default_schedule()),
        rtol: o.rtol.or(d.rtol).unwrap_or(1e-5),
        atol: o.atol.or(d.atol).unwrap_or(1e-5),
        churn: o.churn.or(d.churn).unwrap_or(0.0),
        steps,
        denoise: o.denoise.or(d.denoise).unwrap_or(true),
        guidance: o.guidance.or(d.guidance).unwrap_or(0.0),
    };
    // The predictor/corrector sampler steps on the uniform-t grid, so that is what its config says.
    if cfg.predictor_corrector() {
        cfg.schedule = Schedule::Time;
    }
    if cfg.guidance > 0.0 && !f.null_label {
        return Err(format!(
            "{who}guidance needs a score that takes the null label (manifest score.null_label); this bundle has none \
             (got {})",
            cfg.guidance
        ));
    }
    let pc = cfg.predictor_corrector();
    if pc && cfg.predictor == Predictor::None && cfg.corrector == Corrector::None {
        return Err(format!("{who}predictor and corrector are both 'none': nothing would be sampled"));
    }
    if pc && cfg.predictor == Predictor::Ancestral && sde.kind == SdeKind::Subvp {
        return Err(format!(
            "{who}predictor 'ancestral' is not defined for the sub-VP SDE (use euler_maruyama or reverse_diffusion)"
        ));
    }
    // A caller's explicit choice that the resolved sampler would ignore must not pass silently; the bundle's defaults
    // for other solvers are simply not used.
    let used = |s: Solver| !pc && cfg.solver == s;
    if let Some(s) = o.schedule.filter(|&s| s != Schedule::Time && (pc || cfg.solver == Solver::Rk45)) {
        let by = if pc { "the predictor/corrector sampler" } else { "rk45" };
        return Err(format!(
            "schedule '{s}' applies to the fixed-step solvers (euler, heun, dpmpp_2m, dpmpp_2m_sde, edm_heun), not \
                to {by}"
        ));
    }
    if (o.rtol.is_some() || o.atol.is_some()) && !used(Solver::Rk45) {
        return Err("rtol/atol apply to solver rk45 only".into());
    }
    if o.churn.is_some_and(|c| c > 0.0) && !used(Solver::EdmHeun) {
        return Err("churn applies to solver edm_heun only".into());
    }
    Ok(cfg)
}
