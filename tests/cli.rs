//! The `dinof` command line: outputs are well-formed (the PNG grid holds exactly the .npy images, tile by tile; the
//! shipped model's images are digits by the statistic of tests/common/digits.rs), errors are clear and exit non-zero.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

fn dinof(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dinof")).args(args).output().expect("run dinof");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dinof-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Reads a .npy written by the CLI: (shape, data).
fn read_npy(path: &Path) -> (String, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap().to_string();
    assert!(header.contains("'descr': '<f4'"), "{header}");
    assert_eq!((10 + hlen) % 64, 0);
    let data = bytes[10 + hlen..].chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    (header, data)
}

/// Decodes the grid and checks its layout against the images it shows: `cols` images per row, a 2-pixel black
/// border around each, image k's pixels quantised to 8 bits in tile (k / cols, k % cols).
fn check_grid(png_path: &Path, images: &[f32], n: usize, h: usize, w: usize, cols: usize) {
    let bytes = std::fs::read(png_path).unwrap();
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().expect("a PNG");
    let mut buf = vec![0u8; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.color_type, info.bit_depth), (png::ColorType::Grayscale, png::BitDepth::Eight));
    let rows = n.div_ceil(cols);
    let (gw, gh) = (cols * (w + 2) + 2, rows * (h + 2) + 2);
    assert_eq!((info.width as usize, info.height as usize), (gw, gh));
    let mut expected = vec![0u8; gw * gh];
    for (k, img) in images.chunks(h * w).enumerate() {
        let (ox, oy) = (2 + (k % cols) * (w + 2), 2 + (k / cols) * (h + 2));
        for y in 0..h {
            for x in 0..w {
                expected[(oy + y) * gw + ox + x] = (img[y * w + x] * 255.0).round() as u8;
            }
        }
    }
    let bad = expected.iter().zip(&buf).filter(|(a, b)| a != b).count();
    assert_eq!(bad, 0, "{bad} grid pixels differ from the images' (layout: {cols} per row, 2-pixel border)");
}

