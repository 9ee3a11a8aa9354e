//! Statistical ground truth for the sampler: the analytic bundles (tests/fixtures) hold the exact score of
//! Gaussian (and Gaussian-mixture) data under each SDE and the exact flow to x(T_m), so every start × predictor ×
//! corrector × ODE solver must reproduce the data distribution. Tolerances come from the sample count:
//! with M = n·D independent values, the mean's standard error is s/√M and the variance's is s²·√(2/M); we allow
//! 5 standard errors plus a small discretisation allowance (`BIAS`), so a wrong sign or factor in an update —
//! which moves the variance by tens of percent or more — fails.

mod common;
use common::*;
use dinof::{Corrector, Method, Predictor, SampleOptions, SdeKind, Solver, Start};

const N: usize = 512;
/// Relative allowance for the discretisation error of a few hundred steps (measured below 3% for every combination).
const BIAS: f64 = 0.04;

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

fn options(combo: Combo, start: Start, seed: u64) -> SampleOptions {
    let mut o = SampleOptions { n: N, seed: Some(seed), start: Some(start), batch_size: N, ..Default::default() };
    if start == Start::Flow {
        o.t_m = Some(0.6);
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
            // sizes; see `per_sample_langevin_in_high_dimension`). Batch-averaged norms give the exact stationary
            // step here.
            o.langevin_norm = Some(dinof::LangevinNorm::Batch);
            o.steps = Some(if start == Start::Flow { 300 } else { 500 });
        }
        Combo::Ode(s) => {
            o.method = Some(Method::Ode);
            o.solver = Some(s);
            o.steps = Some(if s == Solver::Euler { 1000 } else { 100 });
        }
    }
    o
}

/// Checks mean and variance of all values against N(mu, s²); returns a message on failure.
fn check_gauss(values: &[f32], mu: f64, s: f64) -> Result<String, String> {
    let m_count = values.len() as f64;
    let (mean, var) = mean_var(values);
    let mean_tol = 5.0 * s / m_count.sqrt() + BIAS * s;
    let var_tol = s * s * (5.0 * (2.0 / m_count).sqrt() + BIAS);
    let msg = format!("mean {mean:.4} (want {mu} ± {mean_tol:.4}), var {var:.5} (want {:.5} ± {var_tol:.5})", s * s);
    if (mean - mu).abs() <= mean_tol && (var - s * s).abs() <= var_tol {
        Ok(msg)
    } else {
        Err(msg)
    }
}

fn run_gauss(kind: SdeKind, mu: f64, s: f64) {
    let model = load(&fixture(&format!("gauss-{}", kind.name())), 1, N);
    let mut failures = Vec::new();
    for start in [Start::Flow, Start::Prior] {
        for combo in combos(kind) {
            let opts = options(combo, start, 11);
            let v = sample_raw(&model, &opts);
            match check_gauss(&v, mu, s) {
                Ok(m) => eprintln!("ok   {kind:?} {start} {combo:?}: {m}"),
                Err(m) => {
                    eprintln!("FAIL {kind:?} {start} {combo:?}: {m}");
                    failures.push(format!("{start} {combo:?}: {m}"));
                }
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

/// Two-component mixture over whole images: checks the component weights (the score's global structure) and the
/// spread within a component.
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
        let frac_tol = 5.0 * (w_hi * (1.0 - w_hi) / N as f64).sqrt();
        let spread = check_gauss(&dev, 0.0, s);
        let msg = format!("weight {frac:.3} (want {w_hi} ± {frac_tol:.3}); {}", spread.as_ref().unwrap_or_else(|e| e));
        if (frac - w_hi).abs() <= frac_tol && spread.is_ok() {
            eprintln!("ok   {name} {combo:?}: {msg}");
        } else {
            eprintln!("FAIL {name} {combo:?}: {msg}");
            failures.push(format!("{combo:?}: {msg}"));
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
            o.labels = Some(vec![label]);
            let v = sample_raw(&model, &o);
            let r = check_gauss(&v, mu, 0.2);
            assert!(r.is_ok(), "class {label} {start}: {}", r.unwrap_err());
        }
    }
}

/// Temperature scales the flow's z. With the probability-flow ODE and exact networks the map x(T_m) → x(0) is
/// affine with slope s/√v, so τ multiplies the sample's standard deviation around μ: the variance grows by τ².
#[test]
fn temperature_scales_the_ode_sample_spread() {
    let model = load(&fixture("gauss-vp"), 1, N);
    let mut o = options(Combo::Ode(Solver::Heun), Start::Flow, 9);
    let (_, v1) = mean_var(&sample_raw(&model, &o));
    o.temperature = Some(2.0);
    let (_, v2) = mean_var(&sample_raw(&model, &o));
    let ratio = v2 / v1;
    assert!((ratio - 4.0).abs() < 0.6, "variance ratio τ=2 vs τ=1 is {ratio}, want 4");
}

/// Per-sample Langevin norms (our default: a sample never depends on its batch-mates) are exact once ‖z‖/‖s‖
/// concentrates, as it does at image sizes: here 1×32×32 with score_sde's VE default (reverse diffusion +
/// Langevin, snr 0.16) from the prior.
#[test]
fn per_sample_langevin_in_high_dimension() {
    let model = load(&fixture("gauss-ve-32x32"), 1, 64);
    let o = SampleOptions {
        n: 64, seed: Some(2), start: Some(Start::Prior), steps: Some(500), batch_size: 64,
        predictor: Some(Predictor::ReverseDiffusion), corrector: Some(Corrector::Langevin),
        langevin_norm: Some(dinof::LangevinNorm::PerSample), ..Default::default()
    };
    let v = sample_raw(&model, &o);
    let r = check_gauss(&v, 0.5, 0.1);
    assert!(r.is_ok(), "{}", r.unwrap_err());
}
