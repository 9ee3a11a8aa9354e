//! Fuzzing the bundle loader and the C ABI's load entry point (issue 8, item 5): mutated manifests, damaged and
//! hostile ONNX files, through `Model::load` and `dinof_model_load`; hostile files on disk (FIFOs, devices,
//! directories, symlinks out of the bundle, escaping names: each must give its own error) and in-memory bundles
//! (`Model::load_from_memory`). Properties, for every case: no panic, no hang
//! (a watchdog per case), no allocation of a gigabyte or more, and every failure a typed `dinof::Error` (never
//! `Internal`) with a message; a model that loads must sample two images into [0, 1] or fail with a typed error.
//!
//! Deterministic: each case draws from its own seeded ChaCha8 stream. Defaults run in seconds; a longer session:
//!     DINOF_FUZZ_CASES=20000 cargo test --release --test fuzz_loader -- --nocapture
//! (cases per family; DINOF_FUZZ_SEED picks another corpus, DINOF_FUZZ_ONLY=<index> replays one case,
//! DINOF_FUZZ_VERBOSE=1 names each case before it runs, and --nocapture prints each family's tally of outcomes).
//! With the `ort` feature and ORT_DYLIB_PATH set, the ONNX cases also go through ONNX Runtime's parser.

mod common;
mod fuzz;

use std::ffi::CString;
use std::path::Path;

use fuzz::json::{mutate_text, mutate_value};
use fuzz::onnx::{decode, encode, mutate_bytes, mutate_proto};
use fuzz::*;
use rand::RngExt;

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

fn base_bundles() -> Vec<(String, MemBundle)> {
    let mut out: Vec<(String, MemBundle)> = good_fixtures()
        .iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), MemBundle::read(p)))
        .collect();
    // The shipped MNIST manifest, with the analytic 4×4 networks standing in for its 8 MB of networks: every
    // manifest rule is exercised, and a manifest that survives mutation fails fast at the signature check.
    let shipped = std::fs::read(repo().join("onnx/models/mnist/dinof.json")).expect("shipped manifest");
    let stand_in = MemBundle::read(&repo().join("tests/fixtures/bundles/gauss-vp"));
    let mut b = MemBundle { manifest: shipped, files: Default::default() };
    let v = b.manifest_json();
    b.files.insert(v["score"]["file"].as_str().unwrap().into(), stand_in.files["score.onnx"].clone());
    // Its Gaussian starts (issue 19) have the flow contract, so the same stand-ins serve for them.
    let starts = ["flows", "gaussians"]
        .iter()
        .flat_map(|k| v[*k].as_array().cloned().unwrap_or_default().into_iter().enumerate());
    for (i, f) in starts {
        let net = stand_in.files[if i == 0 { "flow_t0.4.onnx" } else { "flow_t0.6.onnx" }].clone();
        b.files.insert(f["file"].as_str().unwrap().into(), net.clone());
        if let Some(d) = f["density_file"].as_str() {
            b.files.insert(d.into(), net);
        }
    }
    b.recompute_checksums();
    out.push(("mnist-manifest".into(), b));
    out
}

fn load_opts() -> dinof::LoadOptions {
    dinof::LoadOptions { threads: 1, ..Default::default() }
}

/// Writes the bundle, runs `check` on it under the guard, and records the outcome. Returns false on a hang (the
/// family stops: the hung thread still holds a core).
fn run_case(
    tally: &mut Tally,
    label: &str,
    bundle: &MemBundle,
    timeout: std::time::Duration,
    check: impl FnOnce(&Path) -> Result<String, String> + Send + 'static,
) -> bool {
    tally.cases += 1;
    if std::env::var_os("DINOF_FUZZ_VERBOSE").is_some() {
        // Names the case before it runs: an abort (which no guard catches) is then attributable.
        eprintln!("{label}");
    }
    let mut dir = TempDir::new(&tally.family);
    bundle.write(&dir.path);
    let path = dir.path.clone();
    let result = run_guarded(timeout, move || check(&path));
    let ok = match result {
        Ok(done) if done.largest_allocation >= HUGE_ALLOCATION => {
            tally.fail(label, format!("HUGE ALLOCATION: {} bytes in one request", done.largest_allocation));
            false
        }
        Ok(done) => match done.value {
            Ok(outcome) => {
                tally.count(outcome);
                true
            }
            Err(broken) => {
                tally.fail(label, broken);
                false
            }
        },
        Err(e) => {
            let hang = e.starts_with("HANG");
            tally.fail(label, e);
            if hang {
                dir.keep();
                eprintln!("{label}: bundle kept at {}", dir.path.display());
                return false;
            }
            false
        }
    };
    if !ok {
        dir.keep();
        eprintln!("{label}: bundle kept at {}", dir.path.display());
    }
    true
}

