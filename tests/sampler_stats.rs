//! Statistical ground truth for the sampler: the analytic bundles (tests/fixtures) hold the exact score of
//! Gaussian (and Gaussian-mixture) data under each SDE and the exact flow to x(T_m), so every start × predictor ×
//! corrector × ODE solver must reproduce the data distribution. Tolerances come from the sample count:
//! with M = n·D independent values, the mean's standard error is s/√M and the variance's is s²·√(2/M); we allow
//! `K` standard errors plus an allowance for the sampler's own error at the step counts used (`allowance`). With
//! n = 4096 images of 16 pixels that is ±4% on the variance (predictor-only samplers, ODE Heun) and ±0.03 on a
//! mixture weight, so a wrong factor in one coefficient fails (the mutation table in tests/fixtures/README.md
//! lists what each test catches). Runs in about 2.5 CPU-minutes.

mod common;
use common::*;
use dinof::{Corrector, LangevinNorm, Method, Model, Predictor, SampleOptions, SampleReport, SdeKind, Solver, Start};

/// Images per run: a mixture weight is then known to ±0.007 (one standard error) and the variance of n·16 values
/// to ±0.55%.
const N: usize = 4096;
/// Standard errors allowed (the seeds are fixed, so a test is deterministic; 5 keeps a reseed from failing).
const K: f64 = 5.0;
/// Mixture weight tolerance (4.2 standard errors at w = 0.7, n = 4096).
const WEIGHT_TOL: f64 = 0.03;
/// The flow start's T_m in the every-combination tests: at 0.4 x(T_m) is still far from the prior (VP mean
/// coefficient 0.44), so a flow start that ignored the flow would show.
const T_M: f64 = 0.4;

#[derive(Clone, Copy, Debug)]
enum Combo {
    Sde(Predictor, Corrector),
    Ode(Solver),
}

fn combos(kind: SdeKind) -> Vec<Combo> {
    let mut v = Vec::new();
    for p in [Predictor::ReverseDiffusion, Predictor::EulerMaruyama, Predictor::Ancestral, Predictor::None] {
        for c in [Corrector::None, Corrector::Langevin] {
            if p == Predictor::None && c == Corrector::None {
                continue;
            }
            if p == Predictor::Ancestral && kind == SdeKind::Subvp {
                continue;
            }
            v.push(Combo::Sde(p, c));
        }
    }
    v.push(Combo::Ode(Solver::Euler));
    v.push(Combo::Ode(Solver::Heun));
    v
}

/// Relative allowance (of s for the mean, of s² for the variance) for what the sampler itself gets wrong at the
/// step counts of `options`: the largest error measured over every bundle, start and seed here, rounded up
/// (tests/fixtures/README.md). With 5 standard errors (2.8% of s² at n = 4096) the variance tolerance is ±4% for
/// the predictor-only SDE samplers and ODE Heun.
fn allowance(kind: SdeKind, combo: Combo) -> f64 {
    match combo {
        // Annealed Langevin dynamics (4 corrector steps per level, snr 0.16): its finite step leaves −5…−7.5%.
        Combo::Sde(Predictor::None, _) => 0.085,
        // Predictor + Langevin with batch norms: +2…+4%.
        Combo::Sde(_, Corrector::Langevin) => 0.045,
        // SMLD ancestral sampling takes the posterior variance σ'²(σ² − σ'²)/σ² of point-mass data: −2.3% for data
        // of spread s, whatever the step count.
        Combo::Sde(Predictor::Ancestral, _) if kind == SdeKind::Ve => 0.03,
        // Everything else: ≤ 1.3%. The ODE Euler (σ̃-Euler) is first order: 2.6% at worst at 135 steps on these
        // bundles (docs/solver-convergence.md), so ≈ 135/1000 of that, 0.35%, at the 1000 steps of `options`.
        _ => 0.012,
    }
}

