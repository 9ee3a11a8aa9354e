//! Every way a bundle can be wrong gives its own, clear error (tests/fixtures/bundles/bad-*).

mod common;
use common::*;
use dinof::{Error, LoadOptions, Model, SampleOptions};

fn load_err(name: &str) -> Error {
    match Model::load(fixture(name), &LoadOptions::default()) {
        Ok(_) => panic!("{name} loaded, but it is broken"),
        Err(e) => e,
    }
}

#[test]
fn unknown_format_version() {
    let e = load_err("bad-version");
    assert!(matches!(e, Error::UnsupportedVersion { found: 99, supported: 1 }), "{e}");
}

#[test]
fn missing_flow_file() {
    let e = load_err("bad-missing-file");
    assert!(matches!(&e, Error::MissingFile(p) if p.to_string_lossy().contains("flow")), "{e}");
}

#[test]
fn missing_directory_and_manifest() {
    let e = Model::load(fixture("no-such-bundle"), &LoadOptions::default()).unwrap_err();
    assert!(matches!(e, Error::MissingFile(_)), "{e}");
    let e = Model::load(fixture(""), &LoadOptions::default()).unwrap_err();
    assert!(matches!(&e, Error::MissingFile(p) if p.ends_with("dinof.json")), "{e}");
}

#[test]
fn network_shape_differs_from_manifest() {
    let e = load_err("bad-shape");
    assert!(matches!(&e, Error::NetworkMismatch { network, msg } if network == "score" && msg.contains("shape")), "{e}");
}

#[test]
fn output_name_differs_from_contract() {
    let e = load_err("bad-output-name");
    assert!(matches!(&e, Error::NetworkMismatch { msg, .. } if msg.contains("missing output 'score'")), "{e}");
}

fn manifest_msg(name: &str) -> String {
    match load_err(name) {
        Error::InvalidManifest { msg, .. } => msg,
        e => panic!("{name}: expected an invalid-manifest error, got {e}"),
    }
}

#[test]
fn t_m_outside_unit_interval() {
    let m = manifest_msg("bad-tm");
    assert!(m.contains("t_m") && m.contains("1.5"), "{m}");
}

#[test]
fn eps_not_below_t_m() {
    let m = manifest_msg("bad-eps");
    assert!(m.contains("eps"), "{m}");
}

#[test]
fn negative_beta() {
    let m = manifest_msg("bad-negative-beta");
    assert!(m.contains("negative"), "{m}");
}

#[test]
fn unknown_sde_kind() {
    let m = manifest_msg("bad-kind");
    assert!(m.contains("sde.kind") && m.contains("foo"), "{m}");
}

#[test]
fn truncated_json() {
    let m = manifest_msg("bad-json");
    assert!(m.contains("not valid JSON"), "{m}");
}

#[test]
fn unknown_top_level_field() {
    let m = manifest_msg("bad-unknown-field");
    assert!(m.contains("unknown field"), "{m}");
}

#[test]
fn corrupt_onnx_file() {
    let e = load_err("bad-corrupt-onnx");
    assert!(matches!(e, Error::InvalidOnnx { .. }), "{e}");
}

#[test]
fn checksum_mismatch() {
    let e = load_err("bad-checksum");
    assert!(matches!(e, Error::ChecksumMismatch { .. }), "{e}");
}

#[test]
fn nan_from_network_stops_the_run() {
    let model = Model::load(fixture("bad-nan"), &LoadOptions::default()).expect("a NaN network still loads");
    let o = SampleOptions { n: 2, seed: Some(1), steps: Some(5), ..Default::default() };
    let mut out = vec![0f32; 2 * model.image_len()];
    let e = model.sample(&o, &mut out, &mut |_| true).unwrap_err();
    assert!(matches!(&e, Error::NonFinite { network, .. } if network == "score"), "{e}");
}

#[test]
fn bad_sampling_options_are_refused() {
    let model = load(&fixture("gauss-subvp"), 1, 0);
    let mut out = vec![0f32; 4 * model.image_len()];
    let base = SampleOptions { n: 4, seed: Some(1), steps: Some(3), ..Default::default() };
    let cases: Vec<(&str, SampleOptions)> = vec![
        ("unknown T_m", SampleOptions { t_m: Some(0.5), ..base.clone() }),
        ("zero steps", SampleOptions { steps: Some(0), ..base.clone() }),
        ("zero temperature", SampleOptions { temperature: Some(0.0), ..base.clone() }),
        ("NaN snr", SampleOptions { snr: Some(f64::NAN), ..base.clone() }),
        ("ancestral on sub-VP", SampleOptions { predictor: Some(dinof::Predictor::Ancestral), ..base.clone() }),
        ("nothing to sample", SampleOptions { predictor: Some(dinof::Predictor::None), corrector: Some(dinof::Corrector::None), ..base.clone() }),
        ("labels on an unconditional model", SampleOptions { labels: Some(vec![0]), ..base.clone() }),
        ("image index overflow", SampleOptions { first_index: u64::MAX - 1, ..base.clone() }),
    ];
    for (what, o) in cases {
        let e = model.sample(&o, &mut out, &mut |_| true).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{what}: {e}");
    }
    let e = model.sample(&base, &mut out[..10], &mut |_| true).unwrap_err();
    assert!(matches!(e, Error::BufferTooSmall { needed: 64, got: 10 }), "{e}");
    let class = load(&fixture("gauss-vp-class"), 1, 0);
    let e = class.sample(&SampleOptions { labels: Some(vec![2]), ..base.clone() }, &mut out, &mut |_| true).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("out of range")), "{e}");
}

#[test]
fn cancellation_stops_promptly_and_model_stays_usable() {
    let model = load(&fixture("gauss-vp"), 1, 0);
    let o = SampleOptions { n: 3, seed: Some(1), steps: Some(200), ..Default::default() };
    let mut out = vec![0f32; 3 * model.image_len()];
    let mut calls = 0;
    let e = model
        .sample(&o, &mut out, &mut |p| {
            calls += 1;
            p.step < 10
        })
        .unwrap_err();
    assert!(matches!(e, Error::Cancelled), "{e}");
    assert!(calls <= 12, "observer called {calls} times after asking to stop");
    model.sample(&o, &mut out, &mut |_| true).expect("the model works after a cancelled run");
}
