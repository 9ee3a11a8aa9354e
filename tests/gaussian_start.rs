//! The Gaussian start (issue 19, item 3): z ~ N(0, τ²I) through the bundle's fitted Gaussian of x(T_m)
//! (`gaussians`), then the reverse process from T_m, exactly as the flow start but with the Gaussian's graphs.
//!
//! Ground truth is the analytic fixture `gauss-vp-aniso` (tests/fixtures/make_analytic_bundles.py): VP (β 0.1–20),
//! 1×4×4 images, data N(μ·1, Σ₀) with μ = 0.3 and Σ₀ = Q diag(λ) Qᵀ, λ_k = 0.25·0.01^(k/15) (std 0.5 … 0.05), Q the
//! Sylvester–Hadamard matrix / 4, an exact score and exact Gaussian starts at T_m 0.4 and 0.6 (the data are Gaussian,
//! so x(T_m) ~ N(a μ, a²Σ₀ + s²I) is the true marginal). In the eigenbasis u = Qᵀx every coordinate is independent:
//! u_k(t) ~ N(a(t)·μ·4·[k = 0], v_k(t)), v_k(t) = a(t)²λ_k + s(t)², a and s the SDE's mean coefficient and std.
//! The 100× spread of λ makes an isotropic stand-in, an Lᵀ/L mix-up (covariance diag(a²λ + s²) in the pixel basis:
//! every v_k equal to their mean) or the wrong T_m's Gaussian fail by far more than the tolerances.

mod common;
use common::*;

use std::path::{Path, PathBuf};

use dinof::{
    Dequantize, Error, LikelihoodOptions, LikelihoodReport, Method, Model, SampleOptions, Solver, Start, StartError,
};

const LN2: f64 = std::f64::consts::LN_2;
const D: usize = 16;

/// Column k of Q (symmetric, orthogonal): Q[i][k] = (−1)^popcount(i & k) / 4.
fn q(i: usize, k: usize) -> f64 {
    if (i & k).count_ones().is_multiple_of(2) {
        0.25
    } else {
        -0.25
    }
}

