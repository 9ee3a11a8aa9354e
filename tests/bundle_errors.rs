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
    assert!(
        matches!(&e, Error::NetworkMismatch { network, msg } if network == "score" && msg.contains("shape")),
        "{e}"
    );
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
        (
            "nothing to sample",
            SampleOptions {
                predictor: Some(dinof::Predictor::None),
                corrector: Some(dinof::Corrector::None),
                ..base.clone()
            },
        ),
        ("image index overflow", SampleOptions { first_index: u64::MAX - 1, ..base.clone() }),
    ];
    for (what, o) in cases {
        let e = model.sample(&o, &mut out, &mut |_| true).unwrap_err();
        // A T_m the bundle lacks is a start error (its own type since the Gaussian start, issue 19).
        assert!(matches!(e, Error::InvalidArgument(_) | Error::Start(_)), "{what}: {e}");
    }
    let e = model.sample(&base, &mut out[..10], &mut |_| true).unwrap_err();
    assert!(matches!(e, Error::BufferTooSmall { needed: 64, got: 10 }), "{e}");
    // Label mistakes have their own type (tests/labels.rs has every case).
    let e =
        model.sample(&SampleOptions { labels: Some(vec![0]), ..base.clone() }, &mut out, &mut |_| true).unwrap_err();
    assert!(matches!(e, Error::Label(dinof::LabelError::Unconditional)), "{e}");
    let class = load(&fixture("gauss-vp-class"), 1, 0);
    let e =
        class.sample(&SampleOptions { labels: Some(vec![2]), ..base.clone() }, &mut out, &mut |_| true).unwrap_err();
    assert!(
        matches!(&e, Error::Label(dinof::LabelError::OutOfRange { label: 2, classes: 2 }))
            && e.to_string().contains("out of range"),
        "{e}"
    );
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

// Hostile bundles (mods, user content): only regular files directly inside the bundle directory are read, names
// are plain names, the manifest is bounded. Each refusal has its own error.

/// A copy of gauss-vp in a fresh temporary directory, with `edit` applied to its manifest.
fn copied_bundle(tag: &str, edit: impl FnOnce(&mut serde_json::Value)) -> std::path::PathBuf {
    let src = fixture("gauss-vp");
    let dir = std::env::temp_dir().join(format!("dinof-hostile-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bundle")).unwrap();
    for f in ["score.onnx", "flow_t0.4.onnx", "flow_t0.6.onnx"] {
        std::fs::copy(src.join(f), dir.join("bundle").join(f)).unwrap();
    }
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("dinof.json")).unwrap()).unwrap();
    edit(&mut manifest);
    std::fs::write(dir.join("bundle/dinof.json"), serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
    dir.join("bundle")
}