fn label(family: &str, i: usize, base: &str, what: &[String]) -> String {
    format!("{family} #{i} (base {base}): {}", what.iter().map(|w| clip(w, 120)).collect::<Vec<_>>().join("; "))
}

/// The property as `run_case` wants it: load (and sample) with the given options, outcome label or broken property.
fn loads(opts: dinof::LoadOptions) -> impl FnOnce(&Path) -> Result<String, String> + Send + 'static {
    move |dir| load_and_sample(dir, &opts).map(|(outcome, _)| outcome)
}

/// `loads`, then `describe_onnx` on every network file of the bundle.
fn loads_and_describes(
    opts: dinof::LoadOptions,
    b: &MemBundle,
) -> impl FnOnce(&Path) -> Result<String, String> + Send + 'static {
    let files: Vec<String> = b.files.keys().cloned().collect();
    move |dir| {
        let outcome = load_and_sample(dir, &opts).map(|(outcome, _)| outcome)?;
        describe_all(dir, &files)?;
        Ok(outcome)
    }
}

/// Regression cases for what the fuzzer found (or could reach only by combining mutations), on the analytic
/// bundles: (what, bundle).
fn manifest_regressions(bases: &[(String, MemBundle)]) -> Vec<(String, MemBundle)> {
    let base = |name: &str| bases.iter().find(|b| b.0 == name).unwrap_or_else(|| panic!("fixture {name}")).1.clone();
    let mut out = vec![];
    // 2^64-1 Langevin corrector steps: resolving must refuse it, not run (nearly) forever.
    let mut b = base("gauss-ve");
    let mut v = b.manifest_json();
    v["sampler"]["corrector"] = serde_json::json!("langevin");
    v["sampler"]["corrector_steps"] = serde_json::json!(u64::MAX);
    b.set_manifest_json(&v);
    out.push(("sampler.corrector_steps = 2^64-1 with Langevin".into(), b));
    // An image of 2^64 values, with the score's declared shapes removed so that no signature check stops it first.
    let mut b = base("gauss-vp");
    let mut m = decode(&b.files["score.onnx"]);
    let g = m.graph.as_mut().unwrap();
    for v in g.input.iter_mut().chain(g.output.iter_mut()) {
        if let Some(tract_onnx::pb::type_proto::Value::TensorType(t)) = v.r#type.as_mut().and_then(|t| t.value.as_mut())
        {
            t.shape = None;
        }
    }
    b.files.insert("score.onnx".into(), encode(&m));
    let mut v = b.manifest_json();
    v["image"]["height"] = serde_json::json!(1u64 << 32);
    v["image"]["width"] = serde_json::json!(1u64 << 32);
    b.set_manifest_json(&v);
    b.recompute_checksums();
    out.push(("image 1×2^32×2^32 (C·H·W overflows), score shapes undeclared".into(), b));
    // beta_max = 2e27: the sampler's own arithmetic overflowed and a "successful" run wrote NaN pixels
    // (DINOF_FUZZ_SEED=20261129 manifests #15181).
    let mut b = base("gauss-subvp");
    let mut v = b.manifest_json();
    v["sde"]["beta_max"] = serde_json::json!(2e27);
    b.set_manifest_json(&v);
    out.push(("sde.beta_max = 2e27".into(), b));
    out
}

