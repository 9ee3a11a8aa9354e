//! The ONNX Runtime backend (feature `ort`): the same network outputs and images as tract, and the documented
//! error — never a panic or a hang — for a missing or wrong library and an unavailable execution provider.
//!
//! The library comes from ORT_DYLIB_PATH: `export ORT_DYLIB_PATH="$(bash scripts/fetch-onnxruntime.sh)"` (the
//! pinned release; run again with `bash scripts/fetch-onnxruntime.sh --oldest` for the oldest tested). Without it
//! every test here fails, saying so.
//!
//! Tolerances (docs/testing.md, "How tolerances are derived"). Two backends run the same f32 graph with other
//! kernels: every dot product Σ wᵢxᵢ of length K is summed in another order (and exp/tanh/sigmoid come from other
//! polynomial approximations, a few ulp each). Two orders differ by at most 2γ_K·Σ|wᵢxᵢ|, γ_K = K·u/(1 − K·u),
//! u = 2⁻²⁴, whether or not the CPU fuses multiply-adds (an FMA removes roundings, it adds none); typically by
//! ~2√K·u (roundings of random sign). K ≤ 1152 in the shipped score network (~2e-6 typical, 1.4e-4 worst per
//! layer), K = 1 in the analytic bundles' elementwise graphs.
//! - NET_TOL, one network call: 1e-4·max(1, |tract value|), i.e. relative where a score is large (it reaches ~100
//!   near t = eps, where 1e-4 absolute would ask for more than two summation orders agree on). ~56 GEMM layers in
//!   series at ~2e-6 each, adding at worst linearly: ≤ ~1e-4; the analytic graphs' few-ulp kernels are 100× below.
//! - IMAGE_TOL, a whole sampling run: 1e-3 in SDE space = an eighth of one 8-bit level (Q = 2/255 in x at
//!   pixel_scale 0.5, the scale of every bundle here), so the two backends' 8-bit images differ by at most one
//!   level, and only at values within 1e-3 of a rounding boundary. Up to 50 steps feed each call's difference back,
//!   each step carrying it on with a factor ≲ 1 (the reverse SDE is stable; linear for the analytic bundles): on
//!   the analytic bundles a few ulp per call (~1e-6·|x|) add up to ≤ ~5e-5 even if nothing cancelled; on the
//!   trained models the per-call ~1e-5 of the shipped score network gives the 1e-5 scale that tests/determinism.rs
//!   derives, ≥ 30× below the bound.
//! - SUB_BATCH_TOL: the same bound for the same reason (other kernels, other blocking), on the same backend; see
//!   tests/determinism.rs, where the bound is derived for the shipped model.
#![cfg(feature = "ort")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use dinof::backend::{self, BackendKind, DType, ExecutionProvider, Input, NetSpec, OrtOptions};
use dinof::model::{flow_spec, score_spec};
use dinof::{Bundle, Error, LoadOptions, Model, SampleOptions};

const NET_TOL: f32 = 1e-4;
const IMAGE_TOL: f32 = 1e-3;
/// Same backend, same images, other sub-batch (docs/onnxruntime.md, "Reproducibility"): an eighth of an 8-bit level,
/// as IMAGE_TOL (it was 1e-5, a figure one CPU printed; AVX2 machines print 1.4e-5 for tract's equivalent).
const SUB_BATCH_TOL: f32 = IMAGE_TOL;
const ANALYTIC: [&str; 5] = ["gauss-vp", "gauss-ve", "mixture-vp", "gauss-vp-class", "gauss-vp-class-cfg"];

/// The library under test; a missing ORT_DYLIB_PATH fails the test (a skipped backend must not look like a pass).
fn ort_lib() -> PathBuf {
    match std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "ORT_DYLIB_PATH is not set: these tests need libonnxruntime. Run\n    \
             export ORT_DYLIB_PATH=\"$(bash scripts/fetch-onnxruntime.sh)\"\n\
             (scripts/test.sh does this), then `cargo test --features ort`."
        ),
    }
}

