//! Few-step accuracy of every solver on the exact-score Gaussian bundles (tests/fixtures: data N(μ, s²) per pixel,
//! exact score and exact affine flows), and the per-solver default grids that `resolve` picks
//! (`Solver::default_schedule`).
//!
//! The estimator. Image k starts from z_k, the unit normals its noise stream (seed, k) draws first (scaled by the
//! temperature into the flow, or by the prior's std), and every solver is affine in the state and in its own noise
//! for a Gaussian score: out = A + B·z + (injected noise, independent of z). So with m = n·16 independent values,
//! B̂ = cov(out, z)/var(z) and the residual variance R̂ give the output sd as √(B̂² + R̂) (var z = 1 exactly):
//! a deterministic solver has R = 0 and the estimate is exact whatever n is (no Monte-Carlo error: only f32
//! rounding, ~1e-6); a stochastic one keeps the Monte-Carlo error of its residual part only. With f = R/sd², the
//! delta method gives the relative standard error of the sd as √(f(2 − f)/(2m)) ≤ 1/√(2m) (f = 1: plain sample sd).
//! The mean uses z as a control variate the same way: Â = mean(out) − B̂·mean(z).

mod common;
use common::*;
use dinof::rng::SampleRng;
use dinof::{Model, SampleOptions, SamplerConfig, Schedule, SdeKind, Solver, Start};

/// The flow start's T_m: the analytic bundles' default flow.
const T_M: f64 = 0.6;

/// (bundle, data mean μ, data sd s) of the three exact-score Gaussian bundles.
fn bundles() -> [(SdeKind, f64, f64); 3] {
    [(SdeKind::Ve, 0.5, 0.1), (SdeKind::Vp, 0.3, 0.2), (SdeKind::Subvp, 0.3, 0.2)]
}

/// One measurement: relative sd error, mean error in units of s, and the sd's relative standard error.
#[derive(Clone, Copy, Debug)]
struct Measured {
    sd: f64,
    mean: f64,
    se: f64,
}

/// Samples `o.n` images and estimates their sd and mean against N(μ, s²) as described at the top.
fn measure(model: &Model, o: &SampleOptions, mu: f64, s: f64) -> (Measured, SamplerConfig) {
    let dim = model.image_len();
    let mut out = vec![0f32; o.n * dim];
    let o = SampleOptions { raw: true, ..o.clone() };
    let report = model.sample(&o, &mut out, &mut |_| true).unwrap_or_else(|e| panic!("sampling with {o:?}: {e}"));
    let seed = report.seed;
    let mut z = vec![0f32; o.n * dim];
    for (k, chunk) in z.chunks_mut(dim).enumerate() {
        SampleRng::new(seed, o.first_index + k as u64).fill_normal(chunk, 1.0);
    }
    let m = out.len() as f64;
    let (mo, mz) = (out.iter().map(|&v| v as f64).sum::<f64>() / m, z.iter().map(|&v| v as f64).sum::<f64>() / m);
    let (mut szz, mut soz) = (0.0, 0.0);
    for (&v, &q) in out.iter().zip(&z) {
        let (dv, dq) = (v as f64 - mo, q as f64 - mz);
        szz += dq * dq;
        soz += dv * dq;
    }
    let b = soz / szz;
    let r = out.iter().zip(&z).map(|(&v, &q)| (v as f64 - mo - b * (q as f64 - mz)).powi(2)).sum::<f64>() / (m - 2.0);
    let sd = (b * b + r).sqrt();
    let f = r / (sd * sd);
    let measured = Measured { sd: sd / s - 1.0, mean: (mo - b * mz - mu) / s, se: (f * (2.0 - f) / (2.0 * m)).sqrt() };
    (measured, report.config)
}

fn options(solver: Solver, schedule: Option<Schedule>, steps: usize, start: Start, n: usize) -> SampleOptions {
    SampleOptions {
        n,
        seed: Some(2024),
        start: Some(start),
        t_m: (start == Start::Flow).then_some(T_M),
        batch_size: n.min(1024),
        method: Some(solver.method()),
        solver: Some(solver),
        schedule,
        steps: Some(steps),
        ..Default::default()
    }
}

/// The sd a perfect sampler gives here: the exact x(eps) ~ N(αμ, α²s² + σ²) through Tweedie's denoiser has sd
/// s/√(1 + σ̃²/s²), σ̃ = σ/α at eps (VE: −0.50%, VP: −0.14%, sub-VP: −0.00%).
fn exact_sd_error(model: &Model, s: f64) -> f64 {
    let sde = model.sde();
    let m = sde.marginal(sde.eps);
    let st = m.std / m.mean;
    1.0 / (1.0 + st * st / (s * s)).sqrt() - 1.0
}

/// Images per run of the table: the stochastic solver's sd is then known to ≤ 1/√(2·16384·16) = 0.14% (one
/// standard error); the deterministic ones exactly.
const TABLE_N: usize = 16384;

