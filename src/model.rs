//! A loaded model: a validated bundle plus its compiled networks. Immutable after loading, so one model serves
//! any number of threads; all per-run state lives in a `Prepared` request (validated, memory allocated) and the run.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::backend::{self, Backend, BackendInfo, DType, Input, LoadOptions, NetSpec, Network};
use crate::bundle::{Bundle, Source};
use crate::error::{try_capacity, try_filled, Error, LabelError, Result, StartError};
use crate::rng::{self, SampleRng};
use crate::sampler::{
    self, Batch, Corrector, LangevinNorm, Method, Phase, Predictor, SamplerConfig, Schedule, ScoreFn, Solver, Start,
};
use crate::sde::{Sde, SdeKind};

/// What to generate. `None` fields take the bundle's defaults, then the runtime's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SampleOptions {
    /// Number of images.
    pub n: usize,
    /// `None` = a random seed, reported back in `SampleReport::seed`.
    pub seed: Option<u64>,
    /// Global index of the first image: image k of this call uses noise stream (seed, first_index + k), so a large
    /// job can be split into calls (or machines) that together give exactly the images of one call.
    pub first_index: u64,
    pub start: Option<Start>,
    /// Which flow (flow start) or Gaussian (Gaussian start), by its T_m.
    pub t_m: Option<f64>,
    /// z ~ N(0, τ²I) for the flow and Gaussian starts.
    pub temperature: Option<f64>,
    pub method: Option<Method>,
    pub predictor: Option<Predictor>,
    pub corrector: Option<Corrector>,
    pub snr: Option<f64>,
    pub corrector_steps: Option<usize>,
    pub langevin_norm: Option<LangevinNorm>,
    /// Solver: for method ode any but dpmpp_2m_sde; for method sde, dpmpp_2m_sde replaces predictor/corrector
    /// (the ODE solvers are ignored there). Setting only the solver selects its method.
    pub solver: Option<Solver>,
    /// Grid of the fixed-step solvers (default: the solver's own, `Solver::default_schedule`).
    pub schedule: Option<Schedule>,
    /// rk45's relative and absolute tolerances (default 1e-5 each, as score_sde).
    pub rtol: Option<f64>,
    pub atol: Option<f64>,
    /// edm_heun's S_churn (default 0: deterministic).
    pub churn: Option<f64>,
    /// Reverse steps from the start time; `None` = int(N·t_start). Ignored by rk45.
    pub steps: Option<usize>,
    pub denoise: Option<bool>,
    /// Class labels: one per image, or one for all; required by a conditional model (`LabelError::Missing`),
    /// refused by an unconditional one. Names become indices through `Model::label_index`.
    pub labels: Option<Vec<i64>>,
    /// Classifier-free guidance scale w ≥ 0: score (1 + w)·s(x|y) − w·s(x|null), two score evaluations per
    /// step. Needs a bundle whose score takes the null label (`score.null_label`). `None` = the bundle's default
    /// (none unless `sampler.guidance`); `Some(0.0)` = none.
    pub guidance: Option<f64>,
    /// Images stepped together (memory bound: 6 floats per value); 0 = min(n, 256). Never changes the images.
    pub batch_size: usize,
    /// Write SDE-space values instead of pixels in [0, 1].
    pub raw: bool,
}

/// Where a run is, for progress observers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    pub phase: Phase,
    /// Step within the current chunk and the chunk's number of steps (1 and 1 for the flow phase).
    pub step: usize,
    pub steps: usize,
    /// Images finished so far, and in total.
    pub done: usize,
    pub total: usize,
    /// Images in the current batch (stepped together).
    pub batch: usize,
}

impl Progress {
    /// Overall fraction in [0, 1]: the images done plus the current batch's share of its steps. A batch counts as
    /// at most 99.9% until its images are written, so 1 means finished.
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            return 1.0;
        }
        let within = if self.steps == 0 { 0.0 } else { self.step as f64 / self.steps as f64 };
        ((self.done as f64 + self.batch as f64 * within * 0.999) / self.total as f64).min(1.0)
    }
}

/// Largest `steps` accepted: the paper's N is 1000; a million is far beyond any use and still cancellable.
pub const MAX_STEPS: usize = 1_000_000;
/// Largest `corrector_steps` accepted (score_sde uses 1).
pub const MAX_CORRECTOR_STEPS: usize = 1_000;

/// Where generated images go, batch by batch: NCHW floats, or RGBA8 bytes converted one batch at a time (no float
/// copy of all images is ever made).
pub enum Output<'a> {
    F32(&'a mut [f32]),
    Rgba8(&'a mut [u8]),
}

impl Output<'_> {
    fn clear(&mut self, len: usize) {
        match self {
            Output::F32(o) => o[..len].fill(0.0),
            Output::Rgba8(o) => o[..len].fill(0),
        }
    }
}