fn ort_options(ep: ExecutionProvider, allow_fallback: bool) -> LoadOptions {
    LoadOptions {
        backend: BackendKind::Ort,
        threads: 2,
        ort: OrtOptions { library_path: Some(ort_lib()), execution_provider: ep, allow_fallback, ..Default::default() },
        ..Default::default()
    }
}

fn tract_options() -> LoadOptions {
    LoadOptions { threads: 2, ..Default::default() }
}

fn load_ort(dir: &Path) -> Model {
    Model::load(dir, &ort_options(ExecutionProvider::Cpu, false))
        .unwrap_or_else(|e| panic!("loading {} on ort: {e}", dir.display()))
}

fn backend_err(opts: &LoadOptions) -> Error {
    match backend::create(opts) {
        Ok(_) => panic!("creating the backend with {:?} succeeded", opts.ort),
        Err(e) => e,
    }
}

/// Deterministic inputs in [-1.5, 1.5) without a random-number dependency.
fn values(n: usize, salt: u64) -> Vec<f32> {
    (0..n as u64)
        .map(|i| {
            let h = (i ^ salt.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(salt);
            ((h >> 40) as f32 / (1u64 << 24) as f32) * 3.0 - 1.5
        })
        .collect()
}

/// Inputs for `batch` samples of a network: times spread over [eps, t_max], classes cycling.
fn inputs_for(spec: &NetSpec, batch: usize, t_max: f64, eps: f64, classes: u32) -> (Vec<Vec<f32>>, Vec<Vec<i64>>) {
    let mut f = Vec::new();
    let mut i = Vec::new();
    for (k, (name, dtype, dims)) in spec.inputs.iter().enumerate() {
        let len = batch * dims.iter().product::<usize>();
        match (name.as_str(), dtype) {
            ("t", _) => {
                f.push((0..batch).map(|b| (eps + (t_max - eps) * (b as f64 + 0.5) / batch as f64) as f32).collect())
            }
            (_, DType::I64) => i.push((0..batch as i64).map(|b| b % classes.max(1) as i64).collect()),
            _ => f.push(values(len, k as u64 + 1)),
        }
    }
    (f, i)
}

fn run_net(net: &dyn backend::Network, batch: usize, f: &[Vec<f32>], i: &[Vec<i64>]) -> Vec<Vec<f32>> {
    let spec = net.spec();
    let (mut fi, mut ii) = (f.iter(), i.iter());
    let inputs: Vec<Input<'_>> = spec
        .inputs
        .iter()
        .map(|(_, dtype, _)| match dtype {
            DType::I64 => Input::I64(ii.next().expect("an i64 input")),
            _ => Input::F32(fi.next().expect("an f32 input")),
        })
        .collect();
    let mut outs: Vec<Vec<f32>> = (0..spec.outputs.len()).map(|k| vec![f32::NAN; batch * spec.output_len(k)]).collect();
    let mut refs: Vec<&mut [f32]> = outs.iter_mut().map(|v| v.as_mut_slice()).collect();
    net.run(batch, &inputs, &mut refs).unwrap_or_else(|e| panic!("running {}: {e}", spec.role));
    outs
}

/// Largest |a - b| / max(1, |b|).
fn max_rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / y.abs().max(1.0)).fold(0.0, f32::max)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Every network of a bundle, on both backends, at batch 1 and 5: the outputs agree within NET_TOL.
fn check_network_parity(dir: &Path) {
    let bundle = Bundle::open(dir).unwrap_or_else(|e| panic!("opening {}: {e}", dir.display()));
    let m = &bundle.manifest;
    let ort = backend::create(&ort_options(ExecutionProvider::Cpu, false)).expect("ort backend");
    let tract = backend::create(&tract_options()).expect("tract backend");
    let mut nets = vec![(bundle.file(&m.score.file), score_spec(&bundle), m.score.t_max)];
    for f in &m.flows {
        nets.push((bundle.file(&f.file), flow_spec(&bundle, f.t_m, f.conditional), f.t_m));
    }
    for (path, spec, t_max) in nets {
        let (o, t) = (ort.load(&path, &spec).expect("ort load"), tract.load(&path, &spec).expect("tract load"));
        for batch in [1, 5] {
            let (f, i) = inputs_for(&spec, batch, t_max, m.sde.eps, m.classes);
            let (ro, rt) = (run_net(o.as_ref(), batch, &f, &i), run_net(t.as_ref(), batch, &f, &i));
            for (k, (a, b)) in ro.iter().zip(&rt).enumerate() {
                assert!(a.iter().all(|v| v.is_finite()), "{}: ort output {k} not finite", spec.role);
                let d = max_rel_diff(a, b);
                eprintln!("{} {} batch {batch}: max relative difference {d:.1e}", dir.display(), spec.role);
                assert!(
                    d <= NET_TOL,
                    "{} {}: output '{}' at batch {batch} differs by {d:e} (relative)",
                    dir.display(),
                    spec.role,
                    spec.outputs[k].0
                );
            }
        }
    }
}