#[test]
fn fuzz_manifests() {
    limit_address_space();
    let cfg = Config::from_env(1500);
    let bases = base_bundles();
    let mut tally = Tally::new("manifests");
    // Fixed pathological documents first (on two bases), then random mutations.
    if cfg.only.is_none() {
        for (name, base) in [&bases[0], bases.last().unwrap()] {
            for (what, text) in fuzz::json::pathological(&base.manifest_json()) {
                let b = MemBundle { manifest: text, files: base.files.clone() };
                let l = format!("manifests fixed (base {name}): {what}");
                if !run_case(&mut tally, &l, &b, cfg.timeout, loads(load_opts())) {
                    break;
                }
            }
        }
        for (what, b) in manifest_regressions(&bases) {
            if !run_case(&mut tally, &format!("manifests regression: {what}"), &b, cfg.timeout, loads(load_opts())) {
                break;
            }
        }
    }
    for i in cfg.indices() {
        let mut rng = cfg.rng("manifests", i);
        let (name, base) = &bases[rng.random_range(0..bases.len())];
        let mut b = base.clone();
        let mut v = b.manifest_json();
        let mut what: Vec<String> = (0..rng.random_range(1..=3)).map(|_| mutate_value(&mut rng, &mut v)).collect();
        b.set_manifest_json(&v);
        if rng.random_bool(0.25) {
            what.push(mutate_text(&mut rng, &mut b.manifest));
        }
        if !run_case(&mut tally, &label("manifests", i, name, &what), &b, cfg.timeout, loads(load_opts())) {
            break;
        }
    }
    tally.finish();
}

/// What to do with the manifest's checksums after damaging a network.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Sums {
    /// Recomputed: the damaged bytes reach the ONNX parser.
    Recomputed,
    /// Removed: the same, without checksums.
    Removed,
    /// Left as they were: the load must stop at the checksum.
    Stale,
}

fn apply_sums(rng: &mut fuzz::Rng, b: &mut MemBundle) -> Sums {
    match rng.random_range(0..10) {
        0..=6 => {
            b.recompute_checksums();
            Sums::Recomputed
        }
        7 => {
            b.remove_checksums();
            Sums::Removed
        }
        _ => Sums::Stale,
    }
}

/// Replaces a network by another whole file: a valid but wrong graph, or no graph at all.
fn swap_file(rng: &mut fuzz::Rng, bases: &[(String, MemBundle)], target: &[u8]) -> (String, Vec<u8>) {
    match rng.random_range(0..6) {
        0 => ("empty file".into(), Vec::new()),
        1 => ("random bytes".into(), (0..rng.random_range(1..2048)).map(|_| rng.random()).collect()),
        2 => ("the manifest's JSON".into(), bases[0].1.manifest.clone()),
        _ => {
            let (name, other) = &bases[rng.random_range(0..bases.len())];
            let files: Vec<&String> = other.files.keys().collect();
            let f = files[rng.random_range(0..files.len())];
            let bytes = other.files[f].clone();
            let same = if bytes == target { " (identical)" } else { "" };
            (format!("{name}/{f} swapped in{same}"), bytes)
        }
    }
}

#[test]
fn fuzz_onnx_bytes() {
    limit_address_space();
    let cfg = Config::from_env(1000);
    let bases = base_bundles();
    let mut tally = Tally::new("onnx-bytes");
    for i in cfg.indices() {
        let mut rng = cfg.rng("onnx-bytes", i);
        let (name, base) = &bases[rng.random_range(0..bases.len())];
        let mut b = base.clone();
        let nets = b.network_files();
        let target = nets[rng.random_range(0..nets.len())].clone();
        let original = b.files[&target].clone();
        let mut what = vec![];
        let bytes = b.files.get_mut(&target).unwrap();
        if rng.random_bool(0.15) {
            let (w, new) = swap_file(&mut rng, &bases, bytes);
            *bytes = new;
            what.push(format!("{target}: {w}"));
        } else {
            for _ in 0..rng.random_range(1..=3) {
                let w = mutate_bytes(&mut rng, bytes);
                what.push(format!("{target}: {w}"));
            }
        }
        let changed = b.files[&target] != original;
        let sums = apply_sums(&mut rng, &mut b);
        what.push(format!("checksums {sums:?}"));
        let l = label("onnx-bytes", i, name, &what);
        let files: Vec<String> = b.files.keys().cloned().collect();
        let check = move |dir: &Path| {
            let outcome = load_and_sample(dir, &load_opts()).map(|(o, _)| o)?;
            if sums == Sums::Stale && changed && outcome != "ChecksumMismatch" {
                return Err(format!("a changed file with a stale checksum gave {outcome}, not ChecksumMismatch"));
            }
            describe_all(dir, &files)?;
            Ok(outcome)
        };
        if !run_case(&mut tally, &l, &b, cfg.timeout, check) {
            break;
        }
    }
    tally.finish();
}