/// The convergence table of docs/solver-convergence.md: sd and mean error at 5/10/20/50 steps for every solver ×
/// grid × SDE × start. `cargo test --release --test solver_defaults -- --ignored --nocapture convergence_table`
/// prints it; with DINOF_WRITE_DOCS=1 it also replaces the generated part of docs/solver-convergence.md.
#[test]
#[ignore]
fn convergence_table() {
    let steps = [5usize, 10, 20, 50];
    let mut md = String::new();
    for (kind, mu, s) in bundles() {
        let model = load(&fixture(&format!("gauss-{}", kind.name())), 1, 1024);
        for start in [Start::Flow, Start::Prior] {
            let from =
                if start == Start::Flow { format!("flow start (T_m {T_M})") } else { "prior start (t = 1)".into() };
            md += &format!("\n### {} from the {from}: sd error % (mean error % of s)\n\n", kind.name().to_uppercase());
            md += &format!("Exact sampler: sd {:+.2} %.\n\n", 100.0 * exact_sd_error(&model, s));
            md += "| solver | grid | default | 5 steps | 10 steps | 20 steps | 50 steps |\n|---|---|---|---|---|---|---|\n";
            for solver in [Solver::Euler, Solver::Heun, Solver::Dpmpp2m, Solver::Dpmpp2mSde, Solver::EdmHeun] {
                for &sch in Schedule::ALL {
                    let mut row =
                        format!("| {solver} | {sch} | {} |", if sch == solver.default_schedule() { "yes" } else { "" });
                    for &k in &steps {
                        let (r, _) = measure(&model, &options(solver, Some(sch), k, start, TABLE_N), mu, s);
                        row += &format!(" {:+.2} ({:+.2}) |", 100.0 * r.sd, 100.0 * r.mean);
                    }
                    eprintln!("{} {start} {row}", kind.name());
                    md += &row;
                    md += "\n";
                }
            }
            let (r, _) = measure(&model, &options(Solver::Rk45, None, 1, start, TABLE_N), mu, s);
            md += &format!(
                "| rk45 | adaptive, rtol 1e-5 (any steps; figure in the first column) | | {:+.2} ({:+.2}) | | | |\n",
                100.0 * r.sd,
                100.0 * r.mean
            );
        }
    }
    println!("{md}");
    if std::env::var_os("DINOF_WRITE_DOCS").is_some() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/solver-convergence.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let (begin, end) = ("<!-- generated: begin -->", "<!-- generated: end -->");
        let (a, b) = (doc.find(begin).expect("begin marker") + begin.len(), doc.find(end).expect("end marker"));
        std::fs::write(&path, format!("{}\n{md}\n{}", &doc[..a], &doc[b..])).unwrap();
    }
}

/// Images per run of the 20-step check for the stochastic solver: m = 16384·16 values give a relative standard
/// error of the sd ≤ 1/√(2m) = 0.14%. The deterministic solvers need no more than a few images: their estimate is
/// exact (see the top), up to f32 rounding (~1e-5 relative).
const CHECK_N_STOCHASTIC: usize = 16384;
const CHECK_N_DETERMINISTIC: usize = 64;
/// The requirement of issue #24: at 20 steps on its default grid a solver's sample sd is within 3 % of the data's.
const BUDGET: f64 = 0.03;

/// Where 20 steps on the default grid are measured to be over the budget (docs/solver-convergence.md): first-order
/// Euler everywhere (no grid brings it within 3 % at 20 steps), and the prior start's long λ range for Heun (VE),
/// EDM Heun (all SDEs) and the stochastic DPM-Solver++ on sub-VP (both starts). Open items of issue #24; the test
/// fails when one of them comes within budget, so the list can only shrink.
fn known_over_budget(kind: SdeKind, start: Start, solver: Solver) -> bool {
    match solver {
        Solver::Euler => true,
        Solver::Heun => kind == SdeKind::Ve && start == Start::Prior,
        Solver::EdmHeun => start == Start::Prior,
        Solver::Dpmpp2mSde => kind == SdeKind::Subvp,
        _ => false,
    }
}