#[test]
fn network_outputs_match_tract_on_analytic_bundles() {
    for name in ANALYTIC {
        check_network_parity(&fixture(name));
    }
}

#[test]
fn network_outputs_match_tract_on_shipped_model() {
    check_network_parity(&shipped_model());
}

fn check_image_parity(dir: &Path, opts: &SampleOptions) {
    let a = sample_raw(&load_ort(dir), opts);
    let b = sample_raw(&load(dir, 2, 0), opts);
    assert!(a.iter().all(|v| v.is_finite()));
    let d = max_abs_diff(&a, &b);
    eprintln!("{} seed {:?}: images differ by up to {d:.1e}", dir.display(), opts.seed);
    assert!(d <= IMAGE_TOL, "{}: images differ by up to {d:e} between ort and tract ({opts:?})", dir.display());
}

#[test]
fn images_match_tract_on_analytic_bundles() {
    for name in ANALYTIC {
        let dir = fixture(name);
        let labels = name.contains("class").then(|| vec![0, 1, 1, 0, 1, 0, 0, 1]);
        for seed in [1, 7] {
            check_image_parity(
                &dir,
                &SampleOptions {
                    n: 8,
                    seed: Some(seed),
                    steps: Some(50),
                    labels: labels.clone(),
                    ..Default::default()
                },
            );
        }
    }
}

#[test]
fn images_match_tract_on_shipped_model() {
    let dir = shipped_model();
    check_image_parity(&dir, &SampleOptions { n: 3, seed: Some(11), steps: Some(20), ..Default::default() });
}

/// Issue 11's class-conditional VE model: every network, and images through reverse diffusion + Langevin (its
/// defaults) from both flows, with labels and with classifier-free guidance.
#[test]
fn fashion_model_matches_tract() {
    let dir = fashion_model();
    check_network_parity(&dir);
    let labels = Some(vec![0, 5, 9]);
    for t_m in Model::load(&dir, &tract_options()).unwrap().info().t_ms {
        check_image_parity(
            &dir,
            &SampleOptions {
                n: 3,
                seed: Some(11),
                steps: Some(10),
                t_m: Some(t_m),
                labels: labels.clone(),
                ..Default::default()
            },
        );
    }
    check_image_parity(
        &dir,
        &SampleOptions { n: 3, seed: Some(12), steps: Some(10), labels, guidance: Some(1.0), ..Default::default() },
    );
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The reproducibility guarantee (README, docs/onnxruntime.md) on ORT's CPU provider, as on tract: with the default
/// sub-batch of 1 every session run computes one image on one thread, so an image's bits do not depend on the batch
/// size, chunking, the thread count or other threads sharing the model — whatever the ONNX Runtime version's
/// kernels do with batches or threads. (With 1.19.2 on an AMD EPYC, whole-batch runs did change the last bits.)
#[test]
fn images_are_bit_identical_whatever_the_batching() {
    for (dir, n, steps) in [(fixture("gauss-vp"), 7, 30), (shipped_model(), 6, 3)] {
        let base = SampleOptions { n, seed: Some(3), steps: Some(steps), ..Default::default() };
        let model = load_ort(&dir);
        assert_eq!(model.info().backend.sub_batch, 1, "the CPU provider's default sub-batch");
        let reference = bits(&sample_raw(&model, &SampleOptions { batch_size: n, ..base.clone() }));
        for batch_size in [1, 4] {
            let got = bits(&sample_raw(&model, &SampleOptions { batch_size, ..base.clone() }));
            assert!(got == reference, "{}: batch size {batch_size} changed the images", dir.display());
        }
        let dim = model.image_len();
        let tail =
            bits(&sample_raw(&model, &SampleOptions { n: n - 2, first_index: 2, batch_size: 3, ..base.clone() }));
        assert!(tail == reference[2 * dim..], "{}: first_index chunking changed the images", dir.display());

        let mut lo = ort_options(ExecutionProvider::Cpu, false);
        lo.threads = 1;
        let one = Model::load(&dir, &lo).expect("load on one thread");
        assert_eq!((one.info().backend.sub_batch, one.info().backend.threads), (1, 1));
        assert!(
            bits(&sample_raw(&one, &base)) == reference,
            "{}: one thread instead of two changed the images",
            dir.display()
        );

        // One model shared by several threads (the Network is Send + Sync; runs go side by side on the session).
        let model = std::sync::Arc::new(model);
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let (m, o) = (model.clone(), base.clone());
                std::thread::spawn(move || bits(&sample_raw(&m, &o)))
            })
            .collect();
        for h in handles {
            assert!(
                h.join().expect("sampling thread") == reference,
                "{}: concurrent sampling changed the images",
                dir.display()
            );
        }
    }
}