/// A validated request with its working memory allocated: everything that can fail before sampling starts has
/// failed or succeeded by now (`Model::prepare`). Running it (`Model::run`) allocates nothing that grows with n.
pub struct Prepared {
    pub n: usize,
    first_index: u64,
    raw: bool,
    seed: u64,
    chunk: usize,
    cfg: SamplerConfig,
    labels: Option<Vec<i64>>,
    /// Guidance only: the null label for a whole batch, and the unconditional score's output.
    null_labels: Vec<i64>,
    uncond: Vec<f32>,
    flow: Option<usize>,
    batch: Batch,
    /// The flow's output for one batch, swapped with batch.x.
    flow_out: Vec<f32>,
    /// The score network's t input for one batch.
    ts: Vec<f32>,
}

impl Prepared {
    pub fn config(&self) -> &SamplerConfig {
        &self.cfg
    }
}

/// What a run did.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleReport {
    /// The seed actually used (the random one, when none was given).
    pub seed: u64,
    pub config: SamplerConfig,
    /// Score evaluations per image, counting only calls actually made (rk45: a batch runs until its slowest image
    /// is done, so this is the mean over chunks of the evaluations each image's slot received). With guidance each
    /// step's score costs two evaluations (conditional and null label), and both are counted.
    pub score_evals: usize,
    /// Evaluations of the start's network per image (1 for the flow and Gaussian starts, else 0).
    pub flow_evals: usize,
    /// Backend calls made (each covers a whole lockstep batch).
    pub network_calls: usize,
    pub seconds: f64,
    /// Time spent inside networks; the rest is the loop's own overhead.
    pub network_seconds: f64,
}

/// Static facts about a loaded model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    pub name: String,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub classes: u32,
    /// Class names (manifest `labels`), empty when the bundle has none.
    pub labels: Vec<String>,
    /// Whether the score takes the null label, i.e. classifier-free guidance is possible.
    pub guidance: bool,
    pub sde: SdeKind,
    /// T_m of each flow, ascending.
    pub t_ms: Vec<f64>,
    /// T_m of each Gaussian start (manifest `gaussians`), ascending.
    pub gaussian_t_ms: Vec<f64>,
    pub has_prior_start: bool,
    pub backend: BackendInfo,
}

pub(crate) struct Flow {
    pub(crate) t_m: f64,
    pub(crate) conditional: bool,
    pub(crate) net: Box<dyn Network>,
    /// The density graph's file name and bytes, compiled only when a likelihood asks for it (sampling never does).
    pub(crate) density: Option<(String, Vec<u8>)>,
}

pub struct Model {
    pub(crate) bundle: Bundle,
    pub(crate) backend: Box<dyn Backend>,
    pub(crate) score: Box<dyn Network>,
    pub(crate) flows: Vec<Flow>,
    /// The Gaussian starts: flows in every respect the runtime sees (same contract), from `gaussians`.
    pub(crate) gaussians: Vec<Flow>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("dir", &self.bundle.dir).field("backend", &self.backend.info().name).finish()
    }
}

/// The contract's specs for the score and flow networks of a bundle.
pub fn score_spec(bundle: &Bundle) -> NetSpec {
    let im = &bundle.manifest.image;
    let chw = vec![im.channels, im.height, im.width];
    let mut inputs = vec![("x".to_string(), DType::F32, chw.clone()), ("t".to_string(), DType::F32, vec![])];
    if bundle.manifest.classes > 0 {
        inputs.push(("y".to_string(), DType::I64, vec![]));
    }
    NetSpec { role: "score".into(), inputs, outputs: vec![("score".into(), chw)] }
}

pub fn flow_spec(bundle: &Bundle, t_m: f64, conditional: bool) -> NetSpec {
    let im = &bundle.manifest.image;
    let mut inputs = vec![("z".to_string(), DType::F32, vec![im.dim()])];
    if conditional {
        inputs.push(("y".to_string(), DType::I64, vec![]));
    }
    NetSpec {
        role: format!("flow(t_m={t_m})"),
        inputs,
        outputs: vec![("x".into(), vec![im.channels, im.height, im.width])],
    }
}