#[test]
fn fuzz_onnx_protobuf() {
    limit_address_space();
    let cfg = Config::from_env(1000);
    let bases = base_bundles();
    let mut tally = Tally::new("onnx-protobuf");
    if cfg.only.is_none() {
        let base = &bases.iter().find(|b| b.0 == "gauss-vp-class").expect("gauss-vp-class fixture").1;
        for target in base.network_files() {
            for (what, bytes) in fuzz::onnx::pathological(&base.files[&target]) {
                let mut b = base.clone();
                b.files.insert(target.clone(), bytes);
                b.recompute_checksums();
                let l = format!("onnx-protobuf fixed (gauss-vp-class/{target}): {what}");
                let check = loads_and_describes(load_opts(), &b);
                if !run_case(&mut tally, &l, &b, cfg.timeout, check) {
                    break;
                }
            }
        }
    }
    for i in cfg.indices() {
        let mut rng = cfg.rng("onnx-protobuf", i);
        let (name, base) = &bases[rng.random_range(0..bases.len())];
        let mut b = base.clone();
        let nets = b.network_files();
        let target = nets[rng.random_range(0..nets.len())].clone();
        let mut m = decode(&b.files[&target]);
        let mut what: Vec<String> =
            (0..rng.random_range(1..=2)).map(|_| format!("{target}: {}", mutate_proto(&mut rng, &mut m))).collect();
        let mut bytes = encode(&m);
        if rng.random_bool(0.1) {
            what.push(mutate_bytes(&mut rng, &mut bytes));
        }
        b.files.insert(target, bytes);
        b.recompute_checksums();
        let check = loads_and_describes(load_opts(), &b);
        if !run_case(&mut tally, &label("onnx-protobuf", i, name, &what), &b, cfg.timeout, check) {
            break;
        }
    }
    tally.finish();
}

/// A mutated bundle for the C ABI and ONNX Runtime families: half manifest damage, half network damage.
fn mutated_bundle(rng: &mut fuzz::Rng, bases: &[(String, MemBundle)]) -> (String, MemBundle, Vec<String>) {
    let (name, base) = &bases[rng.random_range(0..bases.len())];
    let mut b = base.clone();
    let mut what = vec![];
    match rng.random_range(0..4) {
        0 => {
            let mut v = b.manifest_json();
            what.push(mutate_value(rng, &mut v));
            b.set_manifest_json(&v);
        }
        1 => {
            let nets = b.network_files();
            let target = nets[rng.random_range(0..nets.len())].clone();
            what.push(format!("{target}: {}", mutate_bytes(rng, b.files.get_mut(&target).unwrap())));
            b.recompute_checksums();
        }
        _ => {
            let nets = b.network_files();
            let target = nets[rng.random_range(0..nets.len())].clone();
            let mut m = decode(&b.files[&target]);
            what.push(format!("{target}: {}", mutate_proto(rng, &mut m)));
            b.files.insert(target, encode(&m));
            b.recompute_checksums();
        }
    }
    (name.clone(), b, what)
}

mod c_abi {
    use super::*;
    use dinof::ffi::*;
    use std::mem::offset_of;

    /// Load options as raw bytes, so that out-of-range enum values can be written as a C caller could.
    pub struct RawOptions {
        pub bytes: Vec<u8>,
        pub what: String,
    }

    pub fn random_options(rng: &mut fuzz::Rng) -> Option<RawOptions> {
        if rng.random_bool(0.3) {
            return None;
        }
        let size = std::mem::size_of::<dinof_load_options>();
        let mut d = std::mem::MaybeUninit::<dinof_load_options>::zeroed();
        // SAFETY: a struct-sized, writable buffer and its size, as a C caller passes them.
        assert_eq!(unsafe { dinof_load_options_init(d.as_mut_ptr(), size as u32) }, DINOF_STATUS_OK);
        let mut bytes = vec![0u8; size];
        // SAFETY: a plain-old-data copy of an initialised repr(C) struct into a buffer of its size.
        unsafe { std::ptr::copy_nonoverlapping(d.as_ptr().cast::<u8>(), bytes.as_mut_ptr(), size) };
        let mut put = |off: usize, v: &[u8]| bytes[off..off + v.len()].copy_from_slice(v);
        // Mostly valid values, so that most cases get past the options to the bundle.
        let backend: i32 = [0, 0, 0, 0, 1, 1, 2, 99][rng.random_range(0..8)];
        let ep: i32 = [0, 0, 0, 1, 1, 2, 3, -5][rng.random_range(0..8)];
        let threads: u32 = [0, 1, 2, 4097, u32::MAX][rng.random_range(0..5)];
        let sub_batch: u32 = [0, 1, 3, 1 << 20, u32::MAX][rng.random_range(0..5)];
        let verify = rng.random_bool(0.8) as u8;
        let struct_size: u32 =
            if rng.random_bool(0.9) { size as u32 } else { [0, 4, size as u32 - 1][rng.random_range(0..3)] };
        put(offset_of!(dinof_load_options, struct_size), &struct_size.to_ne_bytes());
        put(offset_of!(dinof_load_options, backend), &backend.to_ne_bytes());
        put(offset_of!(dinof_load_options, execution_provider), &ep.to_ne_bytes());
        put(offset_of!(dinof_load_options, threads), &threads.to_ne_bytes());
        put(offset_of!(dinof_load_options, sub_batch), &sub_batch.to_ne_bytes());
        put(offset_of!(dinof_load_options, verify_checksums), &[verify]);
        let what = format!(
            "options: size {struct_size}, backend {backend}, ep {ep}, threads {threads}, sub_batch {sub_batch}, \
             verify {verify}"
        );
        Some(RawOptions { bytes, what })
    }