/// A larger sub-batch is a throughput option, close but not bitwise: checked to SUB_BATCH_TOL only, so the test holds
/// whatever a batched kernel does with the last bits.
#[test]
fn larger_sub_batch_is_close_not_bitwise() {
    let dir = shipped_model();
    let base = SampleOptions { n: 6, seed: Some(3), steps: Some(3), ..Default::default() };
    let reference = sample_raw(&load_ort(&dir), &base);
    let mut lo = ort_options(ExecutionProvider::Cpu, false);
    lo.sub_batch = 4;
    let batched = Model::load(&dir, &lo).expect("load with sub-batch 4");
    assert_eq!(batched.info().backend.sub_batch, 4);
    let d = max_abs_diff(&sample_raw(&batched, &base), &reference);
    assert!(d <= SUB_BATCH_TOL, "sub-batch 4 differs from sub-batch 1 by {d:e}");
}

#[test]
fn reports_what_runs() {
    let model = load_ort(&fixture("gauss-vp"));
    let b = model.info().backend;
    assert_eq!(
        (b.name, b.execution_providers.as_slice(), b.fell_back, b.threads),
        ("ort", &["cpu".to_string()][..], false, 2)
    );
    let ort = backend::ort::OrtBackend::new(&ort_options(ExecutionProvider::Cpu, false)).expect("ort backend");
    eprintln!("ONNX Runtime under test: {} from {}", ort.runtime_version(), ort_lib().display());
}

// ---- errors ----

#[test]
fn wrong_path_is_backend_unavailable() {
    let mut opts = ort_options(ExecutionProvider::Cpu, false);
    opts.ort.library_path = Some(PathBuf::from("/nonexistent/libonnxruntime.so"));
    let e = backend_err(&opts);
    assert!(
        matches!(&e, Error::BackendUnavailable(m)
            if m.contains("does not exist") && m.contains("fetch-onnxruntime.sh")),
        "{e}"
    );

    opts.ort.library_path = Some(std::env::temp_dir());
    let e = backend_err(&opts);
    assert!(matches!(&e, Error::BackendUnavailable(m) if m.contains("not a file")), "{e}");
}

