#![allow(dead_code)]
//! The fuzz harness: seeded per-case RNGs, a watchdog per case, panic capture, a tally of the errors seen, temporary
//! bundles, and a guard against huge allocations. The mutators live in `json.rs` (manifests) and `onnx.rs` (networks).

pub mod json;
pub mod onnx;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

pub type Rng = ChaCha8Rng;

/// Run-time knobs (all optional): DINOF_FUZZ_CASES = cases per family (a longer session: 20000), DINOF_FUZZ_SEED =
/// base seed, DINOF_FUZZ_ONLY = run one case index (to reproduce a failure), DINOF_FUZZ_TIMEOUT = seconds a
/// single case may take before it counts as a hang.
pub struct Config {
    pub cases: usize,
    pub seed: u64,
    pub only: Option<usize>,
    pub timeout: Duration,
}

impl Config {
    pub fn from_env(default_cases: usize) -> Config {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let num =
            |name: &str| var(name).map(|v| v.parse::<u64>().unwrap_or_else(|_| panic!("{name}={v} is not a number")));
        Config {
            cases: num("DINOF_FUZZ_CASES").map_or(default_cases, |v| v as usize),
            seed: num("DINOF_FUZZ_SEED").unwrap_or(0xd1_0f),
            only: num("DINOF_FUZZ_ONLY").map(|v| v as usize),
            // Generous: a case takes milliseconds; only a real hang (or a starved CI machine) reaches this.
            timeout: Duration::from_secs(num("DINOF_FUZZ_TIMEOUT").unwrap_or(120)),
        }
    }

    /// Case `index` of `family` has its own stream, so any case can be replayed alone (DINOF_FUZZ_ONLY).
    pub fn rng(&self, family: &str, index: usize) -> Rng {
        let mut key = [0u8; 32];
        key.copy_from_slice(&Sha256::digest(format!("{}:{family}", self.seed)));
        let mut rng = Rng::from_seed(key);
        rng.set_stream(index as u64);
        rng
    }

    pub fn indices(&self) -> Vec<usize> {
        match self.only {
            Some(i) => vec![i],
            None => (0..self.cases).collect(),
        }
    }
}

// ---- allocation guard -------------------------------------------------------------------------------------------

/// Counts the largest single allocation each thread asks for, so a case that makes the loader allocate gigabytes
/// (a protobuf claiming a huge tensor) is reported by name instead of taking the machine down.
pub struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}
static LIMIT_SET: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|m| m.set(m.get().max(size)));
}

/// A single allocation above this is a finding (the largest legitimate one here is a few megabytes).
pub const HUGE_ALLOCATION: usize = 1 << 30;

/// Caps the process's address space (8 GiB) once, so that an allocation the allocator grants lazily cannot exhaust
/// the machine's memory: it fails instead (and tract turns a failed allocation into a panic we catch).
pub fn limit_address_space() {
    if LIMIT_SET.swap(1, Ordering::SeqCst) == 1 {
        return;
    }
    #[cfg(target_os = "linux")]
    unsafe {
        let cap: libc::rlim_t = 8 << 30;
        let mut cur = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_AS, &mut cur) == 0
            && (cur.rlim_cur == libc::RLIM_INFINITY || cur.rlim_cur > cap)
        {
            let new = libc::rlimit { rlim_cur: cap, rlim_max: cur.rlim_max };
            libc::setrlimit(libc::RLIMIT_AS, &new);
        }
    }
}

// ---- running one case -------------------------------------------------------------------------------------------

/// How one case went, when it neither panicked nor hung.
pub struct Finished<T> {
    pub value: T,
    pub largest_allocation: usize,
}

