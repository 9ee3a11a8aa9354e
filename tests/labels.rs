//! Class names and classifier-free guidance: the manifest's `labels` / `score.null_label` / `sampler.guidance` rules,
//! each label mistake as its own typed error, names through the CLI, and guidance against its closed form on
//! tests/fixtures/bundles/gauss-vp-class-cfg (classes "Low" / "High", means ∓0.4, std 0.2; the null label scores
//! N(0, 0.2²I), so (1 + w)·s_y − w·s_null is exactly the score of N((1 + w)·μ_y, 0.2²I)).

mod common;
use common::*;
use dinof::{Error, LabelError, LoadOptions, Model, SampleOptions, Start};
use serde_json::{json, Value};

const CFG: &str = "gauss-vp-class-cfg";

/// A copy of a fixture bundle whose manifest `edit` changes (checksums cover the ONNX files only).
fn edited(tag: &str, edit: impl FnOnce(&mut Value)) -> std::path::PathBuf {
    let src = fixture(CFG);
    let dir = std::env::temp_dir().join(format!("dinof-labels-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["score.onnx", "flow_t0.6.onnx"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(src.join("dinof.json")).unwrap()).unwrap();
    edit(&mut m);
    std::fs::write(dir.join("dinof.json"), serde_json::to_string_pretty(&m).unwrap()).unwrap();
    dir
}

fn manifest_error(tag: &str, edit: impl FnOnce(&mut Value)) -> String {
    let dir = edited(tag, edit);
    let r = Model::load(&dir, &LoadOptions::default());
    std::fs::remove_dir_all(&dir).ok();
    match r {
        Err(Error::InvalidManifest { msg, .. }) => msg,
        Err(e) => panic!("{tag}: expected an invalid-manifest error, got {e}"),
        Ok(_) => panic!("{tag}: loaded, but the manifest breaks a rule"),
    }
}

/// An edit of the manifest.
type Edit = Box<dyn FnOnce(&mut Value)>;

#[test]
fn manifest_label_rules_each_have_their_own_message() {
    let cases: Vec<(&str, Edit, &str)> = vec![
        ("count", Box::new(|m| m["labels"] = json!(["Low", "High", "Extra"])), "3 names for 2 classes"),
        ("empty", Box::new(|m| m["labels"] = json!(["Low", " "])), "labels[1] is empty"),
        ("duplicate", Box::new(|m| m["labels"] = json!(["Low", "low"])), "repeats labels[0]"),
        ("number", Box::new(|m| m["labels"] = json!(["Low", "7"])), "reads as a class index"),
        ("comma", Box::new(|m| m["labels"] = json!(["Low", "Hi,gh"])), "no ','"),
        ("not strings", Box::new(|m| m["labels"] = json!([1, 2])), "labels[0]: invalid type"),
        (
            "unconditional",
            Box::new(|m| {
                m["classes"] = json!(0);
                m["score"].as_object_mut().unwrap().remove("null_label");
                m["flows"][0]["conditional"] = json!(false);
            }),
            "labels given, but classes is 0",
        ),
        ("null label", Box::new(|m| m["score"]["null_label"] = json!(3)), "score.null_label must equal classes (2)"),
        (
            "guidance without null",
            Box::new(|m| {
                m["score"].as_object_mut().unwrap().remove("null_label");
                m["sampler"]["guidance"] = json!(1.0);
            }),
            "sampler.guidance needs a score that takes the null label",
        ),
        ("negative guidance", Box::new(|m| m["sampler"]["guidance"] = json!(-0.5)), "sampler.guidance must be ≥ 0"),
    ];
    for (tag, edit, needle) in cases {
        let msg = manifest_error(tag, edit);
        assert!(msg.contains(needle), "{tag}: {msg:?} lacks {needle:?}");
    }
}

#[test]
fn label_mistakes_are_typed_errors() {
    let cfg = load(&fixture(CFG), 1, 0);
    let info = cfg.info();
    assert_eq!((info.labels.as_slice(), info.guidance), (&["Low".to_string(), "High".to_string()][..], true));
    assert_eq!(cfg.label_index("high").unwrap(), 1);
    assert_eq!(cfg.label_index(" LOW ").unwrap(), 0);
    assert_eq!(cfg.label_index("1").unwrap(), 1);
    let valid = "0 Low, 1 High".to_string();
    assert!(matches!(cfg.label_index("Medium"), Err(Error::Label(LabelError::UnknownName { name, valid: v }))
            if name == "Medium" && v == valid));
    assert!(matches!(cfg.label_index("2"), Err(Error::Label(LabelError::OutOfRange { label: 2, classes: 2 }))));
    let e = cfg.label_index("Medium").unwrap_err().to_string();
    assert!(e.contains("no class named \"Medium\"") && e.contains("0 Low, 1 High"), "{e}");

    let mut out = vec![0f32; 4 * 16];
    let base = SampleOptions { n: 4, seed: Some(1), steps: Some(3), ..Default::default() };
    let err = |m: &Model, o: SampleOptions| m.sample(&o, &mut out.clone(), &mut |_| true).unwrap_err();
    assert!(matches!(
        err(&cfg, SampleOptions { labels: Some(vec![0, 5, 0, 1]), ..base.clone() }),
        Error::Label(LabelError::OutOfRange { label: 5, classes: 2 })
    ));
    assert!(matches!(
        err(&cfg, SampleOptions { labels: Some(vec![-1]), ..base.clone() }),
        Error::Label(LabelError::OutOfRange { label: -1, .. })
    ));
    assert!(matches!(
        err(&cfg, SampleOptions { labels: Some(vec![0, 1]), ..base.clone() }),
        Error::Label(LabelError::Count { given: 2, n: 4 })
    ));
    let e = err(&cfg, base.clone());
    assert!(
        matches!(e, Error::Label(LabelError::Missing { classes: 2 })) && e.to_string().contains("no labels given"),
        "{e}"
    );
    let plain = load(&fixture("gauss-vp"), 1, 0);
    assert!(matches!(
        err(&plain, SampleOptions { labels: Some(vec![0]), ..base.clone() }),
        Error::Label(LabelError::Unconditional)
    ));
    assert!(matches!(plain.label_index("0"), Err(Error::Label(LabelError::Unconditional))));
    let unnamed = load(&fixture("gauss-vp-class"), 1, 0);
    assert!(matches!(unnamed.label_index("High"), Err(Error::Label(LabelError::NoNames { .. }))));
    assert_eq!(unnamed.label_index("1").unwrap(), 1);
    // Guidance needs the null label.
    let e = err(&unnamed, SampleOptions { guidance: Some(1.0), ..base.clone() });
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("null label")), "{e}");
    let e = err(&cfg, SampleOptions { guidance: Some(-1.0), ..base.clone() });
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("guidance must be ≥ 0")), "{e}");
    cfg.sample(&SampleOptions { labels: Some(vec![1]), ..base }, &mut out, &mut |_| true)
        .expect("the base options with a label are fine");
}

