//! A loaded model: a validated bundle plus its compiled networks. Immutable after loading, so one model serves
//! any number of threads; all per-run state lives in a `Prepared` request (validated, memory allocated) and the run.
//!
//! Loading and the networks' contract are here; the API's types in `options`, the option policy (resolving a
//! request, labels) in `policy`, and the run driver in `run`.

mod options;
mod policy;
mod run;

use std::path::Path;

use crate::backend::{self, Backend, BackendInfo, DType, LoadOptions, NetSpec, Network};
use crate::bundle::{Bundle, Source};
use crate::error::{Error, Result};
use crate::sampler::Start;
use crate::sde::{Sde, SdeKind};

pub use options::{Output, Progress, SampleOptions, SampleReport, MAX_CORRECTOR_STEPS, MAX_STEPS};
pub use policy::check_label_count;
pub use run::Prepared;

pub use crate::pixels::to_rgba8;

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
        let what = crate::error::panic_message(&*payload);
        Err(Error::InvalidOnnx {
            path: path.to_path_buf(),
            msg: format!("the {} backend panicked while loading it: {what}", backend.info().name),
        })
    })
}