#[test]
fn sample_writes_png_grid_and_npy() {
    let bundle = fixture("gauss-vp");
    let png = tmp("grid.png");
    let (ok, _, err) = dinof(&[
        "sample",
        "--bundle",
        bundle.to_str().unwrap(),
        "--n",
        "6",
        "--seed",
        "3",
        "--steps",
        "20",
        "--out",
        png.to_str().unwrap(),
        "-q",
        "--backend",
        "tract",
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("seed 3") && err.contains("20 score + 1 flow evaluations"), "{err}");

    let npy = tmp("x.npy");
    // tract, like the library's default: the CLI's own default (auto) may pick ONNX Runtime, whose images agree
    // to 1e-3, not bitwise.
    let (ok, _, err) = dinof(&[
        "sample",
        "--bundle",
        bundle.to_str().unwrap(),
        "--n",
        "6",
        "--seed",
        "3",
        "--steps",
        "20",
        "--out",
        npy.to_str().unwrap(),
        "-q",
        "--backend",
        "tract",
    ]);
    assert!(ok, "{err}");
    let (header, data) = read_npy(&npy);
    assert!(header.contains("'shape': (6, 1, 4, 4)"), "{header}");
    assert_eq!(data.len(), 96);
    // Same seed and index → same values as the library gives (pixels = x·0.5 + 0.5 for VP).
    let model = load(&bundle, 1, 0);
    let raw = sample_raw(&model, &dinof::SampleOptions { n: 6, seed: Some(3), steps: Some(20), ..Default::default() });
    for (p, x) in data.iter().zip(&raw) {
        assert_eq!(*p, (x * 0.5 + 0.5).clamp(0.0, 1.0));
    }
    // 3 images per row (ceil(sqrt(6))), 2 rows: 20 × 14 pixels, each tile the image of the same seed.
    check_grid(&png, &data, 6, 4, 4, 3);
}

/// The shipped model through the CLI: the .npy holds digits (tests/common/digits.rs: at least 3 of 4 digit-like,
/// and their mean image correlates with the mean MNIST digit), and the PNG grid shows exactly those images.
#[test]
fn shipped_model_cli_writes_digits() {
    let bundle = shipped_model();
    let (npy, png) = (tmp("digits.npy"), tmp("digits.png"));
    for out in [&npy, &png] {
        let (ok, _, err) = dinof(&[
            "sample",
            "--bundle",
            bundle.to_str().unwrap(),
            "--n",
            "4",
            "--seed",
            "1",
            "--steps",
            "30",
            "--out",
            out.to_str().unwrap(),
            "-q",
        ]);
        assert!(ok, "{err}");
    }
    let (header, data) = read_npy(&npy);
    assert!(header.contains("'shape': (4, 1, 28, 28)"), "{header}");
    let (like, mean_corr) = digits::digit_count(&data);
    assert!(
        like >= 3 && mean_corr >= digits::SET_CORR_MIN,
        "{like} of 4 images digit-like, mean image correlation {mean_corr:.3}"
    );
    check_grid(&png, &data, 4, 28, 28, 2);
}

#[test]
fn info_and_check_describe_a_bundle() {
    let bundle = fixture("gauss-vp");
    let (ok, out, err) = dinof(&["info", bundle.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(
        out.contains("sde         vp") && out.contains("flow_t0.6.onnx") && out.contains("x:f32[B×1×4×4]"),
        "{out}"
    );
    let (ok, out, err) = dinof(&["check", bundle.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(
        out.contains("T_m 0.4") && out.contains("T_m 0.6") && out.contains("start prior") && out.contains("is valid"),
        "{out}"
    );
    // A conditional bundle with a null label: check and bench pick a class themselves, check also runs guidance.
    let cfg = fixture("gauss-vp-class-cfg");
    let (ok, out, err) = dinof(&["check", cfg.to_str().unwrap()]);
    assert!(ok && out.contains("ok  guidance 1") && out.contains("is valid"), "{out}{err}");
    let (ok, out, err) =
        dinof(&["bench", cfg.to_str().unwrap(), "--n", "2", "--steps", "2", "--sub-batches", "1", "--reps", "1"]);
    assert!(ok && out.contains("sub-batch   1"), "{out}{err}");
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

/// The digit statistic can fail: noise, blank and saturated images, and the (blurry) mean digit itself, score no
/// digit-like image.
#[test]
fn digit_statistic_rejects_noise_and_blur() {
    let mut state = 12345u32;
    let mut uniform = || {
        state = state.wrapping_mul(1664525).wrapping_add(1013904223);
        (state >> 8) as f32 / 16_777_216.0
    };
    let noise: Vec<f32> = (0..4 * digits::LEN).map(|_| uniform()).collect();
    // Clamped N(0.5, 0.5²) (Box–Muller): what an untrained or diverged VP sampler's pixels look like.
    let gauss: Vec<f32> = (0..4 * digits::LEN)
        .map(|_| {
            let (u, v) = (uniform().max(1e-7), uniform());
            (0.5 + 0.5 * (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()).clamp(0.0, 1.0)
        })
        .collect();
    let mean_digit: Vec<f32> = digits::reference().repeat(4);
    for (name, images) in [
        ("uniform", noise),
        ("gauss", gauss),
        ("black", vec![0.0; 4 * digits::LEN]),
        ("white", vec![1.0; 4 * digits::LEN]),
        ("mean digit", mean_digit),
    ] {
        let (like, _) = digits::digit_count(&images);
        assert_eq!(like, 0, "{name}: {like} of 4 digit-like");
    }
}

/// `dinof likelihood` reads what `dinof sample --out X.npy` writes (N×C×H×W) and N×H×W arrays, prints per-image and
/// mean figures or one JSON object, gives the same figures for the same seed whatever the batch size, and refuses
/// bad files with a message.
#[test]
fn likelihood_measures_sampled_npy_and_refuses_bad_files() {
    let bundle = fixture("gauss-vp-density");
    let b = bundle.to_str().unwrap();
    let npy = tmp("lik.npy");
    let n = npy.to_str().unwrap();
    let (ok, _, err) = dinof(&["sample", "--bundle", b, "--n", "4", "--seed", "2", "--steps", "20", "--out", n, "-q"]);
    assert!(ok, "{err}");
    let (ok, out, err) = dinof(&["likelihood", "--bundle", b, "--data", n, "--seed", "1", "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    let images = v["images"].as_array().unwrap();
    assert_eq!(
        (images.len(), v["n"].as_u64(), v["dequantize"].as_str(), v["start"].as_str(), v["probes"].as_u64()),
        (4, Some(4), Some("uniform"), Some("flow"), Some(1))
    );
    let mean = v["mean_bits_per_dim"].as_f64().unwrap();
    let per: Vec<f64> = images.iter().map(|i| i["bits_per_dim"].as_f64().unwrap()).collect();
    // The mean of 4 f64 figures, printed and parsed back exactly (shortest round-trip): ~4 roundings of 2⁻⁵³·|x|.
    assert!(
        (per.iter().sum::<f64>() / 4.0 - mean).abs() < 1e-12
            && mean.is_finite()
            && v["score_evals"].as_u64().unwrap() > 0,
        "{v}"
    );
    // Plain output, another batch size, the same seed: the same figures.
    let (ok, text, err) = dinof(&["likelihood", "--bundle", b, "--data", n, "--seed", "1", "--batch-size", "1", "-q"]);
    assert!(ok, "{err}");
    assert!(
        text.contains(&format!("{mean:.4} ±"))
            && text.contains("image     3:")
            && text.contains("score evaluations per image"),
        "{text}"
    );
    // N×H×W for one channel.
    let (_, data) = read_npy(&npy);
    let flat = tmp("lik-nhw.npy");
    dinof::output::write_npy(&flat, &data, &[4, 4, 4]).unwrap();
    let (ok, out, err) =
        dinof(&["likelihood", "--bundle", b, "--data", flat.to_str().unwrap(), "--seed", "1", "--json"]);
    assert!(ok, "{err}");
    let v2: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v2["mean_bits_per_dim"], v["mean_bits_per_dim"]);
    // Wrong shape, not an npy, out-of-range pixels: a message and a non-zero exit.
    let wrong = tmp("lik-wrong.npy");
    dinof::output::write_npy(&wrong, &data, &[4, 1, 2, 8]).unwrap();
    let (ok, _, err) = dinof(&["likelihood", "--bundle", b, "--data", wrong.to_str().unwrap()]);
    assert!(!ok && err.contains("does not match the model's images (1×4×4)"), "{err}");
    let (ok, _, err) = dinof(&["likelihood", "--bundle", b, "--data", bundle.join("dinof.json").to_str().unwrap()]);
    assert!(!ok && err.contains("not a .npy file"), "{err}");
    let outside = tmp("lik-outside.npy");
    dinof::output::write_npy(&outside, &data.iter().map(|p| p * 3.0 - 1.0).collect::<Vec<_>>(), &[4, 1, 4, 4]).unwrap();
    let (ok, _, err) = dinof(&["likelihood", "--bundle", b, "--data", outside.to_str().unwrap()]);
    assert!(!ok && err.contains("outside [0, 1]"), "{err}");
    let (ok, _, err) =
        dinof(&["likelihood", "--bundle", b, "--data", outside.to_str().unwrap(), "--dequantize", "none", "-q"]);
    assert!(ok, "{err}");
}

#[test]
fn labels_by_name_or_index_and_a_grid_with_one_row_per_class() {
    let bundle = fixture("gauss-vp-class-cfg");
    let b = bundle.to_str().unwrap();
    // Names (any case) and indices mixed: the same images as the indices alone (without --n: one per label).
    let (by_name, by_index) = (tmp("names.npy"), tmp("indices.npy"));
    let (ok, _, err) = dinof(&[
        "sample",
        "--bundle",
        b,
        "--n",
        "3",
        "--seed",
        "4",
        "--steps",
        "10",
        "--labels",
        "high,0,LOW",
        "--out",
        by_name.to_str().unwrap(),
        "-q",
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = dinof(&[
        "sample",
        "--bundle",
        b,
        "--seed",
        "4",
        "--steps",
        "10",
        "--labels",
        "1,0,0",
        "--out",
        by_index.to_str().unwrap(),
        "-q",
    ]);
    assert!(ok, "{err}");
    assert_eq!(read_npy(&by_name).1, read_npy(&by_index).1);
    // `all` with --per-label: n = classes × per-label, one row per class.
    let (grid, npy) = (tmp("classes.png"), tmp("classes.npy"));
    for out in [&grid, &npy] {
        let (ok, _, err) = dinof(&[
            "sample",
            "--bundle",
            b,
            "--seed",
            "4",
            "--steps",
            "10",
            "--labels",
            "all",
            "--per-label",
            "3",
            "--out",
            out.to_str().unwrap(),
            "-q",
        ]);
        assert!(ok, "{err}");
    }
    let (header, images) = read_npy(&npy);
    assert!(header.contains("(6, 1, 4, 4)"), "{header}");
    check_grid(&grid, &images, 6, 4, 4, 3);
    // Row means: class Low (pixels around 0.3) then High (around 0.7); 48 pixels of sd 0.1 have se 0.014, so the
    // cut at 0.45/0.55 is 10 se from each class and 10 se from a row of the other class.
    let row_mean = |r: usize| images[r * 48..(r + 1) * 48].iter().sum::<f32>() / 48.0;
    assert!(row_mean(0) < 0.45 && row_mean(1) > 0.55, "rows {} {}", row_mean(0), row_mean(1));
    // Each mistake its own message.
    let out = tmp("bad.npy");
    let o = out.to_str().unwrap();
    for (labels, needle) in [
        ("Medium", "no class named \"Medium\"; this model's classes are: 0 Low, 1 High"),
        ("2", "label 2 is out of range [0, 2)"),
    ] {
        let (ok, _, err) = dinof(&["sample", "--bundle", b, "--n", "2", "--labels", labels, "--out", o, "-q"]);
        assert!(!ok && err.contains(needle), "{labels}: {err}");
    }
    let (ok, _, err) = dinof(&["sample", "--bundle", b, "--n", "3", "--labels", "0,1", "--out", o, "-q"]);
    assert!(!ok && err.contains("2 labels for 3 images"), "{err}");
    let plain = fixture("gauss-vp");
    let (ok, _, err) =
        dinof(&["sample", "--bundle", plain.to_str().unwrap(), "--n", "2", "--labels", "0", "--out", o, "-q"]);
    assert!(!ok && err.contains("unconditional"), "{err}");
    let (ok, _, err) =
        dinof(&["sample", "--bundle", plain.to_str().unwrap(), "--n", "2", "--labels", "all", "--out", o, "-q"]);
    assert!(!ok && err.contains("unconditional"), "{err}");
    let (ok, _, err) = dinof(&["sample", "--bundle", b, "--n", "2", "--out", o, "-q"]);
    assert!(!ok && err.contains("no labels given") && err.contains("--labels with names (Low, High)"), "{err}");
    let (ok, _, err) = dinof(&[
        "sample",
        "--bundle",
        b,
        "--n",
        "2",
        "--labels",
        "high",
        "--guidance",
        "1",
        "--steps",
        "4",
        "--out",
        o,
    ]);
    assert!(ok && err.contains("guidance 1") && err.contains("8 score"), "{err}");
}