/// Runs `body` on its own thread under a watchdog. Err = a panic (with its message) or a hang.
pub fn run_guarded<T: Send + 'static>(
    timeout: Duration,
    body: impl FnOnce() -> T + Send + 'static,
) -> Result<Finished<T>, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("fuzz-case".into())
        .spawn(move || {
            LARGEST.with(|m| m.set(0));
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
            let largest = LARGEST.with(|m| m.get());
            let _ = tx.send(out.map(|value| Finished { value, largest_allocation: largest }));
        })
        .expect("spawning a case thread");
    match rx.recv_timeout(timeout) {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(payload)) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic payload".into());
            Err(format!("PANIC: {msg}"))
        }
        // The thread is left running: the test fails, and the process ends with it.
        Err(_) => Err(format!("HANG: no result after {timeout:?}")),
    }
}

/// The variant name of an error ("InvalidManifest"), for the tally.
pub fn variant(e: &dinof::Error) -> String {
    format!("{e:?}").chars().take_while(|c| c.is_ascii_alphanumeric()).collect()
}

/// What a family saw: outcome label → count, and the cases that broke a property.
#[derive(Default)]
pub struct Tally {
    pub family: String,
    pub outcomes: BTreeMap<String, usize>,
    pub failures: Vec<String>,
    pub cases: usize,
    pub started: Option<Instant>,
}

impl Tally {
    pub fn new(family: &str) -> Tally {
        Tally { family: family.into(), started: Some(Instant::now()), ..Default::default() }
    }

    pub fn count(&mut self, outcome: impl Into<String>) {
        *self.outcomes.entry(outcome.into()).or_default() += 1;
    }

    pub fn fail(&mut self, case: &str, what: impl std::fmt::Display) {
        self.failures.push(format!("{case}\n    {what}"));
    }

    /// Prints the tally (seen with --nocapture) and fails the test with every broken case listed.
    pub fn finish(self) {
        let secs = self.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
        let mut lines = format!("fuzz {}: {} cases in {secs:.1} s\n", self.family, self.cases);
        for (k, v) in &self.outcomes {
            lines += &format!("    {v:6}  {k}\n");
        }
        eprint!("{lines}");
        assert!(
            self.failures.is_empty(),
            "fuzz {}: {} case(s) broke a property (replay one with DINOF_FUZZ_ONLY=<index>):\n{}",
            self.family,
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

// ---- bundles on disk --------------------------------------------------------------------------------------------

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The well-formed fixture bundles (tests/fixtures/bundles, not bad-*).
pub fn good_fixtures() -> Vec<PathBuf> {
    let dir = repo().join("tests/fixtures/bundles");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with("bad-"))
        .collect();
    v.sort();
    v
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A bundle held in memory: the manifest text and its files.
#[derive(Clone)]
pub struct MemBundle {
    pub manifest: Vec<u8>,
    pub files: BTreeMap<String, Vec<u8>>,
}

impl MemBundle {
    /// Reads a bundle directory (manifest and every .onnx file).
    pub fn read(dir: &Path) -> MemBundle {
        let manifest = std::fs::read(dir.join("dinof.json")).expect("manifest");
        let mut files = BTreeMap::new();
        for e in std::fs::read_dir(dir).expect("bundle dir") {
            let p = e.expect("dir entry").path();
            if p.extension().is_some_and(|x| x == "onnx") {
                files.insert(
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).expect("onnx file"),
                );
            }
        }
        MemBundle { manifest, files }
    }

    pub fn manifest_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.manifest).expect("base manifest is JSON")
    }

    pub fn set_manifest_json(&mut self, v: &serde_json::Value) {
        self.manifest = serde_json::to_vec_pretty(v).expect("serialising a manifest");
    }

    /// Rewrites the manifest's checksums to match the files as they are now, so a mutated file reaches the parser.
    pub fn recompute_checksums(&mut self) {
        let mut v = self.manifest_json();
        let sums: serde_json::Map<String, serde_json::Value> =
            self.files.iter().map(|(k, b)| (k.clone(), serde_json::Value::String(sha256_hex(b)))).collect();
        v["checksums"] = serde_json::Value::Object(sums);
        self.set_manifest_json(&v);
    }

    pub fn remove_checksums(&mut self) {
        let mut v = self.manifest_json();
        if let Some(o) = v.as_object_mut() {
            o.remove("checksums");
        }
        self.set_manifest_json(&v);
    }

