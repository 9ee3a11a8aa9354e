//! The shipped class-conditional Fashion-MNIST model (VE SDE, class-conditional flows at T_m 0.5 and 0.6, label
//! dropout for guidance) through the Rust API and the CLI: short conditional runs whose images are the requested
//! classes (tests/common/fashion.rs — the same images fail the statistic with every label moved by one), label
//! handling with each mistake its own typed error, and guidance counted in the NFE. The C twin is
//! tests/c/test_fashion.c.

mod common;

use common::fashion::{class_hits, CLASSES};
use common::{fashion_model, load, sample_raw, shipped_model};
use dinof::{Corrector, Error, LabelError, Predictor, SampleOptions};

const PER_CLASS: usize = 3;
/// Reverse diffusion + Langevin (the bundle's default) at 40 steps: 80 score evaluations per image.
const STEPS: usize = 40;
/// Hits of 30: real test images score 21 at the median (≥ 15 in 99% of draws); the shipped model's images 17 at this
/// seed and step count; images of another class land on the requested one ~10% of the time (3 of 30).
/// The bounds sit between the two hypotheses rather than on a printed figure: the model's per-image hit rate is
/// ~0.57 (17/30, sd √(30·0.57·0.43) = 2.7) and a wrong label's ~0.1 (3/30, sd 1.6); 12 is 1.8 sd under the first
/// and 5.6 sd over the second, 6 is 1.9 sd over the second and 4 sd under the first. The seed is fixed, and another
/// CPU moves these images by ~1e-5 in x (tests/determinism.rs), so a count changes only for an image within ~1e-5
/// of the statistic's decision boundary: the margins are against retraining and reseeding, not against CPUs.
const MIN_HITS: usize = 12;
const MAX_WRONG_HITS: usize = 6;

fn pixels(model: &dinof::Model, o: &SampleOptions) -> (Vec<f32>, dinof::SampleReport) {
    let mut out = vec![0f32; o.n * model.image_len()];
    let report = model.sample(o, &mut out, &mut |_| true).unwrap_or_else(|e| panic!("sampling {o:?}: {e}"));
    (out, report)
}

#[test]
fn each_class_is_drawn_when_asked_for() {
    let model = load(&fashion_model(), 2, 0);
    let info = model.info();
    assert_eq!((info.classes, info.labels.len(), info.guidance), (10, 10, true));
    let requested: Vec<i64> = (0..CLASSES * PER_CLASS).map(|k| (k / PER_CLASS) as i64).collect();
    // The bundle samples with guidance 1 by default; without it here (half the cost, and the harder case).
    assert_eq!(model.resolve(&SampleOptions { labels: Some(vec![0]), ..Default::default() }).unwrap().guidance, 1.0);
    let o = SampleOptions {
        n: requested.len(),
        seed: Some(2026),
        steps: Some(STEPS),
        labels: Some(requested.clone()),
        guidance: Some(0.0),
        ..Default::default()
    };
    let (images, r) = pixels(&model, &o);
    assert_eq!(
        (r.config.predictor, r.config.corrector, r.score_evals, r.flow_evals),
        (Predictor::ReverseDiffusion, Corrector::Langevin, 2 * STEPS, 1)
    );
    let hits = class_hits(&images, &requested);
    let moved: Vec<i64> = requested.iter().map(|&y| (y + 1) % CLASSES as i64).collect();
    let wrong = class_hits(&images, &moved);
    eprintln!("{hits} of {} images are their class, {wrong} the next class", requested.len());
    assert!(hits >= MIN_HITS && wrong <= MAX_WRONG_HITS, "{hits} hits, {wrong} with the labels moved by one");
}