    /// Loads through `dinof_model_load`; with default options the status must be the one the Rust error maps to.
    pub fn check(dir: &Path, opts: Option<&RawOptions>) -> Result<String, String> {
        let path = CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
        let mut model: *mut dinof_model = std::ptr::null_mut();
        // Kept as MaybeUninit (an aligned struct-sized buffer): its enum fields may hold values outside their
        // variants, as a C caller's can, which the library reads as raw integers; no Rust reference to it is made.
        let boxed: Option<Box<std::mem::MaybeUninit<dinof_load_options>>> = opts.map(|o| {
            let mut b = Box::new(std::mem::MaybeUninit::<dinof_load_options>::uninit());
            // SAFETY: copies exactly the struct's size into it.
            unsafe { std::ptr::copy_nonoverlapping(o.bytes.as_ptr(), b.as_mut_ptr().cast::<u8>(), o.bytes.len()) };
            b
        });
        let optr = boxed.as_ref().map_or(std::ptr::null(), |b| b.as_ptr());
        // SAFETY: valid C string, options pointer NULL or a full struct, out pointer valid.
        let status = unsafe { dinof_model_load(path.as_ptr(), optr, &mut model) };
        // SAFETY: the library's own static/thread-local string.
        let message = unsafe { std::ffi::CStr::from_ptr(dinof_last_error_message()) }.to_string_lossy().into_owned();
        drop(boxed);
        if matches!(status, DINOF_STATUS_PANIC | DINOF_STATUS_INTERNAL) {
            return Err(format!("C ABI returned {status:?}: {message}"));
        }
        if status == DINOF_STATUS_OK {
            if model.is_null() {
                return Err("status OK but no model".into());
            }
            // SAFETY: a live handle; the info struct is sized by us.
            unsafe {
                let mut info = std::mem::MaybeUninit::<dinof_model_info>::zeroed();
                info.as_mut_ptr().cast::<u32>().write(std::mem::size_of::<dinof_model_info>() as u32);
                let s = dinof_model_get_info(model, info.as_mut_ptr());
                dinof_model_free(model);
                if s != DINOF_STATUS_OK {
                    return Err(format!("dinof_model_get_info on a loaded model: {s:?}"));
                }
            }
        } else {
            if !model.is_null() {
                return Err(format!("status {status:?} but a model was returned"));
            }
            if message.trim().is_empty() {
                return Err(format!("status {status:?} without a message"));
            }
        }
        if opts.is_none() {
            let rust = dinof::Model::load(dir, &dinof::LoadOptions::default());
            let expected = rust.as_ref().map_or_else(status::status_of, |_| DINOF_STATUS_OK);
            if expected != status {
                return Err(format!("C ABI status {status:?} differs from the Rust API's {expected:?}"));
            }
        }
        Ok(format!("{status:?}"))
    }
}

#[test]
fn fuzz_c_abi_model_load() {
    limit_address_space();
    let cfg = Config::from_env(400);
    let bases = base_bundles();
    let mut tally = Tally::new("c-abi");
    for i in cfg.indices() {
        let mut rng = cfg.rng("c-abi", i);
        let (name, b, mut what) = mutated_bundle(&mut rng, &bases);
        let opts = c_abi::random_options(&mut rng);
        what.push(opts.as_ref().map_or("options NULL".into(), |o| o.what.clone()));
        let l = label("c-abi", i, &name, &what);
        if !run_case(&mut tally, &l, &b, cfg.timeout, move |dir| c_abi::check(dir, opts.as_ref())) {
            break;
        }
    }
    tally.finish();
}