impl Model {
    /// Loads and validates a bundle directory and compiles its networks on the chosen backend.
    pub fn load(dir: impl AsRef<Path>, opts: &LoadOptions) -> Result<Model> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(Error::MissingFile(dir));
        }
        Self::load_source(&Source::Dir(dir), opts)
    }

    /// Loads a bundle held in memory: the manifest's bytes and every file it names, by name.
    pub fn load_from_memory(manifest: &[u8], blobs: &[(&str, &[u8])], opts: &LoadOptions) -> Result<Model> {
        let blobs = blobs.iter().map(|(n, b)| (n.to_string(), *b)).collect();
        Self::load_source(&Source::Memory { manifest, blobs }, opts)
    }

    fn load_source(src: &Source<'_>, opts: &LoadOptions) -> Result<Model> {
        let bundle = Bundle::open_source(src, !opts.skip_checksums)?;
        let backend = backend::create(opts)?;
        let load = |file: &str, spec: &NetSpec| load_network(&*backend, &bundle.file(file), &src.read(file)?, spec);
        let score = load(&bundle.manifest.score.file, &score_spec(&bundle))?;
        let load_starts = |start: Start| -> Result<Vec<Flow>> {
            let mut nets = Vec::new();
            for f in bundle.manifest.start_specs(start) {
                let mut spec = flow_spec(&bundle, f.t_m, f.conditional);
                spec.role = format!("{start}(t_m={})", f.t_m);
                let net = load(&f.file, &spec)?;
                let density = match &f.density_file {
                    Some(d) => Some((d.clone(), src.read(d)?.into_owned())),
                    None => None,
                };
                nets.push(Flow { t_m: f.t_m, conditional: f.conditional, net, density });
            }
            nets.sort_by(|a, b| a.t_m.total_cmp(&b.t_m));
            Ok(nets)
        };
        let (flows, gaussians) = (load_starts(Start::Flow)?, load_starts(Start::Gaussian)?);
        crate::log::log(
            crate::log::Level::Info,
            &format!(
                "loaded bundle '{}' from {} on {}",
                bundle.manifest.name,
                bundle.dir.display(),
                backend.info().name
            ),
        );
        Ok(Model { bundle, backend, score, flows, gaussians })
    }

    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    pub fn sde(&self) -> &Sde {
        &self.bundle.sde
    }

    pub fn info(&self) -> ModelInfo {
        let m = &self.bundle.manifest;
        ModelInfo {
            name: m.name.clone(),
            channels: m.image.channels,
            height: m.image.height,
            width: m.image.width,
            classes: m.classes,
            labels: m.labels.clone().unwrap_or_default(),
            guidance: m.score.null_label.is_some(),
            sde: m.sde.kind,
            t_ms: self.flows.iter().map(|f| f.t_m).collect(),
            gaussian_t_ms: self.gaussians.iter().map(|f| f.t_m).collect(),
            has_prior_start: m.score.t_max >= 1.0,
            backend: self.backend.info(),
        }
    }

    /// Values per image (C·H·W).
    pub fn image_len(&self) -> usize {
        self.bundle.manifest.image.dim()
    }

    /// Resolves the options against the bundle's and the runtime's defaults, refusing inconsistent choices.
    pub fn resolve(&self, o: &SampleOptions) -> Result<SamplerConfig> {
        let m = &self.bundle.manifest;
        let d = &m.sampler;
        let sde = &self.bundle.sde;
        let start = o.start.unwrap_or_else(|| m.default_start());
        let t_start = match start {
            Start::Flow | Start::Gaussian => {
                let nets = self.start_nets(start);
                let Some(last) = nets.last() else {
                    let others = Start::ALL.iter().copied().filter(|&s| s != start && self.start_possible(s)).collect();
                    return Err(StartError::Absent { start, others }.into());
                };
                // The bundle's T_m belongs to its default start: it applies when this start has a network there,
                // else this start's largest T_m (the one closest to the prior).
                let bundle_t = d.t_m.filter(|&t| nets.iter().any(|f| (f.t_m - t).abs() < 1e-6));
                let t = o.t_m.or(bundle_t).unwrap_or(last.t_m);
                self.start_net(start, t)?.t_m
            }
            Start::Prior => {
                if m.score.t_max < 1.0 {
                    return Err(Error::invalid(format!(
                        "start 'prior' needs a score trained up to t = 1; this one stops at {}",
                        m.score.t_max
                    )));
                }
                if o.t_m.is_some() {
                    return Err(Error::invalid("t_m selects a flow; it has no meaning with start 'prior'"));
                }
                1.0
            }
        };
        let ve = sde.kind == SdeKind::Ve;
        let method = o.method.or(o.solver.map(Solver::method)).or(d.method).unwrap_or(Method::Sde);
        // A bundle's default SDE solver (dpmpp_2m_sde) gives way to what the caller picked instead: an explicit
        // predictor or corrector (the predictor/corrector sampler) or method 'ode' (the ODE solvers' default).
        let bundle_solver = d.solver.filter(|s| {
            s.method() != Method::Sde || (method == Method::Sde && o.predictor.is_none() && o.corrector.is_none())
        });
        // Set aside, it takes its step count and grid with it (9 steps suit dpmpp_2m_sde, not Euler–Maruyama).
        let set_aside = d.solver.is_some() && bundle_solver.is_none();
        let solver = o.solver.or(bundle_solver).unwrap_or(Solver::Heun);
        // The manifest's grid was chosen for the manifest's own solver; any other solver gets the grid it is accurate
        // with (`Solver::default_schedule`), the caller's always wins.
        let own = !set_aside && d.solver.unwrap_or(Solver::Heun) == solver;
        let mut cfg = SamplerConfig {
            start,
            t_start,
            temperature: o.temperature.or(d.temperature).unwrap_or(1.0),
            // A solver chosen without a method brings its own (so `solver: dpmpp_2m` alone is not ignored).
            method,
            predictor: o.predictor.or(d.predictor).unwrap_or(if ve {
                Predictor::ReverseDiffusion
            } else {
                Predictor::EulerMaruyama
            }),
            corrector: o.corrector.or(d.corrector).unwrap_or(if ve { Corrector::Langevin } else { Corrector::None }),
            snr: o.snr.or(d.snr).unwrap_or(0.16),
            corrector_steps: o.corrector_steps.or(d.corrector_steps).unwrap_or(1),
            langevin_norm: o.langevin_norm.or(d.langevin_norm).unwrap_or(LangevinNorm::PerSample),
            solver,
            schedule: o.schedule.or(d.schedule.filter(|_| own)).unwrap_or(solver.default_schedule()),
            rtol: o.rtol.or(d.rtol).unwrap_or(1e-5),
            atol: o.atol.or(d.atol).unwrap_or(1e-5),
            churn: o.churn.or(d.churn).unwrap_or(0.0),
            steps: o.steps.or(d.steps.filter(|_| !set_aside)).unwrap_or_else(|| sde.default_steps(t_start)),
            denoise: o.denoise.or(d.denoise).unwrap_or(true),
            guidance: o.guidance.or(d.guidance).unwrap_or(0.0),
        };
        // The predictor/corrector sampler steps on the uniform-t grid, so that is what its config says.
        if cfg.predictor_corrector() {
            cfg.schedule = Schedule::Time;
        }
        self.check_solver(o, &cfg)?;
        if !(cfg.guidance >= 0.0 && cfg.guidance.is_finite()) {
            return Err(Error::invalid(format!("guidance must be ≥ 0, got {}", cfg.guidance)));
        }
        if cfg.guidance > 0.0 && m.score.null_label.is_none() {
            return Err(Error::invalid(format!(
                "guidance {} needs a score trained with a null label (manifest score.null_label); this bundle has none",
                cfg.guidance
            )));
        }
        if !(cfg.temperature > 0.0 && cfg.temperature.is_finite()) {
            return Err(Error::invalid(format!("temperature must be > 0, got {}", cfg.temperature)));
        }
        if !(cfg.snr > 0.0 && cfg.snr.is_finite()) {
            return Err(Error::invalid(format!("snr must be > 0, got {}", cfg.snr)));
        }
        if cfg.steps == 0 || cfg.corrector_steps == 0 {
            return Err(Error::invalid("steps and corrector_steps must be ≥ 1"));
        }
        if cfg.steps > MAX_STEPS {
            return Err(Error::invalid(format!("steps = {} is unreasonably large (limit {MAX_STEPS})", cfg.steps)));
        }
        if cfg.corrector_steps > MAX_CORRECTOR_STEPS {
            // A manifest asking for 2^64 corrector steps would otherwise run forever (found by tests/fuzz_loader.rs).
            return Err(Error::invalid(format!(
                "corrector_steps = {} is unreasonably large (limit {MAX_CORRECTOR_STEPS})",
                cfg.corrector_steps
            )));
        }
        if cfg.method == Method::Sde && cfg.predictor == Predictor::None && cfg.corrector == Corrector::None {
            return Err(Error::invalid("predictor and corrector are both 'none': nothing would be sampled"));
        }
        if cfg.method == Method::Sde && cfg.predictor == Predictor::Ancestral && sde.kind == SdeKind::Subvp {
            return Err(Error::invalid(
                "ancestral sampling is not defined for the sub-VP SDE (use euler_maruyama or reverse_diffusion)",
            ));
        }
        Ok(cfg)
    }

    /// The solver options' own rules. A caller's explicit choice that the resolved sampler would ignore is an error
    /// (it must not pass silently); the bundle's defaults for other solvers are simply not used.
    fn check_solver(&self, o: &SampleOptions, cfg: &SamplerConfig) -> Result<()> {
        if cfg.method == Method::Ode && cfg.solver == Solver::Dpmpp2mSde {
            return Err(Error::invalid(
                "solver dpmpp_2m_sde samples the reverse SDE: use method 'sde' (or dpmpp_2m for the ODE)",
            ));
        }
        if !(cfg.rtol >= 1e-7 && cfg.rtol < 1.0 && cfg.atol > 0.0 && cfg.atol.is_finite()) {
            return Err(Error::invalid(format!(
                "rk45 needs 1e-7 ≤ rtol < 1 (the state is f32) and atol > 0, got rtol {}, atol {}",
                cfg.rtol, cfg.atol
            )));
        }
        if !(cfg.churn >= 0.0 && cfg.churn.is_finite()) {
            return Err(Error::invalid(format!("churn must be ≥ 0, got {}", cfg.churn)));
        }
        let used = |s: Solver| !cfg.predictor_corrector() && cfg.solver == s;
        if o.schedule.is_some_and(|s| s != Schedule::Time) && (cfg.predictor_corrector() || cfg.solver == Solver::Rk45)
        {
            return Err(Error::invalid(format!(
                "schedule '{}' applies to the fixed-step solvers (euler, heun, dpmpp_2m, dpmpp_2m_sde, edm_heun), not to {}",
                o.schedule.unwrap(), if cfg.predictor_corrector() { "the predictor/corrector sampler" } else { "rk45" })));
        }
        if (o.rtol.is_some() || o.atol.is_some()) && !used(Solver::Rk45) {
            return Err(Error::invalid("rtol/atol apply to solver rk45 only"));
        }
        if o.churn.is_some_and(|c| c > 0.0) && !used(Solver::EdmHeun) {
            return Err(Error::invalid("churn applies to solver edm_heun only"));
        }
        Ok(())
    }

    /// The networks of a start at T_m (flows or Gaussians), ascending in T_m; empty for the prior.
    pub(crate) fn start_nets(&self, start: Start) -> &[Flow] {
        match start {
            Start::Flow => &self.flows,
            Start::Gaussian => &self.gaussians,
            Start::Prior => &[],
        }
    }

    fn start_possible(&self, start: Start) -> bool {
        match start {
            Start::Prior => self.bundle.manifest.score.t_max >= 1.0,
            s => !self.start_nets(s).is_empty(),
        }
    }

    /// The flow or Gaussian of `start` at `t_m` (to 1e-6), or the error naming the T_m values there are.
    pub(crate) fn start_net(&self, start: Start, t_m: f64) -> Result<&Flow> {
        let nets = self.start_nets(start);
        nets.iter()
            .find(|f| (f.t_m - t_m).abs() < 1e-6)
            .ok_or_else(|| StartError::NoTm { start, t_m, available: nets.iter().map(|f| f.t_m).collect() }.into())
    }

    /// The class a caller names: an index in [0, classes) or a class name of the manifest (ignoring case).
    pub fn label_index(&self, label: &str) -> Result<i64> {
        let m = &self.bundle.manifest;
        let label = label.trim();
        if m.classes == 0 {
            return Err(LabelError::Unconditional.into());
        }
        if let Ok(i) = label.parse::<i64>() {
            return if (0..m.classes as i64).contains(&i) {
                Ok(i)
            } else {
                Err(LabelError::OutOfRange { label: i, classes: m.classes }.into())
            };
        }
        let Some(names) = &m.labels else {
            return Err(LabelError::NoNames { name: label.to_string(), classes: m.classes }.into());
        };
        let wanted = label.to_lowercase();
        names.iter().position(|n| n.to_lowercase() == wanted).map(|i| i as i64).ok_or_else(|| {
            let valid = names.iter().enumerate().map(|(i, n)| format!("{i} {n}")).collect::<Vec<_>>().join(", ");
            LabelError::UnknownName { name: label.to_string(), valid }.into()
        })
    }

    /// Class label of every image, validated.
    pub(crate) fn labels(&self, o: &SampleOptions) -> Result<Option<Vec<i64>>> {
        let classes = self.bundle.manifest.classes as i64;
        let all = match (&o.labels, classes) {
            (None, 0) => return Ok(None),
            (Some(_), 0) => return Err(LabelError::Unconditional.into()),
            (None, c) => return Err(LabelError::Missing { classes: c as u32 }.into()),
            (Some(l), _) => {
                if l.len() != 1 && l.len() != o.n {
                    return Err(LabelError::Count { given: l.len(), n: o.n }.into());
                }
                if let Some(&bad) = l.iter().find(|&&y| y < 0 || y >= classes) {
                    return Err(LabelError::OutOfRange { label: bad, classes: classes as u32 }.into());
                }
                if l.len() == 1 {
                    try_filled(o.n, l[0], "the class labels")?
                } else {
                    let mut v = try_capacity(o.n, "the class labels")?;
                    v.extend_from_slice(l);
                    v
                }
            }
        };
        Ok(Some(all))
    }

    /// Validates a request completely and allocates its working memory. Every error a run can have before its first
    /// network call comes from here, so a job can report them when it starts.
    pub fn prepare(&self, o: &SampleOptions) -> Result<Prepared> {
        let cfg = self.resolve(o)?;
        // Image k uses index first_index + k; the last one must still fit in 64 bits.
        if o.n > 0 && o.first_index.checked_add(o.n as u64 - 1).is_none() {
            return Err(Error::invalid(format!(
                "first_index {} + n {} overflows the 64-bit image index",
                o.first_index, o.n
            )));
        }
        let labels = self.labels(o)?;
        let flow = match cfg.start {
            Start::Flow | Start::Gaussian => Some(
                self.start_nets(cfg.start)
                    .iter()
                    .position(|f| (f.t_m - cfg.t_start).abs() < 1e-6)
                    .ok_or_else(|| Error::Internal("resolved flow vanished".into()))?,
            ),
            Start::Prior => None,
        };
        let chunk = (if o.batch_size == 0 { o.n.min(256) } else { o.batch_size.min(o.n) }).max(1);
        let dim = self.image_len();
        let ode = cfg.method == Method::Ode;
        // The solver's own buffers are reserved here too, so that no step allocates (rk45 reserves its stages itself).
        let fixed_step = !cfg.predictor_corrector();
        let derivative = ode || (fixed_step && cfg.solver == Solver::Dpmpp2mSde);
        let two_stage =
            fixed_step && matches!(cfg.solver, Solver::Heun | Solver::Dpmpp2m | Solver::Dpmpp2mSde | Solver::EdmHeun);
        let batch = Batch::try_new(dim, chunk, derivative, two_stage)?;
        let flow_out = if flow.is_some() { try_filled(batch.x.len(), 0f32, "the flow's output")? } else { Vec::new() };
        let ts = try_capacity(chunk, "the time input")?;
        let (null_labels, uncond) = match self.bundle.manifest.score.null_label {
            Some(null) if cfg.guidance > 0.0 => (
                try_filled(chunk, null as i64, "the null labels")?,
                try_filled(batch.x.len(), 0f32, "the unconditional score")?,
            ),
            _ => (Vec::new(), Vec::new()),
        };
        let seed = o.seed.unwrap_or_else(rng::random_seed);
        Ok(Prepared {
            n: o.n,
            first_index: o.first_index,
            raw: o.raw,
            seed,
            chunk,
            cfg,
            labels,
            null_labels,
            uncond,
            flow,
            batch,
            flow_out,
            ts,
        })
    }

    /// Generates `o.n` images into `out` (n × C × H × W floats, NCHW; pixels in [0, 1] unless `o.raw`).
    /// `observe` is called before the flow and after every step and may return false to cancel (→ `Error::Cancelled`).
    /// On failure `out` is either untouched (the request was refused before sampling started) or its first
    /// n × C × H × W values are zero (it failed or was cancelled later): never partial images.
    pub fn sample(
        &self,
        o: &SampleOptions,
        out: &mut [f32],
        observe: &mut dyn FnMut(&Progress) -> bool,
    ) -> Result<SampleReport> {
        let needed = o.n.checked_mul(self.image_len()).ok_or_else(|| Error::invalid("n × image size overflows"))?;
        if out.len() < needed {
            return Err(Error::BufferTooSmall { needed, got: out.len() });
        }
        let mut p = self.prepare(o)?;
        self.run(&mut p, Output::F32(out), observe, None)
    }

    /// Like `sample`, but packs pixels as RGBA8 (n × H × W × 4 bytes, row-major): 1 channel → grey, 3 → RGB,
    /// 4 → RGBA; alpha 255 otherwise. The layout a texture upload wants. Converted batch by batch.
    pub fn sample_rgba8(
        &self,
        o: &SampleOptions,
        out: &mut [u8],
        observe: &mut dyn FnMut(&Progress) -> bool,
    ) -> Result<SampleReport> {
        let needed = self.rgba8_needed(o.n)?;
        if out.len() < needed {
            return Err(Error::BufferTooSmall { needed, got: out.len() });
        }
        let mut p = self.prepare(o)?;
        p.raw = false; // RGBA8 is always pixels
        self.run(&mut p, Output::Rgba8(out), observe, None)
    }

    /// Bytes of n images as RGBA8, refusing channel counts without an RGBA8 packing.
    pub fn rgba8_needed(&self, n: usize) -> Result<usize> {
        let im = &self.bundle.manifest.image;
        if !matches!(im.channels, 1 | 3 | 4) {
            return Err(Error::invalid(format!(
                "RGBA8 output needs 1, 3 or 4 channels; this model has {}",
                im.channels
            )));
        }
        n.checked_mul(im.height * im.width * 4).ok_or_else(|| Error::invalid("n × image size overflows"))
    }

    /// Runs a prepared request. `cancel` (a job's flag) is checked before every network call; `observe` before the
    /// flow and after every step. On failure the first n images' worth of `out` is zeroed.
    pub fn run(
        &self,
        p: &mut Prepared,
        mut out: Output<'_>,
        observe: &mut dyn FnMut(&Progress) -> bool,
        cancel: Option<&AtomicBool>,
    ) -> Result<SampleReport> {
        let needed = match &out {
            Output::F32(_) => p.n * self.image_len(),
            Output::Rgba8(_) => self.rgba8_needed(p.n)?,
        };
        let got = match &out {
            Output::F32(o) => o.len(),
            Output::Rgba8(o) => o.len(),
        };
        if got < needed {
            return Err(Error::BufferTooSmall { needed, got });
        }
        let result = self.run_batches(p, &mut out, observe, cancel);
        if result.is_err() {
            out.clear(needed);
        }
        result
    }

    fn run_batches(
        &self,
        p: &mut Prepared,
        out: &mut Output<'_>,
        observe: &mut dyn FnMut(&Progress) -> bool,
        cancel: Option<&AtomicBool>,
    ) -> Result<SampleReport> {
        let started = Instant::now();
        let dim = self.image_len();
        let im = &self.bundle.manifest.image;
        let hw = im.height * im.width;
        let Prepared { n, first_index, raw, seed, chunk, cfg, labels, null_labels, uncond, flow, batch, flow_out, ts } =
            p;
        let (n, seed) = (*n, *seed);
        let guidance = Guidance { w: cfg.guidance as f32, null_labels, uncond };
        let mut eval = ScoreEval {
            net: &*self.score,
            labels: &[],
            guidance,
            calls: 0,
            net_time: Duration::ZERO,
            step: 0,
            cancel,
            ts,
        };
        // Network evaluations behind one score the loop asks for: two with guidance (conditional and null label).
        let per_score = if eval.guidance.active() { 2 } else { 1 };
        let mut done = 0;
        // Score evaluations summed over images: rk45 makes a different number per batch.
        let mut evals_times_images = 0;
        while done < n {
            let b = (*chunk).min(n - done);
            let first = *first_index + done as u64;
            batch.reset((0..b as u64).map(|k| SampleRng::new(seed, first + k)));
            let y = labels.as_ref().map(|l| &l[done..done + b]);
            let at =
                |phase: Phase, step: usize, steps: usize| Progress { phase, step, steps, done, total: n, batch: b };
            if let Some(f) = *flow {
                let flow = &self.start_nets(cfg.start)[f];
                if !observe(&at(Phase::Flow, 0, 1)) {
                    return Err(Error::Cancelled);
                }
                check_cancel(cancel)?;
                batch.draw_x(cfg.temperature as f32);
                flow_out.resize(batch.x.len(), 0.0);
                let t0 = Instant::now();
                let mut inputs = vec![Input::F32(&batch.x)];
                if flow.conditional {
                    inputs.push(Input::I64(
                        y.ok_or_else(|| Error::Internal("conditional flows need classes > 0".into()))?,
                    ));
                }
                flow.net.run(b, &inputs, &mut [&mut flow_out[..]])?;
                eval.net_time += t0.elapsed();
                eval.calls += 1;
                check_finite(flow_out, &flow.net.spec().role, 0)?;
                std::mem::swap(&mut batch.x, flow_out);
            } else {
                batch.draw_x(self.bundle.sde.prior_std() as f32);
            }
            eval.labels = y.unwrap_or(&[]);
            let mut step_observer = |phase: Phase, step: usize, steps: usize| observe(&at(phase, step, steps));
            evals_times_images +=
                b * per_score * sampler::run(&self.bundle.sde, cfg, batch, &mut eval, &mut step_observer)?;
            // The loop's own arithmetic can overflow too (beta_max = 2e27 gave NaN pixels, found by
            // tests/fuzz_loader.rs): never hand out a non-finite image.
            check_finite(&batch.x, "sampler (SDE arithmetic)", cfg.steps)?;
            match out {
                Output::F32(o) => self.write_output(&batch.x, *raw, &mut o[done * dim..(done + b) * dim]),
                Output::Rgba8(o) => {
                    self.to_pixels(&mut batch.x);
                    to_rgba8(&batch.x, b, im.channels, hw, &mut o[done * hw * 4..(done + b) * hw * 4]);
                }
            }
            done += b;
        }
        Ok(SampleReport {
            seed,
            score_evals: if n == 0 {
                per_score * sampler::score_evals(cfg).unwrap_or(0)
            } else {
                evals_times_images.div_ceil(n)
            },
            flow_evals: usize::from(cfg.start.from_t_m()),
            network_calls: eval.calls,
            seconds: started.elapsed().as_secs_f64(),
            network_seconds: eval.net_time.as_secs_f64(),
            config: cfg.clone(),
        })
    }

    fn write_output(&self, x: &[f32], raw: bool, out: &mut [f32]) {
        out.copy_from_slice(x);
        if !raw {
            self.to_pixels(out);
        }
    }

    /// SDE space to pixels in [0, 1], in place.
    fn to_pixels(&self, x: &mut [f32]) {
        let im = &self.bundle.manifest.image;
        let (a, b) = (im.pixel_scale as f32, im.pixel_offset as f32);
        for v in x {
            *v = (*v * a + b).clamp(0.0, 1.0);
        }
    }
}

