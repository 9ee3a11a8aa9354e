//! The `dinof` command line: outputs are well-formed, errors are clear and exit non-zero.

mod common;
use common::*;
use std::process::Command;

fn dinof(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dinof")).args(args).output().expect("run dinof");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dinof-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn sample_writes_png_grid_and_npy() {
    let bundle = fixture("gauss-vp");
    let png = tmp("grid.png");
    let (ok, _, err) = dinof(&["sample", "--bundle", bundle.to_str().unwrap(), "--n", "6", "--seed", "3", "--steps", "20", "--out", png.to_str().unwrap(), "-q"]);
    assert!(ok, "{err}");
    assert!(err.contains("seed 3") && err.contains("20 score + 1 flow evaluations"), "{err}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // 3 images per row (ceil(sqrt(6))), 2 rows, 4x4 images with a 2-pixel border: 20 x 14.
    assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 20);
    assert_eq!(u32::from_be_bytes(bytes[20..24].try_into().unwrap()), 14);

    let npy = tmp("x.npy");
    let (ok, _, err) = dinof(&["sample", "--bundle", bundle.to_str().unwrap(), "--n", "6", "--seed", "3", "--steps", "20", "--out", npy.to_str().unwrap(), "-q"]);
    assert!(ok, "{err}");
    let bytes = std::fs::read(&npy).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
    assert!(header.contains("'descr': '<f4'") && header.contains("'shape': (6, 1, 4, 4)"), "{header}");
    assert_eq!((10 + hlen) % 64, 0);
    let data: Vec<f32> = bytes[10 + hlen..].chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(data.len(), 96);
    assert!(data.iter().all(|v| (0.0..=1.0).contains(v)));
    // Same seed and index → same values as the library gives (pixels = x·0.5 + 0.5 for VP).
    let model = load(&bundle, 1, 0);
    let raw = sample_raw(&model, &dinof::SampleOptions { n: 6, seed: Some(3), steps: Some(20), ..Default::default() });
    for (p, x) in data.iter().zip(&raw) {
        assert_eq!(*p, (x * 0.5 + 0.5).clamp(0.0, 1.0));
    }
}

#[test]
fn info_and_check_describe_a_bundle() {
    let bundle = fixture("gauss-vp");
    let (ok, out, err) = dinof(&["info", bundle.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("sde         vp") && out.contains("flow_t0.6.onnx") && out.contains("x:f32[B×1×4×4]"), "{out}");
    let (ok, out, err) = dinof(&["check", bundle.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("T_m 0.4") && out.contains("T_m 0.6") && out.contains("start prior") && out.contains("is valid"), "{out}");
}

#[test]
fn errors_exit_nonzero_with_a_message() {
    let cases: &[(&[&str], &str)] = &[
        (&["check", "BUNDLE:bad-version"], "unsupported bundle format version 99"),
        (&["info", "BUNDLE:bad-kind"], "sde.kind"),
        (&["sample", "--bundle", "BUNDLE:gauss-vp", "--out", "x.gif"], ".png or .npy"),
        (&["sample", "--bundle", "BUNDLE:gauss-vp", "--out", "OUT", "--t-m", "0.5"], "no flow for T_m = 0.5"),
        (&["sample", "--bundle", "BUNDLE:gauss-vp", "--out", "OUT", "--predictor", "heun"], "unknown predictor"),
        (&["sample", "--bundle", "BUNDLE:bad-nan", "--out", "OUT", "--steps", "3"], "non-finite"),
    ];
    let out = tmp("err.png");
    for (args, want) in cases {
        let args: Vec<String> = args
            .iter()
            .map(|a| match a.strip_prefix("BUNDLE:") {
                Some(b) => fixture(b).to_string_lossy().into_owned(),
                None if *a == "OUT" => out.to_string_lossy().into_owned(),
                None => a.to_string(),
            })
            .collect();
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let (ok, _, err) = dinof(&refs);
        assert!(!ok, "{args:?} succeeded");
        assert!(err.contains(want), "{args:?}: stderr {err:?} lacks {want:?}");
    }
}
