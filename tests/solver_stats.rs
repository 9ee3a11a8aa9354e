//! The few-step solvers on the analytic bundles (exact scores and flows, tests/fixtures): every solver × schedule ×
//! SDE × start reproduces the data law (mean, variance; mixture weights and spread), and every deterministic solver
//! lands on the same images as a fine reference (Heun, 1000 log-SNR steps) from the same seed — a per-image check
//! with no sampling noise, so a wrong coefficient shows even where the statistics could not see it.
//! Tolerances: 5 standard errors of the estimate plus a discretisation allowance per solver (measured ×≈3).

mod common;
use common::*;
use dinof::{Corrector, Method, Model, Predictor, SampleOptions, Schedule, SdeKind, Solver, Start};

/// Images per deterministic run, and per stochastic run (whose only check is statistical, so it needs more).
const N: usize = 512;
const N_STOCHASTIC: usize = 2048;

#[derive(Clone, Copy, Debug)]
struct Case {
    solver: Solver,
    schedule: Option<Schedule>,
    steps: usize,
    churn: f64,
    /// Allowed max |x − x_ref| / s against the reference (deterministic solvers only).
    path_tol: f64,
    /// Relative allowance on mean and variance for the discretisation.
    bias: f64,
}

/// Steps per case: enough that every deterministic solver is within 5% of s of the reference in the worst value.
/// A uniform-t grid gives DPM-Solver++ one huge log-SNR step near eps, so it needs more steps there; the cosine grid
/// (even in atan(σ̃/0.5)) gives DPM-Solver++ few steps at small σ̃ (sub-VP: +7.8 % in sd at 80 steps) and Heun in t
/// long steps where VE's ODE in t grows like e^(8.5 t) (VE prior: +32 % at 100 steps, +1 % at 400, 0.2 % at 800).
fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for sch in Schedule::ALL.iter().copied() {
        let c =
            |solver, steps, churn, path_tol| Case { solver, schedule: Some(sch), steps, churn, path_tol, bias: 0.03 };
        let dpm = if matches!(sch, Schedule::Time | Schedule::Cosine) { 400 } else { 80 };
        let heun = if sch == Schedule::Cosine { 800 } else { 100 };
        v.push(c(Solver::Heun, heun, 0.0, 0.05));
        v.push(c(Solver::Dpmpp2m, dpm, 0.0, 0.05));
        v.push(c(Solver::EdmHeun, 80, 0.0, 0.05));
        v.push(c(Solver::Dpmpp2mSde, dpm, 0.0, f64::NAN));
        v.push(c(Solver::EdmHeun, 80, 4.0, f64::NAN));
    }
    v.push(Case { solver: Solver::Rk45, schedule: None, steps: 1, churn: 0.0, path_tol: 0.05, bias: 0.03 });
    v
}

fn deterministic(c: &Case) -> bool {
    c.solver != Solver::Dpmpp2mSde && c.churn == 0.0
}

fn options(c: &Case, start: Start, seed: u64) -> SampleOptions {
    let n = if deterministic(c) { N } else { N_STOCHASTIC };
    SampleOptions {
        n,
        seed: Some(seed),
        start: Some(start),
        batch_size: n,
        t_m: (start == Start::Flow).then_some(0.6),
        method: Some(c.solver.method()),
        solver: Some(c.solver),
        schedule: c.schedule,
        steps: Some(c.steps),
        churn: (c.churn > 0.0).then_some(c.churn),
        ..Default::default()
    }
}

fn reference(model: &Model, start: Start, seed: u64) -> Vec<f32> {
    sample_raw(
        model,
        &SampleOptions {
            n: N,
            seed: Some(seed),
            start: Some(start),
            batch_size: N,
            t_m: (start == Start::Flow).then_some(0.6),
            method: Some(Method::Ode),
            solver: Some(Solver::Heun),
            schedule: Some(Schedule::LogSnr),
            steps: Some(1000),
            ..Default::default()
        },
    )
}

/// Mean and variance of all values against N(mu, s²), allowing 5 standard errors plus `bias` (relative).
fn check_gauss(values: &[f32], mu: f64, s: f64, bias: f64) -> Result<String, String> {
    let m_count = values.len() as f64;
    let (mean, var) = mean_var(values);
    let mean_tol = 5.0 * s / m_count.sqrt() + bias * s;
    let var_tol = s * s * (5.0 * (2.0 / m_count).sqrt() + bias);
    let msg = format!("mean {mean:.4} (want {mu} ± {mean_tol:.4}), var {var:.5} (want {:.5} ± {var_tol:.5})", s * s);
    if (mean - mu).abs() <= mean_tol && (var - s * s).abs() <= var_tol {
        Ok(msg)
    } else {
        Err(msg)
    }
}