pub(crate) fn check_cancel(cancel: Option<&AtomicBool>) -> Result<()> {
    if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
        Err(Error::Cancelled)
    } else {
        Ok(())
    }
}

/// Loads one network: the file's claims about its own tensors are checked first (`backend::onnx_limits`), and a
/// panic in a backend's parser (tract panics on some hostile graphs, found by tests/fuzz_loader.rs) marks a bad
/// file, so it becomes `InvalidOnnx`.
pub(crate) fn load_network(
    backend: &dyn Backend,
    path: &Path,
    bytes: &[u8],
    spec: &NetSpec,
) -> Result<Box<dyn Network>> {
    let load = || {
        #[cfg(feature = "tract")]
        backend::onnx_limits::check_onnx_bytes(bytes)
            .map_err(|msg| Error::InvalidOnnx { path: path.to_path_buf(), msg })?;
        backend.load_bytes(path, bytes, spec)
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(load)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(Error::InvalidOnnx {
            path: path.to_path_buf(),
            msg: format!("the {} backend panicked while loading it: {what}", backend.info().name),
        })
    })
}

/// Packs NCHW pixels in [0, 1] as RGBA8.
pub fn to_rgba8(pixels: &[f32], n: usize, channels: usize, hw: usize, out: &mut [u8]) {
    let q = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    for k in 0..n {
        let img = &pixels[k * channels * hw..(k + 1) * channels * hw];
        for p in 0..hw {
            let o = &mut out[(k * hw + p) * 4..(k * hw + p) * 4 + 4];
            match channels {
                1 => {
                    let g = q(img[p]);
                    o.copy_from_slice(&[g, g, g, 255]);
                }
                _ => {
                    for c in 0..3 {
                        o[c] = q(img[c * hw + p]);
                    }
                    o[3] = if channels == 4 { q(img[3 * hw + p]) } else { 255 };
                }
            }
        }
    }
}