#[test]
fn file_names_must_be_plain_names() {
    for (tag, name) in [
        ("dotdot", "../x/score.onnx"),
        ("absolute", "/etc/passwd"),
        ("parent", ".."),
        ("backslash", "a\\score.onnx"),
        ("drive", "C:score.onnx"),
    ] {
        let dir = copied_bundle(tag, |m| m["score"]["file"] = name.into());
        let e = Model::load(&dir, &LoadOptions::default()).unwrap_err();
        assert!(matches!(&e, Error::BadFileName { name: n, .. } if n == name), "{tag}: {e}");
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }
    let dir = copied_bundle("checksum-key", |m| m["checksums"]["../../etc/shadow"] = "0".repeat(64).into());
    let e = Model::load(&dir, &LoadOptions::default()).unwrap_err();
    assert!(matches!(&e, Error::BadFileName { name, .. } if name.contains("shadow")), "{e}");
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[cfg(unix)]
#[test]
fn symlinks_may_not_leave_the_bundle() {
    let dir = copied_bundle("symlink", |_| {});
    let outside = dir.parent().unwrap().join("score.onnx");
    std::fs::rename(dir.join("score.onnx"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("score.onnx")).unwrap();
    let e = Model::load(&dir, &LoadOptions::default()).unwrap_err();
    assert!(matches!(&e, Error::OutsideBundle { name, .. } if name == "score.onnx"), "{e}");
    // The same file linked from inside the bundle is fine.
    std::fs::remove_file(dir.join("score.onnx")).unwrap();
    std::fs::rename(&outside, dir.join("real.onnx")).unwrap();
    std::os::unix::fs::symlink("real.onnx", dir.join("score.onnx")).unwrap();
    Model::load(&dir, &LoadOptions::default()).expect("a symlink inside the bundle");
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[cfg(unix)]
fn mkfifo(path: &std::path::Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", path.display());
}

#[cfg(unix)]
#[test]
fn fifos_are_refused_without_hanging() {
    // As the manifest.
    let dir = copied_bundle("fifo-manifest", |_| {});
    std::fs::remove_file(dir.join("dinof.json")).unwrap();
    mkfifo(&dir.join("dinof.json"));
    let e = Model::load(&dir, &LoadOptions::default()).unwrap_err();
    assert!(matches!(&e, Error::NotRegularFile { kind, .. } if kind.contains("FIFO")), "{e}");
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    // As a network, and as a checksum key.
    let dir = copied_bundle("fifo-net", |_| {});
    std::fs::remove_file(dir.join("flow_t0.4.onnx")).unwrap();
    mkfifo(&dir.join("flow_t0.4.onnx"));
    assert!(matches!(Model::load(&dir, &LoadOptions::default()).unwrap_err(), Error::NotRegularFile { .. }));
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    let dir = copied_bundle("fifo-checksum", |m| m["checksums"]["pipe"] = "0".repeat(64).into());
    mkfifo(&dir.join("pipe"));
    assert!(matches!(Model::load(&dir, &LoadOptions::default()).unwrap_err(), Error::NotRegularFile { .. }));
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn manifest_size_is_capped() {
    let dir =
        copied_bundle("huge", |m| m["description"] = "x".repeat(dinof::bundle::MAX_MANIFEST_BYTES as usize).into());
    let e = Model::load(&dir, &LoadOptions::default()).unwrap_err();
    assert!(matches!(e, Error::ManifestTooLarge { limit: dinof::bundle::MAX_MANIFEST_BYTES, .. }), "{e}");
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn loading_from_memory_gives_the_same_model() {
    let dir = fixture("gauss-vp");
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    let (manifest, score, f4, f6) =
        (read("dinof.json"), read("score.onnx"), read("flow_t0.4.onnx"), read("flow_t0.6.onnx"));
    let blobs: Vec<(&str, &[u8])> = vec![("score.onnx", &score), ("flow_t0.4.onnx", &f4), ("flow_t0.6.onnx", &f6)];
    let mem = Model::load_from_memory(&manifest, &blobs, &LoadOptions::default()).unwrap();
    let o = SampleOptions { n: 2, seed: Some(4), steps: Some(5), ..Default::default() };
    assert_eq!(sample_raw(&mem, &o), sample_raw(&load(&dir, 0, 0), &o));
    let e = Model::load_from_memory(&manifest, &blobs[..2], &LoadOptions::default()).unwrap_err();
    assert!(matches!(&e, Error::MissingFile(p) if p.ends_with("flow_t0.6.onnx")), "{e}");
}

#[test]
fn huge_requests_are_out_of_memory_not_an_abort() {
    let model = load(&fixture("gauss-vp"), 1, 0);
    // 2^40 images stepped together: 4 buffers of 2^44 floats, more than any address space.
    let o = SampleOptions { n: 1 << 40, batch_size: usize::MAX, seed: Some(1), steps: Some(3), ..Default::default() };
    let e = model.prepare(&o).err().expect("the batch cannot be allocated");
    assert!(matches!(&e, Error::OutOfMemory { bytes, .. } if *bytes >= 1 << 46), "{e}");
}

#[test]
fn progress_fraction_covers_the_whole_batch() {
    let model = load(&fixture("gauss-vp"), 1, 0);
    let o = SampleOptions { n: 4, seed: Some(1), steps: Some(10), ..Default::default() };
    let mut out = vec![0f32; 4 * model.image_len()];
    let mut last = 0.0;
    model
        .sample(&o, &mut out, &mut |p| {
            assert!(p.fraction() >= last);
            last = p.fraction();
            true
        })
        .unwrap();
    // A ratio of counts, exact but for one rounding: the last report is 11/11 = 1 (flow + 10 steps); one call short
    // (10/11 = 0.91) or the old bug's 1/n = 0.25 fail the 0.99 cut.
    assert!(last > 0.99 && last <= 1.0, "one batch of 4 images ends at {last}");
}

#[test]
fn a_cancel_flag_stops_before_the_next_network_call() {
    let model = load(&fixture("gauss-vp"), 1, 0);
    // Steps of 1000 corrector calls each; the flag is raised at the report after step 1 (the prior start has no
    // flow report), so step 2 must stop at its first network call instead of running all of them.
    let o = SampleOptions {
        n: 1,
        seed: Some(1),
        start: Some(dinof::Start::Prior),
        steps: Some(2),
        corrector: Some(dinof::Corrector::Langevin),
        corrector_steps: Some(1000),
        ..Default::default()
    };
    let mut p = model.prepare(&o).unwrap();
    let flag = std::sync::atomic::AtomicBool::new(false);
    let mut out = vec![1f32; model.image_len()];
    let mut reports = 0;
    let e = model
        .run(
            &mut p,
            dinof::Output::F32(&mut out),
            &mut |_| {
                reports += 1;
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
                true
            },
            Some(&flag),
        )
        .unwrap_err();
    assert!(matches!(e, Error::Cancelled), "{e}");
    assert_eq!(reports, 1, "step 2 did not finish after the cancel");
    assert!(out.iter().all(|&v| v == 0.0), "a failed run leaves zeros, not partial images");
}

/// `image.alpha`: straight (the default, also when written out) loads; premultiplied is for RGBA models only; an
/// unknown value is a manifest error naming the valid ones.
#[test]
fn alpha_mode_is_checked() {
    let dir = copied_bundle("alpha-straight", |m| m["image"]["alpha"] = "straight".into());
    assert!(Model::load(&dir, &LoadOptions::default()).is_ok());
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    for (tag, value, want) in [
        ("alpha-premul", "premultiplied", "alpha 'premultiplied' needs 4 channels (RGBA), got 1"),
        ("alpha-unknown", "linear", "premultiplied"),
    ] {
        let dir = copied_bundle(tag, |m| m["image"]["alpha"] = value.into());
        let e = Model::load(&dir, &LoadOptions::default()).unwrap_err();
        assert!(e.to_string().contains(want), "{tag}: {e}");
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }
}
