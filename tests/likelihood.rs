//! `Model::log_likelihood` against the exact log-density of the analytic bundles (tests/fixtures/README.md; the
//! `-density` ones add the flows' exact density graphs).
//!
//! The ODE carries x(eps) to x(T) and the method returns log p_eps(x) (score_sde's convention: the data are read as
//! x(eps)), so the reference is the exact density of the marginal at eps: Gaussian data N(μ, s²I) give
//! N(α μ, (α² s² + σ²) I) per value, mixtures the same per component (α, σ of the SDE at eps). Bits/dim here are of
//! the pixel values, −log₂ p(pixel)/D with p(pixel) = p_x(x)·scale^(−D).

mod common;
use common::*;

use dinof::rng::SampleRng;
use dinof::{Dequantize, LikelihoodOptions, LikelihoodReport, Model, Start};

const LN2: f64 = std::f64::consts::LN_2;

/// The data law of an analytic bundle, from its manifest's provenance: (weights, means, std) in the model's space.
fn data_law(model: &Model) -> (Vec<f64>, Vec<f64>, f64) {
    let d = &model.bundle().manifest.provenance["data"];
    let f = |v: &serde_json::Value| v.as_f64().unwrap();
    let std = f(&d["std"]);
    match d["kind"].as_str().unwrap() {
        "gaussian" => (vec![1.0], vec![f(&d["mean"])], std),
        "mixture" => (
            d["weights"].as_array().unwrap().iter().map(f).collect(),
            d["means"].as_array().unwrap().iter().map(f).collect(),
            std,
        ),
        k => panic!("no exact density for data kind {k}"),
    }
}

/// n images drawn from the bundle's data law, as pixels (f32, possibly outside [0, 1] for the continuous tests).
fn draw_pixels(model: &Model, n: usize, seed: u64) -> Vec<f32> {
    let (w, mu, s) = data_law(model);
    let im = &model.bundle().manifest.image;
    let dim = model.image_len();
    let mut out = vec![0f32; n * dim];
    let mut u = [0f64; 1];
    for k in 0..n {
        let mut rng = SampleRng::new(seed, k as u64);
        rng.fill_uniform(&mut u);
        let c = if u[0] < w[0] { 0 } else { 1.min(w.len() - 1) };
        let img = &mut out[k * dim..(k + 1) * dim];
        rng.fill_normal(img, s as f32);
        for v in img.iter_mut() {
            *v = ((*v as f64 + mu[c]) * im.pixel_scale + im.pixel_offset) as f32;
        }
    }
    out
}

/// log N(x; m, v) summed, for one image's values x (model space).
fn gauss_logp(x: &[f64], m: f64, v: f64) -> f64 {
    x.iter().map(|&x| -0.5 * (x - m).powi(2) / v - 0.5 * (2.0 * std::f64::consts::PI * v).ln()).sum()
}

/// Exact bits/dim of each image's pixel values under the marginal at eps (continuous density).
fn exact_bpd(model: &Model, pixels: &[f32]) -> Vec<f64> {
    let (w, mu, s) = data_law(model);
    let sde = model.sde();
    let m = sde.marginal(sde.eps);
    let v = m.mean * m.mean * s * s + m.std * m.std;
    let im = &model.bundle().manifest.image;
    let dim = model.image_len();
    pixels
        .chunks(dim)
        .map(|p| {
            let x: Vec<f64> = p.iter().map(|&p| (p as f64 - im.pixel_offset) / im.pixel_scale).collect();
            let comps: Vec<f64> = w.iter().zip(&mu).map(|(&w, &mu)| w.ln() + gauss_logp(&x, m.mean * mu, v)).collect();
            let top = comps.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let logp = top + comps.iter().map(|c| (c - top).exp()).sum::<f64>().ln();
            -(logp - dim as f64 * im.pixel_scale.ln()) / (dim as f64 * LN2)
        })
        .collect()
}

fn measure(model: &Model, pixels: &[f32], o: &LikelihoodOptions) -> LikelihoodReport {
    let n = pixels.len() / model.image_len();
    model.log_likelihood(pixels, n, o, &mut |_, _| true).unwrap_or_else(|e| panic!("{o:?}: {e}"))
}