pub(crate) fn check_finite(v: &[f32], network: &str, step: usize) -> Result<()> {
    if v.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(Error::NonFinite { network: network.to_string(), step })
    }
}

/// The score network behind `ScoreFn`: feeds t and labels, checks the output, counts calls and time, and stops
/// before the call when the job was cancelled (a network call is the unit of work that cannot be interrupted).
pub(crate) struct ScoreEval<'a> {
    pub(crate) net: &'a dyn Network,
    pub(crate) labels: &'a [i64],
    pub(crate) guidance: Guidance<'a>,
    pub(crate) calls: usize,
    pub(crate) net_time: Duration,
    pub(crate) step: usize,
    pub(crate) cancel: Option<&'a AtomicBool>,
    pub(crate) ts: &'a mut Vec<f32>,
}

impl ScoreFn for ScoreEval<'_> {
    fn eval(&mut self, x: &[f32], t: f64, out: &mut [f32]) -> Result<()> {
        check_cancel(self.cancel)?;
        let b = out.len() / self.net.spec().output_len(0);
        let mut ts = std::mem::take(&mut *self.ts);
        ts.clear();
        ts.resize(b, t as f32);
        let result = self.run(x, &ts, out);
        *self.ts = ts;
        result
    }

    fn eval_each(&mut self, x: &[f32], t: &[f64], out: &mut [f32]) -> Result<()> {
        check_cancel(self.cancel)?;
        // The buffer's capacity is the batch's, reserved fallibly up front: no allocation here.
        let mut ts = std::mem::take(&mut *self.ts);
        ts.clear();
        ts.extend(t.iter().map(|&t| t as f32));
        let result = self.run(x, &ts, out);
        *self.ts = ts;
        result
    }
}

