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
            md += "| solver | grid | default | 5 steps | 10 steps | 20 steps | 50 steps |\n";
            md += "|---|---|---|---|---|---|---|\n";
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
    // Where each grid puts its points: the sd is decided where σ̃ is within a few times s (docs/solver-convergence.md,
    // "cosine").
    md += "\n### Points of a 20-step grid (21) with σ̃ in [s/4, 4s] / above 4s\n\n";
    md += "| SDE | start (σ̃) | time | logsnr | edm | cosine |\n|---|---|---|---|---|---|\n";
    for (kind, _, s) in bundles() {
        let model = load(&fixture(&format!("gauss-{}", kind.name())), 1, 1);
        let sde = model.sde();
        for t0 in [T_M, 1.0] {
            let sigma = |t: f64| (-sde.log_snr(t)).exp();
            let mut row = format!("| {} | t = {t0} ({:.1}) |", kind.name(), sigma(t0));
            for &sch in Schedule::ALL {
                let g: Vec<f64> = sde.schedule_grid(sch, t0, 20).into_iter().map(sigma).collect();
                let near = g.iter().filter(|&&v| v >= s / 4.0 && v <= 4.0 * s).count();
                row += &format!(" {near} / {} |", g.iter().filter(|&&v| v > 4.0 * s).count());
            }
            md += &row;
            md += "\n";
        }
    }
    // The default steps (`Solver::default_steps`): the worst of the six cases there and 5 steps fewer (which must
    // be past 2.6 % in some case for the default to be the fewest multiple of 5).
    md += "\n### Default steps: worst |sd error| % of the six cases (VE, VP, sub-VP × flow, prior)\n\n";
    md += "| solver | default steps | worst at default | worst at default − 5 |\n|---|---|---|---|\n";
    for solver in [Solver::Euler, Solver::Heun, Solver::Dpmpp2m, Solver::Dpmpp2mSde, Solver::EdmHeun] {
        let d = solver.default_steps().unwrap();
        let worst = |k: usize| {
            let mut w = 0f64;
            for (kind, mu, s) in bundles() {
                let model = load(&fixture(&format!("gauss-{}", kind.name())), 1, 1024);
                for start in [Start::Flow, Start::Prior] {
                    w = w.max(measure(&model, &options(solver, None, k, start, TABLE_N), mu, s).0.sd.abs());
                }
            }
            100.0 * w
        };
        md += &format!("| {solver} | {d} | {:.2} | {:.2} |\n", worst(d), worst(d - 5));
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
/// Euler everywhere (σ̃-Euler = DDIM: 6.6–16 % under; no grid brings it within 3 % at 20 steps), Heun in t from the
/// VE prior (its ODE in t grows like e^(8.5 t) above σ ≈ s), and the stochastic DPM-Solver++ on sub-VP (both starts).
/// These solvers are within budget at their default steps (`every_solver_within_budget_at_its_default_steps`); the
/// test fails when one of them comes within budget at 20, so the list can only shrink.
fn known_over_budget(kind: SdeKind, start: Start, solver: Solver) -> bool {
    match solver {
        Solver::Euler => true,
        Solver::Heun => kind == SdeKind::Ve && start == Start::Prior,
        Solver::Dpmpp2mSde => kind == SdeKind::Subvp,
        _ => false,
    }
}

/// Runs `solvers` with the grid `resolve` gives them (no schedule asked for) and `steps` (None: their default) on
/// VE, VP and sub-VP from the flow and the prior, and hands each case with its resolved config and a printable line
/// to `check`, which returns a failure line or None. The stochastic solver gets CHECK_N_STOCHASTIC images.
fn check_each_case(
    steps: Option<usize>,
    solvers: &[Solver],
    mut check: impl FnMut(SdeKind, Start, Solver, &Measured, &SamplerConfig, String) -> Option<String>,
) {
    let mut failures = Vec::new();
    for (kind, mu, s) in bundles() {
        let model = load(&fixture(&format!("gauss-{}", kind.name())), 1, 1024);
        for start in [Start::Flow, Start::Prior] {
            for &solver in solvers {
                let n = if solver == Solver::Dpmpp2mSde { CHECK_N_STOCHASTIC } else { CHECK_N_DETERMINISTIC };
                let o = SampleOptions { steps, ..options(solver, None, 0, start, n) };
                let (r, cfg) = measure(&model, &o, mu, s);
                let line = format!(
                    "{} {start} {solver}, {} steps on the {} grid: sd {:+.2} % (± {:.2} % s.e.), mean {:+.2} % of s",
                    kind.name(),
                    cfg.steps,
                    cfg.schedule,
                    100.0 * r.sd,
                    100.0 * r.se,
                    100.0 * r.mean
                );
                if solver != Solver::Rk45 && cfg.schedule != solver.default_schedule() {
                    failures.push(format!("not the default grid ({}): {line}", solver.default_schedule()));
                }
                failures.extend(check(kind, start, solver, &r, &cfg, line));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Within the budget: 3 % = discretisation + statistics. A deterministic solver's estimate has no statistical
/// part, so it must show |sd error| ≤ 3 %; the stochastic one must show |sd error| + 3 standard errors (≤ 0.42 % at
/// n = 16384) ≤ 3 %, so a pass means its discretisation error is within budget at 3σ.
fn within_budget(r: &Measured) -> bool {
    r.sd.abs() + 3.0 * r.se <= BUDGET
}

/// Every solver at 20 steps on its default grid, on VE, VP and sub-VP from the flow and the prior: within budget
/// except the known cases, and none of those within it. Reverting the default grid to uniform t puts
/// DPM-Solver++(2M) 21–46 % off on VP/sub-VP (tests/mutants.py).
#[test]
fn every_solver_within_budget_at_20_steps_on_its_default_grid() {
    let all = [Solver::Euler, Solver::Heun, Solver::Dpmpp2m, Solver::Dpmpp2mSde, Solver::EdmHeun, Solver::Rk45];
    check_each_case(Some(20), &all, |kind, start, solver, r, _, line| {
        let (within, known) = (within_budget(r), known_over_budget(kind, start, solver));
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
        (within == known).then(|| {
            if known {
                format!("now within budget, shorten known_over_budget: {line}")
            } else {
                line
            }
        })
    });
}

/// Every fixed-step solver with nothing but the solver chosen (its default grid and steps, `Solver::default_steps`)
/// on VE, VP and sub-VP from the flow and the prior: within budget everywhere. The defaults were chosen with a
/// margin (2.6 %), so this holds on any CPU: the deterministic estimates are exact up to f32 rounding (~1e-5).
#[test]
fn every_solver_within_budget_at_its_default_steps() {
    let fixed = [Solver::Euler, Solver::Heun, Solver::Dpmpp2m, Solver::Dpmpp2mSde, Solver::EdmHeun];
    check_each_case(None, &fixed, |_, _, solver, r, cfg, line| {
        eprintln!("{line}");
        (Some(cfg.steps) != solver.default_steps() || !within_budget(r)).then_some(line)
    });
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
    assert_eq!(Solver::EdmHeun.default_schedule(), Schedule::Cosine);
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
    assert_eq!(cfg.steps, 12, "and its steps");
    let cfg = model.resolve(&SampleOptions { solver: Some(Solver::Dpmpp2m), ..base.clone() }).unwrap();
    assert_eq!((cfg.schedule, cfg.steps), (Schedule::LogSnr, 20), "another solver gets its own grid and steps");
    let cfg = model.resolve(&SampleOptions { method: Some(dinof::Method::Ode), ..base.clone() }).unwrap();
    assert_eq!(
        (cfg.solver, cfg.schedule, Some(cfg.steps)),
        (Solver::Heun, Solver::Heun.default_schedule(), Solver::Heun.default_steps()),
        "set aside with its grid and steps"
    );
    let cfg = model.resolve(&SampleOptions { predictor: Some(dinof::Predictor::EulerMaruyama), ..base }).unwrap();
    // The predictor/corrector sampler: uniform t, score_sde's int(N·t_start) = 600 from this bundle's flow at 0.6.
    assert!(cfg.predictor_corrector() && cfg.schedule == Schedule::Time && cfg.steps == 600, "{cfg:?}");
    std::fs::remove_dir_all(&dir).ok();
}

/// What Euler can do at best, on any grid. For data N(μ, s²) the ODE in x̃ = x/α, σ̃ = σ/α moves y = x̃ − μ as
/// √(σ̃² + s²), and one σ̃-Euler (DDIM) step from σ̃_a to σ̃_b multiplies y by (s² + σ̃_aσ̃_b)/(σ̃_a² + s²): with
/// σ̃ = s·tan u that is the exact factor times cos(u_a − u_b). So a run of N steps gives the exact sd times Π cos(Δu),
/// and since log cos is concave with ΣΔu = U = atan(σ̃_start/s) − atan(σ̃_eps/s) fixed, no grid does better than the
/// uniform-u one: cos(U/N)^N. With the start's own factor p (the flow: exact, 1; the prior: its sd over the true
/// x(1)'s) and Tweedie's step at eps (`exact_sd_error`), Euler's sd error is at most
/// p·cos(U/N)^N·(1 + exact) − 1 < 0. Returns (that bound, the fewest steps for which it is within `BUDGET`).
fn euler_best_case(model: &Model, s: f64, start: Start, steps: usize) -> (f64, usize) {
    let sde = model.sde();
    let t0 = if start == Start::Flow { T_M } else { 1.0 };
    let scaled = |t: f64| {
        let m = sde.marginal(t);
        m.std / m.mean
    };
    let p = if start == Start::Flow {
        1.0
    } else {
        let m = sde.marginal(1.0);
        (sde.prior_std() / m.mean) / (scaled(1.0).powi(2) + s * s).sqrt()
    };
    let u = (scaled(t0) / s).atan() - (scaled(sde.eps) / s).atan();
    let bound = |n: usize| p * (u / n as f64).cos().powi(n as i32) * (1.0 + exact_sd_error(model, s)) - 1.0;
    (bound(steps), (1..10_000).find(|&n| bound(n) >= -BUDGET).unwrap())
}

/// Issue #24 asks every solver for 3 % at 20 steps; for first-order Euler no grid can give it (`euler_best_case`:
/// its best case is over 3 % in all six cases). The check that the theory describes the runtime's Euler: on every
/// grid it offers, its sd error is at or below the bound, up to f32 rounding (the deterministic estimate is exact
/// to ~1e-5 relative, see the top; 1e-4 leaves a margin of 10). A sampler above the bound would not be the σ̃-Euler
/// step analysed here (e.g. one with a second-order correction); one far below it (Euler in t: −86 % on VE) is
/// caught by the default-steps test instead.
#[test]
fn euler_cannot_reach_the_budget_at_20_steps_on_any_grid() {
    let mut failures = Vec::new();
    for (kind, mu, s) in bundles() {
        let model = load(&fixture(&format!("gauss-{}", kind.name())), 1, 1024);
        for start in [Start::Flow, Start::Prior] {
            let (bound, fewest) = euler_best_case(&model, s, start, 20);
            eprintln!(
                "{} {start}: Euler's best case at 20 steps {:+.2} %, fewest steps for 3 % on the best grid {fewest}",
                kind.name(),
                100.0 * bound
            );
            if bound >= -BUDGET {
                failures.push(format!("{} {start}: best case {bound} within budget", kind.name()));
            }
            for &sch in Schedule::ALL {
                let (r, _) =
                    measure(&model, &options(Solver::Euler, Some(sch), 20, start, CHECK_N_DETERMINISTIC), mu, s);
                if r.sd > bound + 1e-4 {
                    failures.push(format!("{} {start} {sch}: sd {} above the bound {bound}", kind.name(), r.sd));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