fn run(model: &Model, label: i64, guidance: Option<f64>) -> (Vec<f32>, dinof::SampleReport) {
    let o = SampleOptions {
        n: 256,
        seed: Some(7),
        start: Some(Start::Prior),
        steps: Some(500),
        labels: Some(vec![label]),
        guidance,
        raw: true,
        ..Default::default()
    };
    let mut out = vec![0f32; o.n * model.image_len()];
    let r = model.sample(&o, &mut out, &mut |_| true).unwrap();
    (out, r)
}

#[test]
fn guidance_matches_its_closed_form_and_counts_both_evaluations() {
    let model = load(&fixture(CFG), 1, 0);
    let (plain, r0) = run(&model, 1, None);
    let (zero, rz) = run(&model, 1, Some(0.0));
    assert!(plain == zero, "guidance 0 must give the unguided images bit for bit");
    assert_eq!((r0.score_evals, rz.score_evals, r0.config.guidance), (500, 500, 0.0));
    for (label, mu) in [(1, 0.4), (0, -0.4)] {
        for w in [0.5, 1.5] {
            let (x, r) = run(&model, label, Some(w));
            assert_eq!(r.score_evals, 1000, "two score evaluations per step with guidance");
            assert_eq!(r.network_calls, 2 * r0.network_calls);
            assert_eq!(r.config.guidance, w);
            // 4096 values of std 0.2 (pixels independent: isotropic data, exact score): the mean's standard error is
            // 0.2/64 = 0.0031, so ±0.02 is 6.4 of them (5 plus ~0.004 for 500 Euler–Maruyama steps' bias, ≤ 1.2% of s
            // in sampler_stats); the variance is unchanged (0.04), its relative standard error √(2/4096) = 0.022, so
            // ±10% is 4.5 of them, or 4 after the 1.2% bias. A wrong guidance weight moves the mean by |Δw|·0.4.
            let (m, v) = mean_var(&x);
            let want = (1.0 + w) * mu;
            assert!((m - want).abs() < 0.02, "label {label}, w {w}: mean {m:.4}, closed form {want}");
            assert!((v / 0.04 - 1.0).abs() < 0.1, "label {label}, w {w}: variance {v:.4}, closed form 0.04");
        }
    }
    let (m, _) = mean_var(&plain);
    assert!((m - 0.4).abs() < 0.02, "unguided mean {m}"); // as above: 6.4 standard errors
}

#[test]
fn manifest_default_guidance_applies_and_can_be_switched_off() {
    let dir = edited("default-guidance", |m| m["sampler"]["guidance"] = json!(0.5));
    let model = load(&dir, 1, 0);
    let reference = load(&fixture(CFG), 1, 0);
    let o = SampleOptions { n: 3, seed: Some(2), steps: Some(20), labels: Some(vec![1]), ..Default::default() };
    let by_default = sample_raw(&model, &o);
    assert_eq!(by_default, sample_raw(&reference, &SampleOptions { guidance: Some(0.5), ..o.clone() }));
    assert_eq!(sample_raw(&model, &SampleOptions { guidance: Some(0.0), ..o.clone() }), sample_raw(&reference, &o));
    assert_eq!(model.resolve(&o).unwrap().guidance, 0.5);
    std::fs::remove_dir_all(&dir).ok();
}