    /// Network files the manifest names, in order: score, then each flow. A mutated manifest may name none (a
    /// number where a file name belongs): those entries are skipped.
    pub fn network_files(&self) -> Vec<String> {
        let v = self.manifest_json();
        let mut out: Vec<String> = v["score"]["file"].as_str().map(str::to_string).into_iter().collect();
        for f in v["flows"].as_array().into_iter().flatten() {
            out.extend(f["file"].as_str().map(str::to_string));
        }
        out
    }

    pub fn write(&self, dir: &Path) {
        std::fs::create_dir_all(dir).expect("creating a case dir");
        std::fs::write(dir.join("dinof.json"), &self.manifest).expect("writing the manifest");
        for (name, bytes) in &self.files {
            std::fs::write(dir.join(name), bytes).expect("writing a network");
        }
    }
}

/// A unique temporary directory, removed on drop unless `keep` was called (failed cases are kept to inspect).
pub struct TempDir {
    pub path: PathBuf,
    keep: bool,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("dinof-fuzz-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("creating a temp dir");
        TempDir { path, keep: false }
    }
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

// ---- the property every case checks ----------------------------------------------------------------------------

/// Loads `dir` (and, when that works, samples two images with two steps) and returns the outcome label:
/// "loaded+sampled", "loaded, sample: <Variant>" or "<Variant>". Err = a broken property (other than panic/hang,
/// which the caller's guard reports).
pub fn load_and_sample(dir: &Path, opts: &dinof::LoadOptions) -> Result<(String, Option<dinof::Error>), String> {
    loaded_and_sampled(dinof::Model::load(dir, opts))
}

/// The outcome of a load (from a directory or from memory), then of resolving the bundle's defaults and sampling two
/// images: every failure a typed error, every pixel of a success in [0, 1].
pub fn loaded_and_sampled(loaded: dinof::Result<dinof::Model>) -> Result<(String, Option<dinof::Error>), String> {
    let model = match loaded {
        Ok(m) => m,
        Err(e) => {
            check_error(&e)?;
            let v = variant(&e);
            return Ok((v, Some(e)));
        }
    };
    // The defaults the bundle asks for must resolve or fail with a typed error.
    let defaults = model.resolve(&dinof::SampleOptions::default());
    if let Err(e) = &defaults {
        check_error(e)?;
    }
    let _ = model.info();
    let labels = (model.info().classes > 0).then(|| vec![0]);
    let o = dinof::SampleOptions { n: 2, seed: Some(7), steps: Some(2), labels, ..Default::default() };
    let mut out = vec![0f32; 2 * model.image_len()];
    match model.sample(&o, &mut out, &mut |_| true) {
        Ok(_) => {
            if let Some(bad) = out.iter().find(|v| !(0.0..=1.0).contains(*v)) {
                return Err(format!("a sample succeeded but wrote pixel {bad}, outside [0, 1]"));
            }
            Ok(("loaded+sampled".into(), None))
        }
        Err(e) => {
            check_error(&e)?;
            Ok((format!("loaded, sample: {}", variant(&e)), Some(e)))
        }
    }
}

/// `dinof info`'s one-line description of each network file: it parses the protobuf alone, so it must survive
/// what the loader survives.
pub fn describe_all(dir: &Path, files: &[String]) -> Result<(), String> {
    for f in files {
        if let Err(e) = dinof::backend::describe_onnx(&dir.join(f)) {
            check_error(&e)?;
        }
    }
    Ok(())
}

/// Every failure must be a typed, explained error, never an internal one (those mark bugs).
pub fn check_error(e: &dinof::Error) -> Result<(), String> {
    let msg = e.to_string();
    if msg.trim().is_empty() {
        return Err(format!("empty error message for {e:?}"));
    }
    if matches!(e, dinof::Error::Internal(_)) {
        return Err(format!("internal error (a bug): {msg}"));
    }
    Ok(())
}

/// Short form of a message for case descriptions.
pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}