/// Every solver at 20 steps with the grid `resolve` gives it (no schedule asked for) on VE, VP and sub-VP from the
/// flow and the prior. Budget 3 % = discretisation + statistics: a deterministic solver's estimate has no
/// statistical part, so it must show |sd error| ≤ 3 %; the stochastic one must show |sd error| + 3 standard errors
/// (≤ 0.42 % at n = 16384) ≤ 3 %, so a pass means its discretisation error is within budget at 3σ. Reverting the
/// default grid to uniform t puts DPM-Solver++(2M) 21–46 % off on VP/sub-VP (tests/mutants.py).
#[test]
fn every_solver_within_budget_at_20_steps_on_its_default_grid() {
    let mut failures = Vec::new();
    for (kind, mu, s) in bundles() {
        let model = load(&fixture(&format!("gauss-{}", kind.name())), 1, 1024);
        for start in [Start::Flow, Start::Prior] {
            for solver in
                [Solver::Euler, Solver::Heun, Solver::Dpmpp2m, Solver::Dpmpp2mSde, Solver::EdmHeun, Solver::Rk45]
            {
                let stochastic = solver == Solver::Dpmpp2mSde;
                let n = if stochastic { CHECK_N_STOCHASTIC } else { CHECK_N_DETERMINISTIC };
                let (r, cfg) = measure(&model, &options(solver, None, 20, start, n), mu, s);
                let within = r.sd.abs() + 3.0 * r.se <= BUDGET;
                let line = format!(
                    "{} {start} {solver} on the {} grid: sd {:+.2} % (± {:.2} % s.e.), mean {:+.2} % of s",
                    kind.name(),
                    cfg.schedule,
                    100.0 * r.sd,
                    100.0 * r.se,
                    100.0 * r.mean
                );
                if solver != Solver::Rk45 && cfg.schedule != solver.default_schedule() {
                    failures.push(format!("not the default grid ({}): {line}", solver.default_schedule()));
                }
                let known = known_over_budget(kind, start, solver);
                eprintln!(
                    "{} {line}",
                    if within {
                        "ok  "
                    } else if known {
                        "OVER (known)"
                    } else {
                        "FAIL"
                    }
                );
                if within == known {
                    failures.push(if known {
                        format!("now within budget, shorten known_over_budget: {line}")
                    } else {
                        line
                    });
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The grid rule of `resolve`: a solver's own default grid, the manifest's grid for the manifest's own solver only,
/// the caller's always; the predictor/corrector sampler reports the uniform-t grid it steps on.
#[test]
fn resolve_gives_each_solver_its_grid() {
    use serde_json::json;
    let model = load(&fixture("gauss-vp"), 1, 1);
    let base = SampleOptions { n: 1, ..Default::default() };
    for &solver in Solver::ALL {
        let cfg = model.resolve(&SampleOptions { solver: Some(solver), ..base.clone() }).unwrap();
        assert_eq!(cfg.schedule, solver.default_schedule(), "{solver}");
        let cfg =
            model.resolve(&SampleOptions { solver: Some(solver), schedule: Some(Schedule::Time), ..base.clone() });
        if solver != Solver::Rk45 {
            assert_eq!(cfg.unwrap().schedule, Schedule::Time, "{solver}: the caller's grid wins");
        }
    }
    assert_eq!(Solver::Dpmpp2m.default_schedule(), Schedule::LogSnr);
    assert_eq!(Solver::Dpmpp2mSde.default_schedule(), Schedule::LogSnr);
    assert_eq!(Solver::EdmHeun.default_schedule(), Schedule::Edm);
    // The bundle's default (predictor/corrector) sampler says the grid it uses.
    assert_eq!(model.resolve(&base).unwrap().schedule, Schedule::Time);
    // A manifest grid for the manifest's solver (here: edm for dpmpp_2m_sde) applies to that solver only.
    let dir = std::env::temp_dir().join(format!("dinof-grids-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(fixture("gauss-vp")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    let path = dir.join("dinof.json");
    let mut m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let s = m["sampler"].as_object_mut().unwrap();
    s.insert("solver".into(), json!("dpmpp_2m_sde"));
    s.insert("schedule".into(), json!("edm"));
    s.insert("steps".into(), json!(12));
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    let model = load(&dir, 1, 1);
    let cfg = model.resolve(&base).unwrap();
    assert_eq!((cfg.solver, cfg.schedule, cfg.steps), (Solver::Dpmpp2mSde, Schedule::Edm, 12));
    let cfg = model.resolve(&SampleOptions { solver: Some(Solver::Dpmpp2mSde), ..base.clone() }).unwrap();
    assert_eq!(cfg.schedule, Schedule::Edm, "the bundle's own solver keeps the bundle's grid");
    let cfg = model.resolve(&SampleOptions { solver: Some(Solver::Dpmpp2m), ..base.clone() }).unwrap();
    assert_eq!(cfg.schedule, Schedule::LogSnr, "another solver gets its own grid");
    let cfg = model.resolve(&SampleOptions { method: Some(dinof::Method::Ode), ..base.clone() }).unwrap();
    assert_eq!((cfg.solver, cfg.schedule), (Solver::Heun, Solver::Heun.default_schedule()), "set aside with its grid");
    let cfg = model.resolve(&SampleOptions { predictor: Some(dinof::Predictor::EulerMaruyama), ..base }).unwrap();
    assert!(cfg.predictor_corrector() && cfg.schedule == Schedule::Time);
    std::fs::remove_dir_all(&dir).ok();
}