/// ONNX Runtime's parser on the damaged networks (only with the `ort` feature; without ORT_DYLIB_PATH a printed
/// skip, a failure under CI).
#[cfg(feature = "ort")]
#[test]
fn fuzz_onnx_runtime_load() {
    if std::env::var_os("ORT_DYLIB_PATH").is_none_or(|p| p.is_empty()) {
        let why = "ORT_DYLIB_PATH is not set: export ORT_DYLIB_PATH=\"$(bash scripts/fetch-onnxruntime.sh)\" \
                   (scripts/test.sh does)";
        return common::skip_or_fail("fuzz_onnx_runtime_load", why);
    }
    limit_address_space();
    let cfg = Config::from_env(300);
    let bases = base_bundles();
    let mut tally = Tally::new("ort");
    let opts = dinof::LoadOptions { backend: dinof::BackendKind::Ort, threads: 1, ..Default::default() };
    if cfg.only.is_none() {
        let base = &bases.iter().find(|b| b.0 == "gauss-vp-class").expect("gauss-vp-class fixture").1;
        let target = base.network_files()[0].clone();
        for (what, bytes) in fuzz::onnx::pathological(&base.files[&target]) {
            let mut b = base.clone();
            b.files.insert(target.clone(), bytes);
            b.recompute_checksums();
            let l = format!("ort fixed (gauss-vp-class/{target}): {what}");
            if !run_case(&mut tally, &l, &b, cfg.timeout, loads(opts.clone())) {
                break;
            }
        }
    }
    for i in cfg.indices() {
        let mut rng = cfg.rng("ort", i);
        let (name, b, what) = mutated_bundle(&mut rng, &bases);
        if !run_case(&mut tally, &label("ort", i, &name, &what), &b, cfg.timeout, loads(opts.clone())) {
            break;
        }
    }
    tally.finish();
}

/// The checks that run before any parser (`backend::onnx_limits`) accept every network that ships, the MNIST
/// model's and the analytic fixtures': they refuse hostile files, not real ones.
#[test]
fn file_checks_accept_the_shipped_networks() {
    let mut dirs = good_fixtures();
    dirs.push(repo().join("onnx/models/mnist"));
    for dir in dirs {
        for (name, bytes) in MemBundle::read(&dir).files {
            dinof::backend::onnx_limits::check_onnx_bytes(&bytes)
                .unwrap_or_else(|e| panic!("{}/{name}: {e}", dir.display()));
        }
    }
}

/// One hostile change to a written bundle's files (bundles from mods and downloads; the C ABI version 2 rules):
/// a named file (manifest, network, checksum key) replaced by a FIFO, a device, a directory or a symlink out of
/// the bundle, or a manifest file name that escapes the directory. Applied after `run_case` wrote the bundle.
/// Returns what was done, the outcomes allowed for it (error variants, or "loaded+sampled"), and the change.
type Change = Box<dyn FnOnce(&Path) + Send>;
fn hostile_change(rng: &mut fuzz::Rng, b: &mut MemBundle) -> (String, &'static [&'static str], Change) {
    let mut names = vec!["dinof.json".to_string()];
    names.extend(b.network_files());
    let target = names[rng.random_range(0..names.len())].clone();
    let path_of = move |dir: &Path| dir.join(&target);
    let what = names.last().cloned().unwrap_or_default();
    match rng.random_range(0..6) {
        0 => (
            "a FIFO".into(),
            &["NotRegularFile"],
            Box::new(move |dir: &Path| {
                let p = path_of(dir);
                std::fs::remove_file(&p).ok();
                let c = CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
                // SAFETY: a valid NUL-terminated path.
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
            }),
        ),
        1 => (
            "a symlink to a device (/dev/zero)".into(),
            &["OutsideBundle", "NotRegularFile"],
            Box::new(move |dir: &Path| {
                let p = path_of(dir);
                std::fs::remove_file(&p).ok();
                std::os::unix::fs::symlink("/dev/zero", &p).unwrap();
            }),
        ),
        2 => (
            "a directory".into(),
            &["NotRegularFile"],
            Box::new(move |dir: &Path| {
                let p = path_of(dir);
                std::fs::remove_file(&p).ok();
                std::fs::create_dir(&p).unwrap();
            }),
        ),
        3 => (
            "a symlink to a copy outside the bundle".into(),
            &["OutsideBundle"],
            Box::new(move |dir: &Path| {
                let p = path_of(dir);
                let outside = dir.with_extension("outside");
                std::fs::copy(&p, &outside).unwrap();
                std::fs::remove_file(&p).ok();
                std::os::unix::fs::symlink(&outside, &p).unwrap();
            }),
        ),
        4 => (
            "a symlink to a copy inside the bundle (allowed)".into(),
            &["loaded+sampled"],
            Box::new(move |dir: &Path| {
                let p = path_of(dir);
                let inside = dir.join("inside.copy");
                std::fs::copy(&p, &inside).unwrap();
                std::fs::remove_file(&p).ok();
                std::os::unix::fs::symlink("inside.copy", &p).unwrap();
            }),
        ),
        _ => {
            // A manifest name that leaves the directory: relative, absolute or with a separator.
            let escape =
                ["../score.onnx", "/etc/hostname", "sub/score.onnx", "..", ".", "c:score.onnx"][rng.random_range(0..6)];
            let mut v = b.manifest_json();
            v["score"]["file"] = serde_json::Value::String(escape.into());
            b.set_manifest_json(&v);
            (format!("score.file = {escape:?} (last network {what})"), &["BadFileName"], Box::new(|_: &Path| {}))
        }
    }
}