fn options(combo: Combo, start: Start, seed: u64) -> SampleOptions {
    let mut o = SampleOptions { n: N, seed: Some(seed), start: Some(start), batch_size: N, ..Default::default() };
    if start == Start::Flow {
        o.t_m = Some(T_M);
    }
    match combo {
        Combo::Sde(p, c) => {
            o.method = Some(Method::Sde);
            o.predictor = Some(p);
            o.corrector = Some(c);
            // Corrector-only sampling is annealed Langevin dynamics: it needs several steps per noise level.
            o.corrector_steps = Some(if p == Predictor::None { 4 } else { 1 });
            // On these 16-pixel images a per-sample ‖z‖/‖s‖ is too noisy: the step then depends on the state and
            // inflates the variance by ~25% (a property of snr-based step sizes in low dimension, gone at image
            // sizes; see the 32×32 tests below). Batch-averaged norms give the exact stationary step here.
            o.langevin_norm = Some(LangevinNorm::Batch);
            o.steps = None; // score_sde's int(N·t_start): 400 from T_m 0.4, 1000 from the prior
        }
        Combo::Ode(s) => {
            o.method = Some(Method::Ode);
            o.solver = Some(s);
            o.steps = Some(if s == Solver::Euler { 1000 } else { 100 });
        }
    }
    o
}

/// Checks mean and variance of all values against N(mu, s²) with `bias` allowed for discretisation; returns a
/// message either way.
fn check_gauss(values: &[f32], mu: f64, s: f64, bias: f64) -> Result<String, String> {
    let m_count = values.len() as f64;
    let (mean, var) = mean_var(values);
    let mean_tol = K * s / m_count.sqrt() + bias * s;
    let var_tol = s * s * (K * (2.0 / m_count).sqrt() + bias);
    let msg = format!(
        "mean {mean:.4} ({:+.2}% of s; want {mu} ± {mean_tol:.4}), var {var:.5} ({:+.2}%; want {:.5} ± {:.2}%)",
        100.0 * (mean - mu) / s,
        100.0 * (var / (s * s) - 1.0),
        s * s,
        100.0 * var_tol / (s * s)
    );
    if (mean - mu).abs() <= mean_tol && (var - s * s).abs() <= var_tol {
        Ok(msg)
    } else {
        Err(msg)
    }
}

/// Mutation runs (tests/mutants.py) only need to know that a test fails: DINOF_STATS_FAIL_FAST stops a test at
/// its first failing combination.
fn fail_fast(failures: &[String]) -> bool {
    !failures.is_empty() && std::env::var_os("DINOF_STATS_FAIL_FAST").is_some()
}

fn run_gauss(kind: SdeKind, mu: f64, s: f64) {
    let model = load(&fixture(&format!("gauss-{}", kind.name())), 1, N);
    let mut failures = Vec::new();
    'starts: for start in [Start::Flow, Start::Prior] {
        for combo in combos(kind) {
            let opts = options(combo, start, 11);
            let v = sample_raw(&model, &opts);
            match check_gauss(&v, mu, s, allowance(kind, combo)) {
                Ok(m) => eprintln!("ok   {kind:?} {start} {combo:?}: {m}"),
                Err(m) => {
                    eprintln!("FAIL {kind:?} {start} {combo:?}: {m}");
                    failures.push(format!("{start} {combo:?}: {m}"));
                }
            }
            if fail_fast(&failures) {
                break 'starts;
            }
        }
    }
    assert!(failures.is_empty(), "{} of the {kind:?} combinations are off:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn ve_gaussian_every_combination() {
    run_gauss(SdeKind::Ve, 0.5, 0.1);
}

#[test]
fn vp_gaussian_every_combination() {
    run_gauss(SdeKind::Vp, 0.3, 0.2);
}

#[test]
fn subvp_gaussian_every_combination() {
    run_gauss(SdeKind::Subvp, 0.3, 0.2);
}