/// The fixture's data law from its provenance: (μ, λ).
fn data_law(model: &Model) -> (f64, Vec<f64>) {
    let d = &model.bundle().manifest.provenance["data"];
    assert_eq!(d["kind"], "gaussian_cov");
    let lam: Vec<f64> = d["eigenvalues"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(lam.len(), D);
    (d["mean"].as_f64().unwrap(), lam)
}

/// Eigen-coordinates u = Qᵀx of each image (SDE-space values).
fn eigen_coords(x: &[f32]) -> Vec<[f64; D]> {
    x.chunks(D)
        .map(|img| {
            let mut u = [0.0; D];
            for (k, uk) in u.iter_mut().enumerate() {
                *uk = img.iter().enumerate().map(|(i, &v)| q(i, k) * v as f64).sum();
            }
            u
        })
        .collect()
}

/// The marginal law of u at time t: (means, variances) per eigen-coordinate.
fn marginal_u(model: &Model, t: f64) -> (Vec<f64>, Vec<f64>) {
    let (mu, lam) = data_law(model);
    let m = model.sde().marginal(t);
    // Σ_i Q[i][k]·μ = 4μ for k = 0 (the constant column), 0 otherwise.
    let means = (0..D).map(|k| if k == 0 { 4.0 * m.mean * mu } else { 0.0 }).collect();
    let vars = lam.iter().map(|l| m.mean * m.mean * l + m.std * m.std).collect();
    (means, vars)
}

/// Standard errors allowed per statistic. Each test makes at most 3 × 16 × 2 = 96 comparisons of a Gaussian sample
/// mean or variance with its exact value; at 5 standard errors a two-sided miss has probability 5.7e-7 each, 5.5e-5
/// for all of them together (and the seeds are fixed, so a run is deterministic).
const Z: f64 = 5.0;

/// Checks every eigen-coordinate's sample mean and variance against N(mean_k, var_k): the mean's standard error is
/// √(var_k/n), the (unbiased) variance's var_k·√(2/(n − 1)) for Gaussian values. Returns one line per coordinate.
fn check_moments(u: &[[f64; D]], means: &[f64], vars: &[f64], what: &str) -> Result<String, String> {
    let n = u.len() as f64;
    let mut lines = Vec::new();
    let mut bad = false;
    for k in 0..D {
        let m = u.iter().map(|v| v[k]).sum::<f64>() / n;
        let var = u.iter().map(|v| (v[k] - m).powi(2)).sum::<f64>() / (n - 1.0);
        let (se_m, se_v) = ((vars[k] / n).sqrt(), vars[k] * (2.0 / (n - 1.0)).sqrt());
        let ok = (m - means[k]).abs() <= Z * se_m && (var - vars[k]).abs() <= Z * se_v;
        bad |= !ok;
        lines.push(format!(
            "{what} u{k:<2}: mean {m:+.4} (want {:+.4} ± {:.4}), var {var:.5} (want {:.5} ± {:.1}%){}",
            means[k],
            Z * se_m,
            vars[k],
            100.0 * Z * se_v / vars[k],
            if ok { "" } else { "  <-- FAIL" }
        ));
    }
    let msg = lines.join("\n");
    if bad {
        Err(msg)
    } else {
        Ok(msg)
    }
}

/// Images per run: the variance of each coordinate is then known to ±7.8% (5 standard errors), its mean to
/// ±0.055·sd; the smallest deviation the mutations below cause is 4× (temperature) or a mean shift of 20 sd.
const N: usize = 8192;

/// The probability-flow ODE from T_m with rk45 and no final denoising step: for Gaussian data with the exact score the
/// ODE's flow map is affine per eigen-coordinate, u_k(t) − ū_k(t) = √(v_k(t)/v_k(T_m))·(u_k(T_m) − ū_k(T_m)), so a
/// start N(ū(T_m), τ²v(T_m)) ends exactly on N(ū(eps), τ²v(eps)). rk45 at rtol = atol = 1e-5 leaves a relative
/// error of order 1e-5 per value (1e-4 at most on the variances), three orders below the statistical tolerance.
fn ode_options(start: Start, t_m: f64, temperature: f64) -> SampleOptions {
    SampleOptions {
        n: N,
        seed: Some(19),
        start: Some(start),
        t_m: Some(t_m),
        temperature: Some(temperature),
        method: Some(Method::Ode),
        solver: Some(Solver::Rk45),
        denoise: Some(false),
        batch_size: N,
        ..Default::default()
    }
}

#[test]
fn gaussian_start_samples_the_exact_marginal() {
    let model = load(&fixture("gauss-vp-aniso"), 2, 0);
    let eps = model.sde().eps;
    let (means, vars) = marginal_u(&model, eps);
    let mut failures = Vec::new();
    // (T_m, τ): both Gaussians; τ = 0.5 scales every variance by 1/4 (a start that ignored τ would be 4× off).
    for (t_m, tau) in [(0.4, 1.0), (0.6, 1.0), (0.6, 0.5)] {
        let o = ode_options(Start::Gaussian, t_m, tau);
        let mut x = vec![0f32; N * D];
        let r = model.sample(&SampleOptions { raw: true, ..o.clone() }, &mut x, &mut |_| true).unwrap();
        assert_eq!(
            (r.config.start, r.config.t_start, r.config.temperature, r.flow_evals),
            (Start::Gaussian, t_m, tau, 1)
        );
        let scaled: Vec<f64> = vars.iter().map(|v| tau * tau * v).collect();
        match check_moments(&eigen_coords(&x), &means, &scaled, &format!("T_m {t_m} τ {tau}")) {
            Ok(m) => println!("{m}"),
            Err(m) => {
                println!("{m}");
                failures.push(format!("T_m {t_m} τ {tau}"));
            }
        }
    }
    assert!(failures.is_empty(), "moments off for {failures:?} (lines above)");
}

/// A bundle directory made from gauss-vp-aniso with its manifest edited by `edit` (the ONNX files are shared by
/// hard copy; checksums dropped so that the edit does not have to update them).
fn edited_bundle(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let src = fixture("gauss-vp-aniso");
    let dir = std::env::temp_dir().join(format!("dinof-gaussian-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "onnx") {
            std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
        }
    }
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(src.join("dinof.json")).unwrap()).unwrap();
    m.as_object_mut().unwrap().remove("checksums");
    edit(&mut m);
    std::fs::write(dir.join("dinof.json"), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    dir
}

/// The fixture with `flows` = its own Gaussians: the flow start and the Gaussian start then run the same graphs.
fn with_flows_equal_to_gaussians() -> PathBuf {
    edited_bundle("as-flows", |m| m["flows"] = m["gaussians"].clone())
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// When the flow is the same affine map as the Gaussian, the two starts must give the same images bit for bit
/// (same noise stream, temperature, T_m, steps and graph): the Gaussian start is the flow start with another array.
/// The prior start from the same seed must differ (so the comparison can fail).
#[test]
fn gaussian_start_equals_the_flow_start_on_the_same_map() {
    let dir = with_flows_equal_to_gaussians();
    let model = load(&dir, 2, 0);
    assert_eq!((model.info().t_ms, model.info().gaussian_t_ms), (vec![0.4, 0.6], vec![0.4, 0.6]));
    let base = SampleOptions { n: 64, seed: Some(5), batch_size: 16, ..Default::default() };
    let cases = [
        SampleOptions { t_m: Some(0.4), steps: Some(40), ..base.clone() },
        SampleOptions {
            t_m: Some(0.6),
            temperature: Some(0.7),
            method: Some(Method::Ode),
            solver: Some(Solver::Heun),
            steps: Some(10),
            ..base.clone()
        },
        SampleOptions { solver: Some(Solver::Dpmpp2mSde), steps: Some(9), ..base.clone() },
    ];
    for o in cases {
        let g = sample_raw(&model, &SampleOptions { start: Some(Start::Gaussian), ..o.clone() });
        let f = sample_raw(&model, &SampleOptions { start: Some(Start::Flow), ..o.clone() });
        assert!(bits(&g) == bits(&f), "Gaussian and flow starts differ with {o:?}");
        let (cg, cf) = (
            model.resolve(&SampleOptions { start: Some(Start::Gaussian), ..o.clone() }).unwrap(),
            model.resolve(&SampleOptions { start: Some(Start::Flow), ..o.clone() }).unwrap(),
        );
        assert_eq!((cg.t_start, cg.steps, cg.temperature), (cf.t_start, cf.steps, cf.temperature));
        if o.t_m.is_none() {
            assert_eq!(cg.t_start, 0.6, "the bundle's sampler.t_m");
        }
        let p = sample_raw(&model, &SampleOptions { start: Some(Start::Prior), t_m: None, ..o.clone() });
        assert!(bits(&g) != bits(&p), "the prior start gave the Gaussian start's images");
    }
    // And the likelihood: the same density graph at the same T_m gives the same figures.
    let pixels: Vec<f32> = sample_raw(&model, &SampleOptions { start: Some(Start::Gaussian), ..base.clone() })[..4 * D]
        .iter()
        .map(|x| x * 0.5 + 0.5)
        .collect();
    let lo = LikelihoodOptions { seed: Some(2), t_m: Some(0.4), dequantize: Dequantize::None, ..Default::default() };
    let g = model
        .log_likelihood(&pixels, 4, &LikelihoodOptions { start: Some(Start::Gaussian), ..lo.clone() }, &mut |_, _| true)
        .unwrap();
    let f = model
        .log_likelihood(&pixels, 4, &LikelihoodOptions { start: Some(Start::Flow), ..lo.clone() }, &mut |_, _| true)
        .unwrap();
    assert_eq!((g.start, g.t_end, f.t_end), (Start::Gaussian, 0.4, 0.4));
    for (a, b) in g.images.iter().zip(&f.images) {
        assert_eq!(a.bits_per_dim.to_bits(), b.bits_per_dim.to_bits());
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Which T_m a start takes: the caller's, else the bundle's sampler.t_m when this start has a network there, else its
/// largest. The bundle's default start comes from sampler.start, else flow > Gaussian > prior by what the bundle has.
#[test]
fn t_m_and_default_start_resolution() {
    let model = load(&fixture("gauss-vp-aniso"), 1, 0);
    let cfg = model.resolve(&SampleOptions::default()).unwrap();
    assert_eq!((cfg.start, cfg.t_start), (Start::Gaussian, 0.6)); // sampler.start "gaussian", t_m 0.6
    assert_eq!(model.resolve(&SampleOptions { t_m: Some(0.4), ..Default::default() }).unwrap().t_start, 0.4);
    assert_eq!(model.resolve(&SampleOptions { start: Some(Start::Prior), ..Default::default() }).unwrap().t_start, 1.0);
    // A flow only at 0.4 and the Gaussian default at 0.6: start 'flow' without t_m takes the flow's own T_m.
    let dir = edited_bundle("flow04", |m| {
        m["flows"] = serde_json::json!([m["gaussians"][0].clone()]);
    });
    let model = load(&dir, 1, 0);
    assert_eq!(model.resolve(&SampleOptions { start: Some(Start::Flow), ..Default::default() }).unwrap().t_start, 0.4);
    // No sampler.start: a bundle with flows defaults to the flow start, one with only Gaussians to the Gaussian start.
    let dir2 = edited_bundle("nodefault", |m| {
        m["sampler"].as_object_mut().unwrap().remove("start");
        m["sampler"].as_object_mut().unwrap().remove("t_m");
    });
    let cfg = load(&dir2, 1, 0).resolve(&SampleOptions::default()).unwrap();
    assert_eq!((cfg.start, cfg.t_start), (Start::Gaussian, 0.6));
    let dir3 = edited_bundle("nodefault-flows", |m| {
        m["sampler"].as_object_mut().unwrap().remove("start");
        m["sampler"].as_object_mut().unwrap().remove("t_m");
        m["flows"] = serde_json::json!([m["gaussians"][0].clone()]);
    });
    let cfg = load(&dir3, 1, 0).resolve(&SampleOptions::default()).unwrap();
    assert_eq!((cfg.start, cfg.t_start), (Start::Flow, 0.4));
    for d in [dir, dir2, dir3] {
        let _ = std::fs::remove_dir_all(d);
    }
}

fn start_error(r: dinof::Result<impl std::fmt::Debug>) -> (StartError, String) {
    match r {
        Err(Error::Start(e)) => {
            let msg = Error::Start(e.clone()).to_string();
            (e, msg)
        }
        other => panic!("expected a start error, got {other:?}"),
    }
}

#[test]
fn a_missing_gaussian_is_a_typed_error_naming_the_t_ms() {
    let model = load(&fixture("gauss-vp-aniso"), 1, 0);
    let o = SampleOptions { n: 1, seed: Some(1), start: Some(Start::Gaussian), t_m: Some(0.5), ..Default::default() };
    let (e, msg) = start_error(model.resolve(&o));
    assert_eq!(e, StartError::NoTm { start: Start::Gaussian, t_m: 0.5, available: vec![0.4, 0.6] });
    assert!(msg.contains("no Gaussian start for T_m = 0.5") && msg.contains("[0.4, 0.6]"), "{msg}");
    let mut out = vec![7f32; D];
    start_error(model.sample(&o, &mut out, &mut |_| true));
    assert!(out.iter().all(|&v| v == 7.0), "a refused request must leave the buffer untouched");
    let lo = LikelihoodOptions {
        start: Some(Start::Gaussian),
        t_m: Some(0.5),
        dequantize: Dequantize::None,
        ..Default::default()
    };
    start_error(model.log_likelihood(&[0.5; D], 1, &lo, &mut |_, _| true));
    // The flow start on a bundle without flows names the starts there are.
    let (e, msg) = start_error(model.resolve(&SampleOptions { start: Some(Start::Flow), ..Default::default() }));
    assert_eq!(e, StartError::Absent { start: Start::Flow, others: vec![Start::Prior, Start::Gaussian] });
    assert!(msg.contains("needs a bundle with a flow") && msg.contains("'prior' or 'gaussian'"), "{msg}");
    // A bundle without Gaussians (every bundle made before issue 19).
    let old = load(&fixture("gauss-vp"), 1, 0);
    assert!(old.info().gaussian_t_ms.is_empty());
    let (e, msg) = start_error(old.resolve(&SampleOptions { start: Some(Start::Gaussian), ..Default::default() }));
    assert!(matches!(e, StartError::Absent { start: Start::Gaussian, .. }), "{e:?}");
    assert!(msg.contains("needs a bundle with a Gaussian start (manifest 'gaussians')"), "{msg}");
}

fn manifest_error(dir: &Path) -> String {
    match Model::load(dir, &Default::default()) {
        Err(Error::InvalidManifest { msg, .. }) => msg,
        other => panic!("{}: expected an invalid manifest, got {other:?}", dir.display()),
    }
}

/// A named edit of a manifest and the message it must produce.
type ManifestCase = (&'static str, fn(&mut serde_json::Value), &'static str);

/// The manifest rules of `gaussians`: the same as for flows, checked on the array itself.
#[test]
fn gaussians_manifest_rules() {
    let m = manifest_error(&fixture("bad-gaussian-tm"));
    assert!(m.contains("sampler.t_m = 0.5") && m.contains("gaussians") && m.contains("[0.4, 0.6]"), "{m}");
    let cases: [ManifestCase; 4] = [
        ("dup", |m| m["gaussians"][1]["t_m"] = 0.4.into(), "gaussians[1].t_m = 0.4 is listed twice"),
        ("cond", |m| m["gaussians"][0]["conditional"] = true.into(), "gaussians[0] is conditional but classes is 0"),
        (
            "none",
            |m| m["gaussians"] = serde_json::json!([]),
            "sampler.start is 'gaussian' but the bundle has no gaussians",
        ),
        ("eps", |m| m["gaussians"][0]["t_m"] = 0.0005.into(), "gaussians[0].t_m = 0.0005 must be greater than sde.eps"),
    ];
    for (name, edit, want) in cases {
        let dir = edited_bundle(name, edit);
        let m = manifest_error(&dir);
        assert!(m.contains(want), "{name}: {m}");
        let _ = std::fs::remove_dir_all(dir);
    }
    let dir = edited_bundle("missing-file", |m| m["gaussians"][0]["density_file"] = "nope.onnx".into());
    assert!(matches!(Model::load(&dir, &Default::default()), Err(Error::MissingFile(_))));
    let _ = std::fs::remove_dir_all(dir);
}

/// Exact log-density of the marginal at eps (the likelihood reads the data as x(eps)), as bits/dim of the pixels.
fn exact_bpd(model: &Model, pixels: &[f32]) -> Vec<f64> {
    let (means, vars) = marginal_u(model, model.sde().eps);
    let im = &model.bundle().manifest.image;
    let x: Vec<f32> = pixels.iter().map(|&p| ((p as f64 - im.pixel_offset) / im.pixel_scale) as f32).collect();
    eigen_coords(&x)
        .iter()
        .map(|u| {
            // Q is orthogonal: log N(x; m, QVQᵀ) = Σ_k log N(u_k; m_k, v_k).
            let logp: f64 = (0..D)
                .map(|k| -0.5 * (u[k] - means[k]).powi(2) / vars[k] - 0.5 * (2.0 * std::f64::consts::PI * vars[k]).ln())
                .sum();
            -(logp - D as f64 * im.pixel_scale.ln()) / (D as f64 * LN2)
        })
        .collect()
}

/// Data drawn from the fixture's law: x = μ + Q diag(√λ) ε, as pixels.
fn draw_pixels(model: &Model, n: usize, seed: u64) -> Vec<f32> {
    let (mu, lam) = data_law(model);
    let im = &model.bundle().manifest.image;
    let mut out = Vec::with_capacity(n * D);
    let mut e = [0f32; D];
    for k in 0..n {
        dinof::rng::SampleRng::new(seed, k as u64).fill_normal(&mut e, 1.0);
        for i in 0..D {
            let x = mu + (0..D).map(|j| q(i, j) * lam[j].sqrt() * e[j] as f64).sum::<f64>();
            out.push((x * im.pixel_scale + im.pixel_offset) as f32);
        }
    }
    out
}

/// m_k = ½∫_eps^T_m g(t)²/v_k(t) dt per eigen-coordinate: the divergence term −½g²·tr(∂s/∂x) integrated along the
/// path (the exact score's Jacobian is −Q diag(1/v_k(t)) Qᵀ, the same for every x). For VP, g² = β and
/// dv_k/dt = −β(v_k − 1), so m_k = ½[ln|v_k − 1|/v_k] from T_m to eps in closed form (v_k < 1 here: λ_k ≤ 0.25).
fn divergence_integrals(model: &Model, t_m: f64) -> Vec<f64> {
    let (_, lam) = data_law(model);
    let v = |t: f64, l: f64| {
        let m = model.sde().marginal(t);
        m.mean * m.mean * l + m.std * m.std
    };
    let h = |v: f64| ((1.0 - v) / v).ln();
    lam.iter().map(|&l| 0.5 * (h(v(model.sde().eps, l)) - h(v(t_m, l)))).collect()
}

/// `likelihood --start gaussian` integrates the ODE to T_m and adds the Gaussian's density graph; each image's figure
/// must be the exact density to a bound derived from the arithmetic, with no statistical allowance:
/// - Hutchinson noise is removed exactly. The score is linear, so its Jacobian −Q diag(1/v_k(t)) Qᵀ is the same for
///   every x, and with the probes v fixed along the path an image's log-density error is exactly
///   h = (1/K)·Σ_probes (vᵀMv − tr M) nats, M = Q diag(m_k) Qᵀ (`divergence_integrals`). The test redraws each image's
///   probes from its stream (seed, index): with `Dequantize::None` the stream's first draws are the K·D Rademacher
///   signs (likelihood.rs `prepare`), and adds h back. (Second instrument: the errors' sample standard deviation
///   must match √(2·Σ_{i≠j} M_ij²/K), the Rademacher variance of h, printed.)
/// - What is left is deterministic, bounded per image: (i) rk45 at rtol = atol = 1e-5 per step on ℓ = ∫ div f,
///   |ℓ| ≤ |∫ f·D dt| + Σm_k: allowed 10·rtol·(|ℓ| + 1) nats (ten times the per-step tolerance for the accumulation
///   over steps); (ii) central differences of a linear score are exact but for f32 rounding: the score graph (two
///   16-term MatMuls and a division) rounds each value to ≤ 2·16·u·|s| (u = 2⁻²⁴), and its difference over
///   2δ = 2·10⁻²·σ(t), where |Jδv| ≈ 10⁻²·|s|, is then ≤ 2·16·u/10⁻² = 1.9e-4 relative on the divergence:
///   ≤ 1.9e-4·Σm_k nats; (iii) the density graph's f32 arithmetic: |z|²/2 over 16 values of O(1) and a constant
///   log-determinant, ≤ 1e-4 nats. Divided by D·ln 2 for bits/dim.
///
/// The mutations "Gaussian likelihood → the prior's density" and "Gaussian start → the flows" (tests/mutants.py) fail
/// it.
#[test]
fn likelihood_from_the_gaussian_start_is_the_exact_density() {
    const N_IMG: usize = 48;
    const K: usize = 4;
    const SEED: u64 = 4;
    let model = load(&fixture("gauss-vp-aniso"), 2, 0);
    let pixels = draw_pixels(&model, N_IMG, 3);
    let exact = exact_bpd(&model, &pixels);
    let scale = D as f64 * LN2;
    for t_m in [0.4, 0.6] {
        let m = divergence_integrals(&model, t_m);
        let mm: Vec<f64> = (0..D * D).map(|ij| (0..D).map(|k| q(ij / D, k) * m[k] * q(ij % D, k)).sum()).collect();
        let off = |v: &[f32]| -> f64 {
            (0..D * D).filter(|ij| ij / D != ij % D).map(|ij| mm[ij] * v[ij / D] as f64 * v[ij % D] as f64).sum()
        };
        let sigma_h = (2.0 * (0..D * D).filter(|ij| ij / D != ij % D).map(|ij| mm[ij].powi(2)).sum::<f64>() / K as f64)
            .sqrt()
            / scale;
        let sum_m: f64 = m.iter().sum();
        let sde = model.sde();
        let drift_term = D as f64 * (sde.marginal(t_m).mean.ln() - sde.marginal(sde.eps).mean.ln()).abs(); // |∫ f·D dt|
        let det = (10.0 * 1e-5 * (drift_term + sum_m + 1.0) + 1.9e-4 * sum_m + 1e-4) / scale;
        let o = LikelihoodOptions {
            seed: Some(SEED),
            start: Some(Start::Gaussian),
            t_m: Some(t_m),
            dequantize: Dequantize::None,
            probes: K,
            ..Default::default()
        };
        let r: LikelihoodReport = model.log_likelihood(&pixels, N_IMG, &o, &mut |_, _| true).unwrap();
        assert_eq!((r.start, r.t_end), (Start::Gaussian, t_m));
        let (mut worst, mut sq) = (0f64, 0f64);
        for (j, (img, x)) in r.images.iter().zip(&exact).enumerate() {
            let mut v = vec![0f32; K * D];
            dinof::rng::SampleRng::new(SEED, j as u64).fill_rademacher(&mut v);
            // bits/dim = −log p/(D ln 2): the log-density error h shows as −h/(D ln 2)
            let h = v.chunks(D).map(off).sum::<f64>() / K as f64 / scale;
            let e = img.bits_per_dim - x;
            worst = worst.max((e + h).abs());
            sq += e * e;
        }
        let sd = (sq / N_IMG as f64).sqrt();
        println!(
            "T_m {t_m}: largest error without the Hutchinson term {worst:.2e} bits/dim (bound {det:.2e}); error sd \
             {sd:.4} (Rademacher sd {sigma_h:.4}); Σm_k {sum_m:.2} nats; {} score evaluations",
            r.score_evals
        );
        assert!(worst <= det, "T_m {t_m}: an image is {worst:e} bits/dim off, beyond {det:e}");
    }
}