#[test]
fn fuzz_hostile_files() {
    limit_address_space();
    let cfg = Config::from_env(200);
    let bases = base_bundles();
    // Bundles that load as they are, so each outcome is the change's alone.
    let bases: Vec<_> = bases.into_iter().filter(|(name, _)| name != "mnist-manifest").collect();
    let mut tally = Tally::new("hostile-files");
    for i in cfg.indices() {
        let mut rng = cfg.rng("hostile-files", i);
        let (name, base) = &bases[rng.random_range(0..bases.len())];
        let mut b = base.clone();
        let (what, allowed, change) = hostile_change(&mut rng, &mut b);
        let l = label("hostile-files", i, name, &[what]);
        let opts = load_opts();
        if !run_case(&mut tally, &l, &b, cfg.timeout, move |dir| {
            change(dir);
            let outcome = load_and_sample(dir, &opts).map(|(outcome, _)| outcome);
            std::fs::remove_file(dir.with_extension("outside")).ok();
            let outcome = outcome?;
            if allowed.contains(&outcome.as_str()) {
                Ok(outcome)
            } else {
                Err(format!("outcome {outcome}, expected one of {allowed:?}"))
            }
        }) {
            break;
        }
    }
    tally.finish();
}

/// `Model::load_from_memory` (the C ABI's `dinof_model_load_from_memory`): mutated bundles handed over as blobs,
/// with names dropped, added or renamed, under the same properties as loading from a directory.
#[test]
fn fuzz_in_memory_bundles() {
    limit_address_space();
    let cfg = Config::from_env(300);
    let bases = base_bundles();
    let mut tally = Tally::new("in-memory");
    for i in cfg.indices() {
        let mut rng = cfg.rng("in-memory", i);
        let (name, mut b, mut what) = mutated_bundle(&mut rng, &bases);
        match rng.random_range(0..4) {
            0 => {
                let nets = b.network_files();
                if !nets.is_empty() {
                    let gone = nets[rng.random_range(0..nets.len())].clone();
                    b.files.remove(&gone);
                    what.push(format!("blob {gone} missing"));
                }
            }
            1 => {
                b.files.insert("../escape.onnx".into(), vec![0u8; 16]);
                what.push("an extra blob named ../escape.onnx".into());
            }
            _ => {}
        }
        let l = label("in-memory", i, &name, &what);
        let opts = load_opts();
        let blobs: Vec<(String, Vec<u8>)> = b.files.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let manifest = b.manifest.clone();
        if !run_case(
            &mut tally,
            &l,
            &MemBundle { manifest: vec![], files: Default::default() },
            cfg.timeout,
            move |_| {
                let refs: Vec<(&str, &[u8])> = blobs.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
                loaded_and_sampled(dinof::Model::load_from_memory(&manifest, &refs, &opts)).map(|(outcome, _)| outcome)
            },
        ) {
            break;
        }
    }
    tally.finish();
}