#[test]
fn a_file_that_is_not_onnx_runtime_is_backend_unavailable() {
    let mut opts = ort_options(ExecutionProvider::Cpu, false);
    // Not a shared library at all.
    opts.ort.library_path = Some(fixture("gauss-vp").join("dinof.json"));
    let e = backend_err(&opts);
    assert!(matches!(&e, Error::BackendUnavailable(m) if m.contains("cannot be loaded")), "{e}");
    // A real shared library, but not ONNX Runtime: the provider bridge unpacked beside it.
    let other = ort_lib().with_file_name(format!(
        "{}onnxruntime_providers_shared{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(other.is_file(), "{} should come with the fetched library", other.display());
    opts.ort.library_path = Some(other);
    let e = backend_err(&opts);
    assert!(matches!(&e, Error::BackendUnavailable(m) if m.contains("not an ONNX Runtime library")), "{e}");
}

#[test]
fn a_second_library_in_one_process_is_refused() {
    backend::create(&ort_options(ExecutionProvider::Cpu, false)).expect("the library under test loads");
    let dir = std::env::temp_dir().join(format!("dinof-ort-copy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let copy = dir.join(ort_lib().file_name().expect("a file name"));
    std::fs::copy(ort_lib(), &copy).expect("copying the library");
    let mut opts = ort_options(ExecutionProvider::Cpu, false);
    opts.ort.library_path = Some(copy);
    let e = backend_err(&opts);
    std::fs::remove_dir_all(&dir).ok();
    assert!(matches!(&e, Error::BackendUnavailable(m) if m.contains("already loaded")), "{e}");
}

/// Runs the CLI with a deadline: a hang fails the test instead of stalling the suite.
fn cli(args: &[&str], env_lib: Option<&Path>) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dinof"));
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).env_remove("ORT_DYLIB_PATH");
    if let Some(lib) = env_lib {
        cmd.env("ORT_DYLIB_PATH", lib);
    }
    let mut child = cmd.spawn().expect("starting the dinof CLI");
    let t0 = Instant::now();
    while child.try_wait().expect("waiting for the CLI").is_none() {
        if t0.elapsed() > Duration::from_secs(120) {
            child.kill().ok();
            panic!("dinof {args:?} did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("CLI output");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains("panicked"), "dinof {args:?} panicked:\n{text}");
    (out.status.success(), text)
}

#[test]
fn no_library_anywhere_is_an_error_not_a_panic() {
    let dir = fixture("gauss-vp");
    let (ok, text) = cli(&["check", dir.to_str().expect("utf-8 path"), "--backend", "ort"], None);
    assert!(!ok && text.contains("backend unavailable") && text.contains("ORT_DYLIB_PATH is unset"), "{text}");
    // The same run, told where the library is by the environment, works.
    let (ok, text) = cli(&["check", dir.to_str().expect("utf-8 path"), "--backend", "ort"], Some(&ort_lib()));
    assert!(ok && text.contains("is valid (ort backend)"), "{text}");
}

/// Without a path or ORT_DYLIB_PATH, the library is looked for next to the binary holding dinof (here the CLI).
#[test]
fn library_next_to_the_binary_is_found() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ort-beside-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let exe = dir.join(Path::new(env!("CARGO_BIN_EXE_dinof")).file_name().expect("exe name"));
    // A hard link keeps the binary where dladdr sees it; a copy is the fallback across file systems.
    if std::fs::hard_link(env!("CARGO_BIN_EXE_dinof"), &exe).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_dinof"), &exe).expect("copying the CLI");
    }
    let name = format!("{}onnxruntime{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    std::fs::copy(ort_lib(), dir.join(name)).expect("copying the library beside the CLI");
    let bundle = fixture("gauss-vp");
    let out = Command::new(&exe)
        .args(["info", bundle.to_str().expect("utf-8 path"), "--backend", "ort"])
        .env_remove("ORT_DYLIB_PATH")
        .output();
    std::fs::remove_dir_all(&dir).ok();
    let out = out.expect("running the CLI beside the library");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("backend     ort [cpu]"), "{text}");
}

/// This machine has no GPU and the CPU build of ONNX Runtime no CUDA/TensorRT provider: both must be refused
/// unless fallback is allowed, and then run on the CPU and say so.
#[test]
fn unavailable_execution_provider_is_an_error_unless_fallback_is_allowed() {
    let dir = fixture("gauss-vp");
    let opts = SampleOptions { n: 4, seed: Some(5), steps: Some(20), ..Default::default() };
    let on_cpu = sample_raw(&load_ort(&dir), &opts);
    for ep in [ExecutionProvider::Cuda, ExecutionProvider::TensorRt] {
        let e = Model::load(&dir, &ort_options(ep, false)).unwrap_err();
        assert!(matches!(e, Error::ExecutionProviderUnavailable(_)), "{ep:?}: {e}");

        let mut lo = ort_options(ep, true);
        lo.ort.trt_engine_cache_dir = Some(std::env::temp_dir().join("dinof-trt-cache-test"));
        let model = Model::load(&dir, &lo).unwrap_or_else(|e| panic!("{ep:?} with fallback: {e}"));
        let b = model.info().backend;
        assert!(b.fell_back && b.execution_providers == ["cpu"], "{ep:?}: {b:?}");
        // The same library's CPU provider either way; IMAGE_TOL, not 0, in case the fallback session's options
        // (threads, graph optimisation) pick other kernels.
        assert!(max_abs_diff(&on_cpu, &sample_raw(&model, &opts)) <= IMAGE_TOL);
    }
}

/// BackendKind::Auto: ONNX Runtime when its library is found, tract when it is not (reported in the info); an
/// ONNX Runtime error other than a missing library (here an execution provider this machine lacks) is not hidden
/// by falling back to tract.
#[test]
fn auto_is_ort_when_its_library_is_found_else_tract() {
    let dir = fixture("gauss-vp");
    let mut lo = ort_options(ExecutionProvider::Cpu, false);
    lo.backend = BackendKind::Auto;
    let model = Model::load(&dir, &lo).expect("auto with the library");
    assert_eq!(model.info().backend.name, "ort");

    lo.ort.library_path = Some(PathBuf::from("/nonexistent/libonnxruntime.so"));
    let model = Model::load(&dir, &lo).expect("auto without the library");
    assert_eq!(model.info().backend.name, "tract");

    let mut lo = ort_options(ExecutionProvider::Cuda, false);
    lo.backend = BackendKind::Auto;
    let e = Model::load(&dir, &lo).unwrap_err();
    assert!(matches!(e, Error::ExecutionProviderUnavailable(_)), "{e}");
}

/// The CLI's default backend is auto, and its summary line says which backend ran.
#[test]
fn cli_default_is_auto_and_reports_the_backend() {
    let dir = fixture("gauss-vp");
    let out = std::env::temp_dir().join(format!("dinof-auto-{}.npy", std::process::id()));
    let args = [
        "sample",
        "--bundle",
        dir.to_str().expect("utf-8 path"),
        "--n",
        "2",
        "--steps",
        "2",
        "--seed",
        "1",
        "--out",
        out.to_str().expect("utf-8 path"),
        "--quiet",
    ];
    let (ok, text) = cli(&args, Some(&ort_lib()));
    assert!(ok && text.contains("backend ort [cpu] (auto)"), "{text}");
    let (ok, text) = cli(&args, None);
    assert!(ok && text.contains("backend tract [cpu] (auto)"), "{text}");
    let (ok, text) = cli(&[&args[..], &["--backend", "tract"]].concat(), Some(&ort_lib()));
    assert!(ok && text.contains("backend tract [cpu]") && !text.contains("(auto)"), "{text}");
    std::fs::remove_file(&out).ok();
}

/// A broken bundle is blamed on the bundle even when a GPU provider was asked for (and is missing).
#[test]
fn broken_networks_give_their_own_errors() {
    for ep in [ExecutionProvider::Cpu, ExecutionProvider::Cuda] {
        let lo = ort_options(ep, false);
        let e = Model::load(fixture("bad-corrupt-onnx"), &lo).unwrap_err();
        assert!(matches!(e, Error::InvalidOnnx { .. }), "{ep:?}: {e}");
        let e = Model::load(fixture("bad-output-name"), &lo).unwrap_err();
        assert!(
            matches!(&e, Error::NetworkMismatch { msg, .. } if msg.contains("missing output 'score'")),
            "{ep:?}: {e}"
        );
        let e = Model::load(fixture("bad-shape"), &lo).unwrap_err();
        assert!(
            matches!(&e, Error::NetworkMismatch { network, msg } if network == "score" && msg.contains("shape")),
            "{ep:?}: {e}"
        );
    }
}
