//! The sampling API's types: what to generate (`SampleOptions`), where images go (`Output`), progress, and what a
//! run did (`SampleReport`).

use crate::sampler::{Phase, SamplerChoices, SamplerConfig};

pub use crate::sampler::{MAX_CORRECTOR_STEPS, MAX_STEPS};

macro_rules! define_sample_options {
    ($($(#[doc = $doc:expr])* $field:ident: $ty:ty,)+) => {
        /// What to generate. The sampler settings (those of `SamplerChoices`, one field each) take the bundle's
        /// defaults when `None`, then the runtime's.
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct SampleOptions {
            /// Number of images.
            pub n: usize,
            /// `None` = a random seed, reported back in `SampleReport::seed`.
            pub seed: Option<u64>,
            /// Global index of the first image: image k of this call uses noise stream (seed, first_index + k), so
            /// a large job can be split into calls (or machines) that together give exactly the images of one call.
            pub first_index: u64,
            $($(#[doc = $doc])* pub $field: Option<$ty>,)+
            /// Class labels: one per image, or one for all; required by a conditional model
            /// (`LabelError::Missing`), refused by an unconditional one. Names become indices through
            /// `Model::label_index`.
            pub labels: Option<Vec<i64>>,
            /// Images stepped together (memory bound: 6 floats per value); 0 = min(n, 256). Never changes the
            /// images.
            pub batch_size: usize,
            /// Write SDE-space values instead of pixels in [0, 1].
            pub raw: bool,
        }

        impl SampleOptions {
            /// The sampler settings these options choose.
            pub fn choices(&self) -> SamplerChoices {
                SamplerChoices { $($field: self.$field),+ }
            }

            /// These options with the sampler settings `c` (all of them, chosen or not).
            pub fn with_choices(self, c: SamplerChoices) -> Self {
                SampleOptions { $($field: c.$field,)+ ..self }
            }
        }
    };
}
crate::sampler::choices::sampler_settings!(define_sample_options);

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

/// Where generated images go, batch by batch: NCHW floats, or RGBA8 bytes converted one batch at a time (no float
/// copy of all images is ever made).
pub enum Output<'a> {
    F32(&'a mut [f32]),
    Rgba8(&'a mut [u8]),
}

impl Output<'_> {
    pub(crate) fn clear(&mut self, len: usize) {
        match self {
            Output::F32(o) => o[..len].fill(0.0),
            Output::Rgba8(o) => o[..len].fill(0),
        }
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
    /// Flow evaluations per image (1 for the flow start, else 0).
    pub flow_evals: usize,
    /// Backend calls made (each covers a whole lockstep batch).
    pub network_calls: usize,
    pub seconds: f64,
    /// Time spent inside networks; the rest is the loop's own overhead.
    pub network_seconds: f64,
}