fn max_dev(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&a, &b)| (a as f64 - b as f64).abs()).fold(0.0, f64::max)
}

fn run_gauss(kind: SdeKind, mu: f64, s: f64) {
    let model = load(&fixture(&format!("gauss-{}", kind.name())), 1, N_STOCHASTIC);
    let mut failures = Vec::new();
    for start in [Start::Flow, Start::Prior] {
        let seed = 11;
        let reference = reference(&model, start, seed);
        if let Err(m) = check_gauss(&reference, mu, s, 0.01) {
            failures.push(format!("{start} reference: {m}"));
        }
        for c in cases() {
            let v = sample_raw(&model, &options(&c, start, seed));
            let mut msg = check_gauss(&v, mu, s, c.bias);
            if deterministic(&c) {
                let dev = max_dev(&v, &reference) / s;
                let m = format!("path dev {dev:.2e} (≤ {:.0e}); ", c.path_tol);
                msg = match msg {
                    Ok(rest) if dev <= c.path_tol => Ok(m + &rest),
                    Ok(rest) | Err(rest) => Err(m + &rest),
                };
            }
            match msg {
                Ok(m) => eprintln!("ok   {kind:?} {start} {c:?}: {m}"),
                Err(m) => {
                    eprintln!("FAIL {kind:?} {start} {c:?}: {m}");
                    failures.push(format!("{start} {c:?}: {m}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of the {kind:?} cases are off:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn ve_gaussian_every_solver_and_schedule() {
    run_gauss(SdeKind::Ve, 0.5, 0.1);
}

#[test]
fn vp_gaussian_every_solver_and_schedule() {
    run_gauss(SdeKind::Vp, 0.3, 0.2);
}

#[test]
fn subvp_gaussian_every_solver_and_schedule() {
    run_gauss(SdeKind::Subvp, 0.3, 0.2);
}

/// Two-component mixture over whole images (prior start): component weights and spread within a component.
fn run_mixture(name: &str, lo: f64, hi: f64, w_hi: f64, s: f64) {
    let model = load(&fixture(name), 1, N_STOCHASTIC);
    let dim = model.image_len();
    let mut failures = Vec::new();
    for c in cases() {
        let o = options(&c, Start::Prior, 5);
        let v = sample_raw(&model, &o);
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
        let frac = n_hi as f64 / o.n as f64;
        let frac_tol = 5.0 * (w_hi * (1.0 - w_hi) / o.n as f64).sqrt();
        let spread = check_gauss(&dev, 0.0, s, c.bias);
        let msg = format!("weight {frac:.3} (want {w_hi} ± {frac_tol:.3}); {}", spread.as_ref().unwrap_or_else(|e| e));
        if (frac - w_hi).abs() <= frac_tol && spread.is_ok() {
            eprintln!("ok   {name} {c:?}: {msg}");
        } else {
            eprintln!("FAIL {name} {c:?}: {msg}");
            failures.push(format!("{c:?}: {msg}"));
        }
    }
    assert!(failures.is_empty(), "{name}: {} cases are off:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn vp_mixture_every_solver_and_schedule() {
    run_mixture("mixture-vp", -0.5, 0.5, 0.7, 0.1);
}

#[test]
fn ve_mixture_every_solver_and_schedule() {
    run_mixture("mixture-ve", 0.2, 0.8, 0.7, 0.1);
}

/// The new solvers keep the reproducibility guarantee: an image is the same whatever the batch size, and the report
/// counts the evaluations made (one backend call per evaluation for a single batch, plus the flow's).
#[test]
fn new_solvers_are_batch_invariant_and_count_honestly() {
    let model = load(&fixture("gauss-vp"), 1, 1);
    for (solver, churn) in
        [(Solver::Dpmpp2m, None), (Solver::Dpmpp2mSde, None), (Solver::EdmHeun, Some(4.0)), (Solver::Rk45, None)]
    {
        let o = SampleOptions {
            n: 12,
            seed: Some(42),
            steps: Some(10),
            solver: Some(solver),
            churn,
            schedule: None,
            batch_size: 12,
            ..Default::default()
        };
        let whole = sample_raw(&model, &o);
        for batch_size in [1, 5] {
            let part = sample_raw(&model, &SampleOptions { batch_size, ..o.clone() });
            assert!(
                whole.iter().zip(&part).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{solver}: batch size {batch_size} changed the images"
            );
        }
        let mut out = vec![0f32; o.n * model.image_len()];
        let r = model.sample(&o, &mut out, &mut |_| true).unwrap();
        assert_eq!(r.network_calls, r.score_evals + r.flow_evals, "{solver}: {r:?}");
        if let Some(planned) = dinof::sampler::score_evals(&r.config) {
            assert_eq!(r.score_evals, planned, "{solver}");
        }
        eprintln!("{solver}: {} score evaluations per image", r.score_evals);
    }
}

/// Choices that would be silently ignored, or that cannot work, are refused with a message naming them.
#[test]
fn inconsistent_solver_options_are_refused() {
    let model = load(&fixture("gauss-vp"), 1, 1);
    let base = SampleOptions { n: 1, seed: Some(1), ..Default::default() };
    let cases: Vec<(SampleOptions, &str)> = vec![
        (
            SampleOptions { method: Some(Method::Ode), solver: Some(Solver::Dpmpp2mSde), ..base.clone() },
            "use method 'sde'",
        ),
        (SampleOptions { schedule: Some(Schedule::Edm), ..base.clone() }, "predictor/corrector"),
        (SampleOptions { solver: Some(Solver::Rk45), schedule: Some(Schedule::LogSnr), ..base.clone() }, "not to rk45"),
        (SampleOptions { solver: Some(Solver::Dpmpp2m), rtol: Some(1e-3), ..base.clone() }, "rk45 only"),
        (SampleOptions { solver: Some(Solver::Heun), churn: Some(1.0), ..base.clone() }, "edm_heun only"),
        (SampleOptions { solver: Some(Solver::Rk45), rtol: Some(1e-9), ..base.clone() }, "rtol"),
        (SampleOptions { solver: Some(Solver::EdmHeun), churn: Some(-1.0), ..base.clone() }, "churn must be ≥ 0"),
    ];
    for (o, want) in cases {
        let e = model.resolve(&o).expect_err(want);
        assert!(e.to_string().contains(want), "{o:?}: {e}");
    }
    // A solver given alone brings its method; the predictor/corrector then play no part.
    let cfg = model.resolve(&SampleOptions { solver: Some(Solver::Dpmpp2m), ..base.clone() }).unwrap();
    assert_eq!((cfg.method, cfg.predictor_corrector()), (Method::Ode, false));
    let cfg = model.resolve(&SampleOptions { solver: Some(Solver::Dpmpp2mSde), ..base }).unwrap();
    assert_eq!((cfg.method, cfg.predictor_corrector()), (Method::Sde, false));
}

/// A copy of gauss-vp whose manifest `sampler` section is edited by `edit`.
fn bundle_with_sampler(
    tag: &str,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> std::path::PathBuf {
    let src = fixture("gauss-vp");
    let dir = std::env::temp_dir().join(format!("dinof-solver-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    let path = dir.join("dinof.json");
    let mut m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(m["sampler"].as_object_mut().unwrap());
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    dir
}

/// The manifest's `sampler` section carries the new defaults, and its rules refuse what cannot work.
#[test]
fn manifest_sampler_defaults_for_the_new_solvers() {
    use serde_json::json;
    let dir = bundle_with_sampler("ok", |s| {
        s.insert("method".into(), json!("ode"));
        s.insert("solver".into(), json!("rk45"));
        s.insert("rtol".into(), json!(1e-4));
        s.insert("atol".into(), json!(1e-3));
    });
    let cfg = load(&dir, 1, 1).resolve(&SampleOptions { n: 1, ..Default::default() }).unwrap();
    assert_eq!((cfg.method, cfg.solver, cfg.rtol, cfg.atol), (Method::Ode, Solver::Rk45, 1e-4, 1e-3));
    let dir = bundle_with_sampler("sched", |s| {
        s.insert("method".into(), json!("sde"));
        s.insert("solver".into(), json!("dpmpp_2m_sde"));
        s.insert("schedule".into(), json!("logsnr"));
        s.insert("steps".into(), json!(25));
    });
    let model = load(&dir, 1, 1);
    let cfg = model.resolve(&SampleOptions { n: 1, ..Default::default() }).unwrap();
    assert_eq!(
        (cfg.method, cfg.solver, cfg.schedule, cfg.steps, cfg.predictor_corrector()),
        (Method::Sde, Solver::Dpmpp2mSde, Schedule::LogSnr, 25, false)
    );
    // The bundle's schedule default does not stop a caller from choosing the predictor/corrector sampler.
    let cfg = model
        .resolve(&SampleOptions { n: 1, solver: Some(Solver::Heun), method: Some(Method::Sde), ..Default::default() })
        .unwrap();
    assert!(cfg.predictor_corrector());
    // A predictor, a corrector or method 'ode' chosen without a solver sets the bundle's SDE solver aside, and with
    // it the steps and grid chosen for that solver.
    // The predictor/corrector sampler then takes score_sde's int(N·t_start), an ODE solver its own measured steps.
    let default_steps = model.sde().default_steps(cfg.t_start);
    assert_ne!(default_steps, 25);
    for o in [
        SampleOptions { n: 1, predictor: Some(Predictor::EulerMaruyama), ..Default::default() },
        SampleOptions { n: 1, corrector: Some(Corrector::Langevin), ..Default::default() },
    ] {
        let cfg = model.resolve(&o).unwrap();
        assert!(
            cfg.predictor_corrector() && cfg.steps == default_steps && cfg.schedule == Schedule::Time,
            "{o:?}: {cfg:?}"
        );
    }
    let cfg = model.resolve(&SampleOptions { n: 1, method: Some(Method::Ode), ..Default::default() }).unwrap();
    assert_eq!(
        (cfg.method, cfg.solver, cfg.schedule, Some(cfg.steps)),
        (Method::Ode, Solver::Heun, Solver::Heun.default_schedule(), Solver::Heun.default_steps())
    );
    // Steps given by the caller still count.
    let cfg = model
        .resolve(&SampleOptions {
            n: 1,
            predictor: Some(Predictor::EulerMaruyama),
            steps: Some(7),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(cfg.steps, 7);
    for (tag, key, value, want) in [
        ("badsde", "solver", json!("dpmpp_2m_sde"), "needs sampler.method 'sde'"),
        ("badrtol", "rtol", json!(0.0), "sampler.rtol"),
        ("badchurn", "churn", json!(-1.0), "sampler.churn"),
        ("badname", "solver", json!("dpmpp_3m"), "dpmpp_3m"),
        ("badsched", "schedule", json!("karras"), "karras"),
    ] {
        let dir = bundle_with_sampler(tag, |s| {
            s.insert("method".into(), json!("ode"));
            s.insert(key.into(), value);
        });
        let e = Model::load(&dir, &dinof::LoadOptions::default()).expect_err(tag);
        assert!(e.to_string().contains(want), "{tag}: {e}");
    }
}

/// The CLI takes the new flags, says what it runs, and reports the evaluations made.
#[test]
fn cli_runs_the_new_solvers() {
    let bundle = fixture("gauss-vp");
    let out = std::env::temp_dir().join(format!("dinof-solver-cli-{}.npy", std::process::id()));
    let run = |extra: &[&str]| {
        let mut args = vec![
            "sample",
            "--bundle",
            bundle.to_str().unwrap(),
            "--n",
            "4",
            "--seed",
            "1",
            "-q",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_dinof")).args(&args).output().unwrap();
        (o.status.success(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (ok, err) = run(&["--solver", "dpmpp_2m", "--schedule", "logsnr", "--steps", "10"]);
    assert!(
        ok && err.contains("ode/dpmpp_2m 10 steps on the logsnr grid") && err.contains("11 score + 1 flow evaluations"),
        "{err}"
    );
    let (ok, err) = run(&["--solver", "rk45", "--rtol", "1e-4", "--atol", "1e-4"]);
    assert!(ok && err.contains("adaptive (rtol 0.0001, atol 0.0001)"), "{err}");
    let (ok, err) = run(&["--solver", "edm_heun", "--churn", "2", "--schedule", "edm", "--steps", "5"]);
    assert!(ok && err.contains("11 score + 1 flow evaluations"), "{err}");
    let (ok, err) = run(&["--method", "ode", "--solver", "dpmpp_2m_sde"]);
    assert!(!ok && err.contains("use method 'sde'"), "{err}");
    let (ok, err) = run(&["--schedule", "karras"]);
    assert!(!ok && err.contains("unknown schedule 'karras'"), "{err}");
}