#[test]
fn label_mistakes_on_the_real_model_are_typed_errors() {
    let model = load(&fashion_model(), 1, 0);
    assert_eq!(model.label_index("sneaker").unwrap(), 7);
    assert_eq!(model.label_index(" ANKLE BOOT ").unwrap(), 9);
    assert_eq!(model.label_index("T-shirt/top").unwrap(), 0);
    let e = model.label_index("Shoe").unwrap_err();
    assert!(
        matches!(&e, Error::Label(LabelError::UnknownName { name, valid })
            if name == "Shoe" && valid.contains("7 Sneaker")),
        "{e}"
    );
    assert!(matches!(model.label_index("10"), Err(Error::Label(LabelError::OutOfRange { label: 10, classes: 10 }))));

    let mut out = vec![0f32; 3 * model.image_len()];
    let base = SampleOptions { n: 3, seed: Some(1), steps: Some(2), ..Default::default() };
    let mut err = |o: SampleOptions| model.sample(&o, &mut out, &mut |_| true).unwrap_err();
    assert!(matches!(
        err(SampleOptions { labels: Some(vec![0, 10, 1]), ..base.clone() }),
        Error::Label(LabelError::OutOfRange { label: 10, classes: 10 })
    ));
    assert!(matches!(
        err(SampleOptions { labels: Some(vec![-1]), ..base.clone() }),
        Error::Label(LabelError::OutOfRange { label: -1, .. })
    ));
    assert!(matches!(
        err(SampleOptions { labels: Some(vec![0, 1]), ..base.clone() }),
        Error::Label(LabelError::Count { given: 2, n: 3 })
    ));
    let e = err(base.clone());
    assert!(
        matches!(e, Error::Label(LabelError::Missing { classes: 10 })) && e.to_string().contains("class-conditional"),
        "{e}"
    );
    let mnist = load(&shipped_model(), 1, 0);
    let mut out = vec![0f32; 3 * mnist.image_len()];
    let e =
        mnist.sample(&SampleOptions { labels: Some(vec![7]), ..base.clone() }, &mut out, &mut |_| true).unwrap_err();
    assert!(matches!(e, Error::Label(LabelError::Unconditional)), "{e}");
    assert!(matches!(mnist.label_index("Sneaker"), Err(Error::Label(LabelError::Unconditional))));
}

#[test]
fn guidance_costs_a_second_evaluation_per_step() {
    let model = load(&fashion_model(), 1, 0);
    let o = SampleOptions {
        n: 2,
        seed: Some(5),
        steps: Some(3),
        labels: Some(vec![8]),
        guidance: Some(0.0),
        ..Default::default()
    };
    let (plain, rp) = pixels(&model, &o);
    let (guided, rg) = pixels(&model, &SampleOptions { guidance: Some(2.0), ..o.clone() });
    assert_eq!((rg.score_evals, rg.config.guidance, rp.config.guidance), (2 * rp.score_evals, 2.0, 0.0));
    assert_ne!(plain, guided);
    // Both class-conditional flows run, and each gives its own start.
    let a = sample_raw(&model, &SampleOptions { t_m: Some(0.5), ..o.clone() });
    let b = sample_raw(&model, &SampleOptions { t_m: Some(0.6), ..o });
    assert!(a.iter().chain(&b).all(|v| v.is_finite()) && a != b);
}

#[test]
fn cli_takes_class_names_and_writes_one_row_per_class() {
    let dir = fashion_model();
    let out = std::env::temp_dir().join(format!("dinof-fashion-cli-{}.npy", std::process::id()));
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_dinof"))
        .args([
            "sample",
            "--bundle",
            dir.to_str().unwrap(),
            "--labels",
            "sneaker,Trouser",
            "--per-label",
            "2",
            "--seed",
            "3",
            "--steps",
            "2",
        ])
        .args(["--backend", "tract"]) // the library's default, which `load` uses (the CLI's own default is auto)
        .args(["--out", out.to_str().unwrap(), "-q"])
        .output()
        .expect("run dinof");
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let model = load(&dir, 1, 0);
    let (want, _) = pixels(
        &model,
        &SampleOptions { n: 4, seed: Some(3), steps: Some(2), labels: Some(vec![7, 7, 1, 1]), ..Default::default() },
    );
    let got = dinof::npy::read_npy(&out).expect("read the CLI's .npy");
    let _ = std::fs::remove_file(&out);
    assert_eq!(got.data, want, "the CLI's images are the library's for the same labels");

    let st = std::process::Command::new(env!("CARGO_BIN_EXE_dinof"))
        .args([
            "sample",
            "--bundle",
            dir.to_str().unwrap(),
            "--n",
            "2",
            "--labels",
            "shoe",
            "--out",
            out.to_str().unwrap(),
            "-q",
        ])
        .output()
        .expect("run dinof");
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(!st.status.success() && err.contains("no class named \"shoe\"") && err.contains("9 Ankle boot"), "{err}");
}
