//! Same (seed, image index) → same image, byte for byte, whatever the batch size, chunking, thread count or call
//! order, at the default sub-batch of 1; a larger sub-batch is close (1e-5), not bitwise, on convolutional networks.

mod common;
use common::*;
use dinof::{Corrector, Method, Predictor, SampleOptions, Start};

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Samples 64 images with the given batch size and returns them.
fn images(model: &dinof::Model, base: &SampleOptions, batch_size: usize) -> Vec<u32> {
    bits(&sample_raw(model, &SampleOptions { batch_size, ..base.clone() }))
}

fn check_invariance(bundle: &std::path::Path, base: SampleOptions, backends: &[(usize, usize)]) {
    let model = load(bundle, 1, 1);
    let dim = model.image_len();
    let reference = images(&model, &base, 64);
    for batch_size in [1, 7] {
        assert_eq!(images(&model, &base, batch_size), reference, "batch size {batch_size} changed the images");
    }
    // Split the job: images 20.. generated alone with first_index 20.
    let tail = bits(&sample_raw(&model, &SampleOptions { n: base.n - 20, first_index: 20, batch_size: 5, ..base.clone() }));
    assert_eq!(tail, reference[20 * dim..], "first_index chunking changed the images");
    // More threads and other sub-batch sizes inside the backend.
    for &(threads, sub_batch) in backends {
        let m = load(bundle, threads, sub_batch);
        assert_eq!(images(&m, &base, 64), reference, "threads {threads}, sub-batch {sub_batch} changed the images");
    }
    // Different seeds differ.
    let other = images(&model, &SampleOptions { seed: Some(base.seed.unwrap() + 1), ..base.clone() }, 64);
    assert_ne!(other, reference);
}

#[test]
fn analytic_bundle_batch_size_invariance_all_samplers() {
    for (method, predictor, corrector) in [
        (Method::Sde, Predictor::EulerMaruyama, Corrector::Langevin),
        (Method::Sde, Predictor::Ancestral, Corrector::None),
        (Method::Ode, Predictor::None, Corrector::None),
    ] {
        let base = SampleOptions {
            n: 64, seed: Some(42), steps: Some(30), method: Some(method), predictor: Some(predictor),
            corrector: Some(corrector), start: Some(Start::Flow), ..Default::default()
        };
        // Elementwise graphs give the same bits at any sub-batch size.
        check_invariance(&fixture("gauss-vp"), base, &[(2, 1), (2, 4), (1, 16)]);
    }
}

#[test]
fn shipped_model_batch_size_invariance() {
    let dir = shipped_model();
    if !dir.join("dinof.json").exists() {
        panic!("the shipped model is missing at {}", dir.display());
    }
    let base = SampleOptions { n: 64, seed: Some(7), steps: Some(3), ..Default::default() };
    // tract's convolutions are not bit-identical across batch sizes (measured: sub-batch 4 differs from 1 in the
    // last bits), so the backend's default sub-batch of 1 is what makes this guarantee hold; threads are free.
    check_invariance(&dir, base, &[(2, 1)]);
}

/// A larger sub-batch is a throughput option documented as "equal to ~1e-5, not bitwise" (README, Guarantees):
/// checked to that tolerance only.
#[test]
fn larger_sub_batch_is_close_not_bitwise() {
    let dir = shipped_model();
    let base = SampleOptions { n: 8, seed: Some(7), steps: Some(3), ..Default::default() };
    let reference = sample_raw(&load(&dir, 2, 1), &base);
    let batched = load(&dir, 2, 4);
    assert_eq!(batched.info().backend.sub_batch, 4);
    let got = sample_raw(&batched, &base);
    let d = reference.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(d <= 1e-5, "sub-batch 4 differs from sub-batch 1 by {d:e}");
}

#[test]
fn random_seed_is_reported_and_reproduces() {
    let model = load(&fixture("gauss-vp"), 1, 0);
    let o = SampleOptions { n: 2, seed: None, steps: Some(5), raw: true, ..Default::default() };
    let mut a = vec![0f32; 2 * model.image_len()];
    let r = model.sample(&o, &mut a, &mut |_| true).unwrap();
    let mut b = vec![0f32; a.len()];
    model.sample(&SampleOptions { seed: Some(r.seed), ..o }, &mut b, &mut |_| true).unwrap();
    assert_eq!(bits(&a), bits(&b));
}

#[test]
fn nfe_counts_are_honest() {
    let model = load(&fixture("gauss-ve"), 1, 0);
    let mut out = vec![0f32; model.image_len()];
    let mut run = |o: SampleOptions| model.sample(&SampleOptions { n: 1, seed: Some(1), ..o }, &mut out, &mut |_| true).unwrap();
    let r = run(SampleOptions { steps: Some(10), predictor: Some(Predictor::ReverseDiffusion), corrector: Some(Corrector::Langevin), ..Default::default() });
    assert_eq!((r.score_evals, r.flow_evals, r.network_calls), (20, 1, 21));
    let r = run(SampleOptions { steps: Some(10), corrector: Some(Corrector::None), start: Some(Start::Prior), ..Default::default() });
    assert_eq!((r.score_evals, r.flow_evals, r.network_calls), (10, 0, 10));
    let r = run(SampleOptions { steps: Some(10), method: Some(Method::Ode), ..Default::default() });
    // Heun: two evaluations per step, plus the final Tweedie denoising.
    assert_eq!((r.score_evals, r.network_calls), (21, 22));
}
