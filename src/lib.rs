//! dinof: generate images with DiNof models (diffusion with a normalizing-flow prior).
//!
//! A model is a *bundle* (docs/bundle-format.md): a manifest plus ONNX score and flow networks. Sampling draws
//! z ~ N(0, τ²I), maps it through the flow to x(T_m) and runs the reverse SDE (or probability-flow ODE) from T_m
//! to eps; a bundle without flows is a plain diffusion model sampled from the SDE prior.
//!
//! ```
//! use dinof::{LoadOptions, Model, SampleOptions};
//! // The shipped MNIST bundle, relative to the repository root (where `cargo test --doc` runs this example).
//! let model = Model::load("onnx/models/mnist", &LoadOptions::default())?;
//! let opts = SampleOptions { n: 4, seed: Some(1), ..Default::default() };
//! let mut pixels = vec![0f32; opts.n * model.image_len()];
//! let report = model.sample(&opts, &mut pixels, &mut |_| true)?;
//! println!("seed {} with {} score evaluations per image", report.seed, report.score_evals);
//! assert!(pixels.iter().all(|p| (0.0..=1.0).contains(p)));
//! # Ok::<(), dinof::Error>(())
//! ```

pub mod backend;
pub mod bundle;
pub mod error;
pub mod ffi;
pub mod likelihood;
pub mod log;
pub mod model;
pub mod names;
pub mod npy;
pub mod output;
pub mod pixels;
pub mod rng;
pub mod sampler;
pub mod sde;
pub mod threads;

pub use backend::{BackendInfo, BackendKind, ExecutionProvider, LoadOptions, OrtOptions};
pub use bundle::{Bundle, Manifest};
pub use error::{Error, LabelError, Result, StartError};
pub use likelihood::{Dequantize, ImageLikelihood, LikelihoodOptions, LikelihoodReport};
pub use model::{
    Model, ModelInfo, Output, Prepared, Progress, SampleOptions, SampleReport, MAX_CORRECTOR_STEPS, MAX_STEPS,
};
pub use sampler::{
    Corrector, LangevinNorm, Method, Phase, Predictor, SamplerChoices, SamplerConfig, Schedule, Solver, Start,
};
pub use sde::{Sde, SdeKind};

/// The crate version, also reported through the C ABI.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