/// Per-image errors against the exact figures: (mean error, max |error|, std error of the mean error).
fn errors(report: &LikelihoodReport, exact: &[f64]) -> (f64, f64, f64) {
    let e: Vec<f64> = report.images.iter().zip(exact).map(|(i, x)| i.bits_per_dim - x).collect();
    let n = e.len() as f64;
    let mean = e.iter().sum::<f64>() / n;
    let sd = (e.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    (mean, e.iter().map(|x| x.abs()).fold(0.0, f64::max), sd / n.sqrt())
}

fn continuous(start: Start, t_m: Option<f64>) -> LikelihoodOptions {
    LikelihoodOptions { seed: Some(1), start: Some(start), t_m, dequantize: Dequantize::None, ..Default::default() }
}

/// The flows of the Gaussian bundles are exact, so the only errors are the ODE's, the finite differences' and
/// f32's: measured ≤ 7e-5 bits/dim per image. Hutchinson is exact here (the Jacobian of an isotropic Gaussian's score
/// is diagonal, and Rademacher probes give vᵀDv = tr D).
#[test]
fn flow_start_matches_the_exact_density_for_every_sde() {
    for name in ["gauss-ve-density", "gauss-vp-density", "gauss-subvp-density"] {
        let model = load(&fixture(name), 2, 0);
        let pixels = draw_pixels(&model, 32, 7);
        let exact = exact_bpd(&model, &pixels);
        for t_m in [0.4, 0.6] {
            let r = measure(&model, &pixels, &continuous(Start::Flow, Some(t_m)));
            let (mean, max, _) = errors(&r, &exact);
            println!(
                "{name} flow T_m {t_m}: mean error {mean:+.2e}, max |error| {max:.2e} bits/dim, {} score evaluations",
                r.score_evals
            );
            // Error budget per image, in bits/dim: RK45 at rtol = atol = 1e-5 on (x, ℓ) leaves ~1e-5 relative on ℓ
            // (~1e-5 bits/dim), f32 central differences (step ≥ 1e-4 of the range, roundoff u·|s|/δ, random sign
            // over the probes and steps) ~1e-5…1e-4: ≤ ~1e-4 in all, on any CPU (the analytic graphs are elementwise).
            // The mean's 1e-3 is 10× that; the per-image 1e-2 is the VE prior mismatch's scale (next test), loose
            // by design. A wrong divergence factor or prior term costs ≥ 0.1 bits/dim.
            assert!(max < 0.01 && mean.abs() < 0.001, "{name} T_m {t_m}: mean error {mean}, max {max}");
            assert_eq!((r.start, r.t_end), (Start::Flow, t_m));
        }
    }
}

/// From the prior the ODE runs to t = 1 and ends on N(0, σ_prior² I), which is not exactly the marginal there:
/// VE's x(1) ~ N(μ, σ_max² + s²) against the prior N(0, σ_max²) costs up to ~0.01 bits/dim per image (measured max
/// 0.0088 on 64 images, std 0.0036, unchanged at rtol 1e-7: it is the prior's, not the solver's); VP/sub-VP ≤ 0.002.
/// The mixtures' score Jacobians are not diagonal, so one image's figure carries Hutchinson noise (std 0.04
/// bits/dim at 8 probes): their mean is checked against its standard error.
#[test]
fn prior_start_matches_the_exact_density() {
    for (name, per_image) in [("gauss-vp", 0.01), ("gauss-subvp", 0.01), ("gauss-ve", 0.02)] {
        let model = load(&fixture(name), 2, 0);
        let pixels = draw_pixels(&model, 32, 8);
        let r = measure(&model, &pixels, &continuous(Start::Prior, None));
        let (mean, max, _) = errors(&r, &exact_bpd(&model, &pixels));
        println!(
            "{name} prior: mean error {mean:+.2e}, max |error| {max:.2e} bits/dim, {} score evaluations",
            r.score_evals
        );
        // per_image: the prior mismatch above (VE: measured max 0.0088, std 0.0036 over 64 images; 0.02 is its max
        // + 3 std; VP/sub-VP ≤ 0.002 → 0.01). Mean 0.003: VE's per-image errors have std 0.0036, so the mean of 32
        // has se 0.0006 and 0.003 is 5 se; plus the ~1e-4 solver budget. Measured figures, not derived: the prior
        // mismatch's per-image law is not closed-form here (docs/testing.md lists this).
        assert!(max < per_image && mean.abs() < 0.003, "{name}: mean error {mean}, max {max}");
    }
    for name in ["mixture-vp", "mixture-ve"] {
        let model = load(&fixture(name), 2, 0);
        let pixels = draw_pixels(&model, 64, 9);
        let r = measure(&model, &pixels, &LikelihoodOptions { probes: 8, ..continuous(Start::Prior, None) });
        let (mean, max, se) = errors(&r, &exact_bpd(&model, &pixels));
        println!(
            "{name} prior, 8 probes: mean error {mean:+.4} ± {se:.4}, max |error| {max:.3} bits/dim, {} score \
             evaluations",
            r.score_evals
        );
        // Hutchinson noise: 4 standard errors of the mean over 64 images (z = 4: a reseed fails with p < 1e-4) plus
        // the 0.002 prior mismatch of VP; and never more than 0.01 whatever the noise.
        assert!(mean.abs() < 0.01 && mean.abs() < 4.0 * se + 0.002, "{name}: mean error {mean} ± {se}");
    }
}

/// score_sde's 8-bit bits/dim: k = round(255·pixel), x = (k + u)/256, −log₂ p(x)/D + 8. For Gaussian pixels the
/// expectation over u is closed-form: E log N((k+u)/256; M, V) = log N(c; M, V) − w²/(24 V), c = (k + ½)/256,
/// w = 1/256. The mean over images must match it (the u noise averages out: std error ~ 0.0005 at n = 128).
#[test]
fn uniform_dequantization_is_score_sdes_eight_bit_bound() {
    for name in ["gauss-vp-density", "gauss-ve-density"] {
        let model = load(&fixture(name), 2, 0);
        let (_, mu, s) = data_law(&model);
        let im = model.bundle().manifest.image.clone();
        let sde = model.sde();
        let m = sde.marginal(sde.eps);
        // The marginal at eps in pixel space.
        let (big_m, big_v) = (
            m.mean * mu[0] * im.pixel_scale + im.pixel_offset,
            (m.mean * m.mean * s * s + m.std * m.std) * im.pixel_scale.powi(2),
        );
        let pixels: Vec<f32> =
            draw_pixels(&model, 128, 10).iter().map(|&p| (p.clamp(0.0, 1.0) * 255.0).round() / 255.0).collect();
        let w = 1.0 / 256.0;
        let dim = model.image_len() as f64;
        let expected: Vec<f64> = pixels
            .chunks(model.image_len())
            .map(|p| {
                let c: Vec<f64> = p.iter().map(|&p| ((p as f64 * 255.0).round() + 0.5) / 256.0).collect();
                let e = gauss_logp(&c, big_m, big_v) - dim * w * w / (24.0 * big_v);
                -e / (dim * LN2) + 8.0
            })
            .collect();
        let r = measure(
            &model,
            &pixels,
            &LikelihoodOptions { seed: Some(3), start: Some(Start::Flow), ..Default::default() },
        );
        assert_eq!(r.dequantize, Dequantize::Uniform);
        let (mean, _, se) = errors(&r, &expected);
        println!(
            "{name} uniform: mean {:.4} bits/dim, expected {:.4}, error {mean:+.5} ± {se:.5}",
            r.mean_bits_per_dim,
            expected.iter().sum::<f64>() / 128.0
        );
        // 5 standard errors of the dequantisation noise's mean (se ~0.0005 at n = 128) plus 5e-4 for the solver's
        // ~1e-4 and the w²/24V expansion's next term (O(w⁴/V²) ≈ 1e-9 here); 0.003 caps a lucky large se.
        assert!(mean.abs() < 0.003 && mean.abs() < 5.0 * se + 5e-4, "{name}: mean error {mean} ± {se}");
    }
}

/// The same seed gives the same figures, bit for bit, whatever the batch size and thread count; another seed gives
/// other dequantisation noise.
#[test]
fn same_seed_same_figures_whatever_batch_and_threads() {
    let pixels = {
        let model = load(&fixture("mixture-vp"), 1, 0);
        draw_pixels(&model, 5, 4).iter().map(|p| p.clamp(0.0, 1.0)).collect::<Vec<_>>()
    };
    let run = |threads: usize, batch_size: usize, seed: u64| {
        let model = load(&fixture("mixture-vp"), threads, 0);
        let r = measure(
            &model,
            &pixels,
            &LikelihoodOptions { seed: Some(seed), batch_size, probes: 2, ..Default::default() },
        );
        r.images.iter().map(|i| i.bits_per_dim).collect::<Vec<_>>()
    };
    let base = run(1, 0, 5);
    assert_eq!(run(2, 1, 5), base);
    assert_eq!(run(2, 3, 5), base);
    assert_ne!(run(1, 0, 6), base);
}

#[test]
fn bad_input_is_a_typed_error() {
    let model = load(&fixture("gauss-vp-density"), 1, 0);
    let dim = model.image_len();
    let err =
        |pixels: &[f32], n: usize, o: &LikelihoodOptions| match model.log_likelihood(pixels, n, o, &mut |_, _| true) {
            Err(dinof::Error::InvalidArgument(msg)) => msg,
            other => panic!("expected InvalidArgument, got {other:?}"),
        };
    let good = vec![0.5f32; 2 * dim];
    let o = LikelihoodOptions { seed: Some(1), ..Default::default() };
    assert!(err(&good[..dim + 1], 2, &o).contains("pixel values for 2 images"));
    assert!(err(&[], 0, &o).contains("no images"));
    let mut nan = good.clone();
    nan[dim + 3] = f32::NAN;
    assert!(err(&nan, 2, &o).contains("image 1, value 3 is NaN"));
    let mut out = good.clone();
    out[2] = 1.5;
    assert!(err(&out, 2, &o).contains("outside [0, 1]"));
    // Outside [0, 1] is a value like any other for the continuous density.
    let none = LikelihoodOptions { dequantize: Dequantize::None, ..o.clone() };
    assert!(model.log_likelihood(&out, 2, &none, &mut |_, _| true).is_ok());
    assert!(err(&good, 2, &LikelihoodOptions { probes: 0, ..o.clone() }).contains("probes"));
    assert!(err(&good, 2, &LikelihoodOptions { fd_step: Some(0.0), ..o.clone() }).contains("fd_step"));
    assert!(err(&good, 2, &LikelihoodOptions { rtol: Some(0.0), ..o.clone() }).contains("rtol"));
    let r = model.log_likelihood(&good, 2, &LikelihoodOptions { t_m: Some(0.5), ..o.clone() }, &mut |_, _| true);
    assert!(matches!(&r, Err(e @ dinof::Error::Start(_)) if e.to_string().contains("no flow for T_m = 0.5")), "{r:?}");
    let cancelled = model.log_likelihood(&good, 2, &o, &mut |done, _| done == 0);
    assert!(matches!(cancelled, Err(dinof::Error::Cancelled)), "{cancelled:?}");
    // No flow at all, flows without density graphs, a conditional model without labels.
    let plain = load(&fixture("gauss-vp"), 1, 0);
    let r = plain.log_likelihood(&good, 2, &o, &mut |_, _| true);
    assert!(matches!(&r, Err(dinof::Error::InvalidArgument(m)) if m.contains("no density graph")), "{r:?}");
    let mixture = load(&fixture("mixture-vp"), 1, 0);
    let r =
        mixture
            .log_likelihood(&good, 2, &LikelihoodOptions { start: Some(Start::Flow), ..o.clone() }, &mut |_, _| true);
    assert!(
        matches!(&r, Err(e @ dinof::Error::Start(_)) if e.to_string().contains("needs a bundle with a flow")),
        "{r:?}"
    );
    let class = load(&fixture("gauss-vp-class"), 1, 0);
    let r = class.log_likelihood(&good, 2, &LikelihoodOptions { labels: Some(vec![1]), ..o.clone() }, &mut |_, _| true);
    assert!(matches!(&r, Err(dinof::Error::InvalidArgument(m)) if m.contains("no density graph")), "{r:?}");
    let r =
        class.log_likelihood(&good, 2, &LikelihoodOptions { start: Some(Start::Prior), ..o.clone() }, &mut |_, _| true);
    assert!(matches!(&r, Err(dinof::Error::Label(dinof::LabelError::Missing { classes: 2 }))), "{r:?}");
    let r = class.log_likelihood(
        &good,
        2,
        &LikelihoodOptions { start: Some(Start::Prior), labels: Some(vec![0, 1]), ..o.clone() },
        &mut |_, _| true,
    );
    assert!(r.is_ok(), "{r:?}");
}

/// The central-difference step hardly matters on the analytic scores (smooth on the scale of σ(t); a Gaussian's is
/// linear, so only roundoff shows): the mean error moves by < 1e-3 bits/dim from 1e-1 to 1e-4 of σ(t). Prints the
/// table of docs/evaluation.md ("Likelihood").
#[test]
fn fd_step_trades_little_on_the_analytic_bundles() {
    for name in ["gauss-vp", "gauss-ve", "mixture-vp", "mixture-ve"] {
        let model = load(&fixture(name), 2, 0);
        let pixels = draw_pixels(&model, 64, 11);
        let exact = exact_bpd(&model, &pixels);
        let means: Vec<f64> = [1e-1, 1e-2, 1e-3, 1e-4]
            .iter()
            .map(|&fd| {
                let r = measure(
                    &model,
                    &pixels,
                    &LikelihoodOptions { fd_step: Some(fd), ..continuous(Start::Prior, None) },
                );
                let (mean, max, _) = errors(&r, &exact);
                println!("{name} prior, fd step {fd:e}: mean error {mean:+.2e}, max |error| {max:.2e} bits/dim");
                mean
            })
            .collect();
        let spread = means.iter().cloned().fold(f64::MIN, f64::max) - means.iter().cloned().fold(f64::MAX, f64::min);
        // Truncation O((δ/σ)²) is ≤ 1e-2 relative at fd 1e-1 and vanishes for the Gaussians (linear score); roundoff
        // u·|s|/δ grows to ~1e-4 relative at fd 1e-4 (δ ≥ 1e-4 of the range). Both ≪ 1e-3 bits/dim on the mean.
        assert!(spread < 1e-3, "{name}: mean error moves by {spread} over the fd steps");
    }
}