/// Two-component mixture over whole images: checks the component weights (the score's global structure) to
/// ±0.03 and the spread within a component.
fn run_mixture(name: &str, lo: f64, hi: f64, w_hi: f64, s: f64, kind: SdeKind) {
    let model = load(&fixture(name), 1, N);
    let dim = model.image_len();
    let mut failures = Vec::new();
    for combo in combos(kind) {
        let v = sample_raw(&model, &options(combo, Start::Prior, 5));
        let mid = 0.5 * (lo + hi);
        let mut n_hi = 0usize;
        let mut dev = Vec::with_capacity(v.len());
        for img in v.chunks(dim) {
            let m = img.iter().map(|&x| x as f64).sum::<f64>() / dim as f64;
            let centre = if m > mid {
                n_hi += 1;
                hi
            } else {
                lo
            };
            dev.extend(img.iter().map(|&x| (x as f64 - centre) as f32));
        }
        let frac = n_hi as f64 / N as f64;
        let spread = check_gauss(&dev, 0.0, s, allowance(kind, combo));
        let msg = format!("weight {frac:.4} (want {w_hi} ± {WEIGHT_TOL}); {}", spread.as_ref().unwrap_or_else(|e| e));
        if (frac - w_hi).abs() <= WEIGHT_TOL && spread.is_ok() {
            eprintln!("ok   {name} {combo:?}: {msg}");
        } else {
            eprintln!("FAIL {name} {combo:?}: {msg}");
            failures.push(format!("{combo:?}: {msg}"));
        }
        if fail_fast(&failures) {
            break;
        }
    }
    assert!(failures.is_empty(), "{name}: {} combinations are off:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn vp_mixture_weights_and_spread() {
    run_mixture("mixture-vp", -0.5, 0.5, 0.7, 0.1, SdeKind::Vp);
}

#[test]
fn ve_mixture_weights_and_spread() {
    run_mixture("mixture-ve", 0.2, 0.8, 0.7, 0.1, SdeKind::Ve);
}

#[test]
fn class_conditional_means() {
    let model = load(&fixture("gauss-vp-class"), 1, N);
    for (label, mu) in [(0i64, -0.4), (1, 0.4)] {
        for start in [Start::Flow, Start::Prior] {
            let mut o = options(Combo::Sde(Predictor::EulerMaruyama, Corrector::None), start, 3);
            o.t_m = (start == Start::Flow).then_some(0.6); // this bundle's only flow
            o.labels = Some(vec![label]);
            let v = sample_raw(&model, &o);
            let r =
                check_gauss(&v, mu, 0.2, allowance(SdeKind::Vp, Combo::Sde(Predictor::EulerMaruyama, Corrector::None)));
            assert!(r.is_ok(), "class {label} {start}: {}", r.unwrap_err());
        }
    }
}

/// Temperature scales the flow's z. With the probability-flow ODE and exact networks the map x(T_m) → x(0) is
/// affine with slope s/√v, so τ multiplies the sample's standard deviation around μ: the variance grows by τ², and
/// the τ = 2 sample is N(μ, (2s)²).
#[test]
fn temperature_scales_the_ode_sample_spread() {
    let model = load(&fixture("gauss-vp"), 1, N);
    let mut o = options(Combo::Ode(Solver::Heun), Start::Flow, 9);
    let (_, v1) = mean_var(&sample_raw(&model, &o));
    o.temperature = Some(2.0);
    let hot = sample_raw(&model, &o);
    let (_, v2) = mean_var(&hot);
    let ratio = v2 / v1;
    // The same seed draws the same z, and Heun on this linear ODE (and the final Tweedie step) is an affine map of
    // z, so the ratio is τ² = 4 exactly but for f32 rounding: ≲ 10 roundings of u = 2⁻²⁴ per step over 100 steps
    // and the flow, ≤ ~6e-5 of each value, at most ~2.4e-4 on a ratio of two variances. ±1e-3 relative (4e-3) keeps
    // a 4× margin over that worst case on any CPU; Monte-Carlo noise cancels, so no standard error enters.
    assert!((ratio - 4.0).abs() < 4e-3, "variance ratio τ=2 vs τ=1 is {ratio}, want 4 ± 4e-3");
    let r = check_gauss(&hot, 0.3, 0.4, allowance(SdeKind::Vp, Combo::Ode(Solver::Heun)));
    assert!(r.is_ok(), "τ = 2: {}", r.unwrap_err());
}

fn sample_with_report(model: &Model, o: &SampleOptions) -> (Vec<f32>, SampleReport) {
    let mut out = vec![0f32; o.n * model.image_len()];
    let report = model.sample(&SampleOptions { raw: true, ..o.clone() }, &mut out, &mut |_| true).expect("sampling");
    (out, report)
}

/// VP marginal of the fixtures' SDE (β 0.1 → 20) at t, from the method doc's closed form (not from the library):
/// x(t) | x(0) ~ N(a·x(0), σ²).
fn vp_marginal(t: f64) -> (f64, f64) {
    let m = -0.25 * t * t * (20.0 - 0.1) - 0.5 * t * 0.1;
    (m.exp(), 1.0 - (2.0 * m).exp())
}

/// Denoising ends the SDE sampler on the last step's noise-free mean. With the same seed the trajectories agree up
/// to the last step, so denoise off − denoise on is exactly that step's noise g(ε)·√h·z,
/// h = min((T_m − ε)/(steps − 1), ε): its variance is known to 0.1% whatever the sample count, and a sampler that
/// skips (or always applies) the denoising fails by 100%.
#[test]
fn sde_denoise_removes_exactly_the_last_noise() {
    let model = load(&fixture("gauss-vp"), 1, N);
    let mut o = options(Combo::Sde(Predictor::EulerMaruyama, Corrector::None), Start::Flow, 13);
    let steps = 400; // int(N·T_m), the default
    o.denoise = Some(true);
    let on = sample_raw(&model, &o);
    o.denoise = Some(false);
    let off = sample_raw(&model, &o);
    let eps = 1e-3;
    let h = ((T_M - eps) / (steps - 1) as f64).min(eps); // the grid's point after ε is clamped at 0
    let want = (0.1 + eps * (20.0 - 0.1)) * h; // g(ε)² h, β(t) = β_min + t (β_max − β_min)
    let d: Vec<f32> = off.iter().zip(&on).map(|(a, b)| a - b).collect();
    let (mean, var) = mean_var(&d);
    let tol = K * (2.0 / d.len() as f64).sqrt();
    eprintln!("denoise off − on: mean {mean:.2e}, var {var:.4e} (want {want:.4e} ± {:.1}%)", 100.0 * tol);
    assert!(mean.abs() < K * (want / d.len() as f64).sqrt(), "mean of the last noise is {mean}");
    assert!((var / want - 1.0).abs() < tol, "variance of the last noise is {var:.4e}, want {want:.4e}");
    // Denoised, the sample has the data law. (The undenoised one would pass this too: its extra 0.3% of s² is inside
    // the tolerance, hence the paired check above.)
    let r = check_gauss(&on, 0.3, 0.2, allowance(SdeKind::Vp, Combo::Sde(Predictor::EulerMaruyama, Corrector::None)));
    assert!(r.is_ok(), "denoised: {}", r.unwrap_err());
}

/// The ODE sampler's denoising is one Tweedie step at ε: x ← (x + σ²(ε)·s(x, ε))/a(ε). With the exact score
/// s = −(x − aμ)/(a²s² + σ²) the denoised sample is a known function of the undenoised one (same seed).
#[test]
fn ode_denoise_is_one_tweedie_step() {
    let model = load(&fixture("gauss-vp"), 1, 256);
    let mut o = options(Combo::Ode(Solver::Heun), Start::Flow, 17);
    o.n = 256;
    o.batch_size = 256;
    o.denoise = Some(false);
    let off = sample_raw(&model, &o);
    o.denoise = Some(true);
    let on = sample_raw(&model, &o);
    let (a, sigma2) = vp_marginal(1e-3);
    let v = a * a * 0.2 * 0.2 + sigma2;
    let (mut err, mut size) = (0f64, 0f64);
    for (&x, &y) in off.iter().zip(&on) {
        let x = x as f64;
        let want = (x - sigma2 * (x - a * 0.3) / v) / a;
        err = err.max((y as f64 - want).abs());
        size = size.max((want - x).abs());
    }
    eprintln!("Tweedie step: largest change {size:.3e}, largest deviation from the formula {err:.3e}");
    // The formula is evaluated in f64 on the f32 sample; the sampler's f32 step rounds at ~u·|x| ≈ 6e-8·|x|, ≤ 1e-3
    // of a step of ≥ 1e-4. 1% of the step still fails any wrong coefficient (σ² for σ, a missing 1/a: ≥ 10%).
    assert!(size > 1e-4 && err < 0.01 * size, "denoised − formula up to {err:.3e}, for a step of {size:.3e}");
}

/// With no steps given, the sampler takes score_sde's int(N·T_m) steps (600 for T_m 0.6, N = 1000) and the
/// bundle's defaults (flow start at 0.6, Euler–Maruyama for VP), and reproduces the data law.
#[test]
fn default_steps_are_n_times_t_m() {
    let model = load(&fixture("gauss-vp"), 1, N);
    let o = SampleOptions { n: N, seed: Some(4), batch_size: N, ..Default::default() };
    let (v, report) = sample_with_report(&model, &o);
    let c = &report.config;
    assert_eq!(
        (c.start, c.t_start, c.predictor, c.corrector),
        (Start::Flow, 0.6, Predictor::EulerMaruyama, Corrector::None)
    );
    assert_eq!((c.steps, report.score_evals), (600, 600));
    let r = check_gauss(&v, 0.3, 0.2, allowance(SdeKind::Vp, Combo::Sde(Predictor::EulerMaruyama, Corrector::None)));
    assert!(r.is_ok(), "{}", r.unwrap_err());
}

/// Per-sample Langevin norms (our default: a sample never depends on its batch-mates) are exact once ‖z‖/‖s‖
/// concentrates, as it does at image sizes: here 1×32×32 (M = 64·1024 values) with score_sde's VE default (reverse
/// diffusion + Langevin, snr 0.16), from the prior and, with every setting at the bundle's default, from the flow
/// start (T_m 0.6, int(N·T_m) = 600 steps).
#[test]
fn per_sample_langevin_in_high_dimension() {
    let model = load(&fixture("gauss-ve-32x32"), 1, 64);
    let prior = SampleOptions {
        n: 64,
        seed: Some(2),
        start: Some(Start::Prior),
        steps: Some(500),
        batch_size: 64,
        predictor: Some(Predictor::ReverseDiffusion),
        corrector: Some(Corrector::Langevin),
        langevin_norm: Some(LangevinNorm::PerSample),
        ..Default::default()
    };
    let defaults = SampleOptions { n: 64, seed: Some(2), batch_size: 64, ..Default::default() };
    let mut failures = Vec::new();
    for (name, o) in [("prior", prior), ("flow (defaults)", defaults)] {
        let (v, report) = sample_with_report(&model, &o);
        let c = &report.config;
        assert_eq!(
            (c.predictor, c.corrector, c.langevin_norm),
            (Predictor::ReverseDiffusion, Corrector::Langevin, LangevinNorm::PerSample)
        );
        if o.start.is_none() {
            assert_eq!((c.start, c.t_start, c.steps, report.score_evals), (Start::Flow, 0.6, 600, 1200));
        }
        match check_gauss(
            &v,
            0.5,
            0.1,
            allowance(SdeKind::Ve, Combo::Sde(Predictor::ReverseDiffusion, Corrector::Langevin)),
        ) {
            Ok(m) => eprintln!("ok   {name}: {m}"),
            Err(m) => {
                eprintln!("FAIL {name}: {m}");
                failures.push(format!("{name}: {m}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