/// Classifier-free guidance: the null label and a buffer for s(x|null), both sized for a batch when w > 0.
pub(crate) struct Guidance<'a> {
    pub(crate) w: f32,
    pub(crate) null_labels: &'a [i64],
    pub(crate) uncond: &'a mut Vec<f32>,
}

impl Guidance<'_> {
    fn active(&self) -> bool {
        self.w > 0.0 && !self.null_labels.is_empty()
    }
}

impl ScoreEval<'_> {
    fn run(&mut self, x: &[f32], ts: &[f32], out: &mut [f32]) -> Result<()> {
        self.call(x, ts, self.labels, out)?;
        if self.guidance.active() {
            let b = ts.len();
            let mut uncond = std::mem::take(&mut *self.guidance.uncond);
            uncond.resize(out.len(), 0.0); // within the capacity reserved for a batch
            let result = self.call(x, ts, &self.guidance.null_labels[..b], &mut uncond);
            let w = self.guidance.w;
            for (s, u) in out.iter_mut().zip(&uncond) {
                *s = (1.0 + w) * *s - w * u;
            }
            *self.guidance.uncond = uncond;
            result?;
        }
        Ok(())
    }

    /// One network evaluation with the given labels (empty: an unconditional model).
    fn call(&mut self, x: &[f32], ts: &[f32], labels: &[i64], out: &mut [f32]) -> Result<()> {
        let mut inputs = vec![Input::F32(x), Input::F32(ts)];
        if !labels.is_empty() {
            inputs.push(Input::I64(labels));
        }
        let t0 = Instant::now();
        self.net.run(ts.len(), &inputs, &mut [out])?;
        self.net_time += t0.elapsed();
        self.calls += 1;
        self.step += 1;
        check_finite(out, "score", self.step)
    }
}
