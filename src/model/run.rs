//! The run driver: a request validated and its memory allocated (`prepare`), then sampled batch by batch (flow,
//! reverse loop, pixels), with cancellation, progress and the report.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::{Model, Output, Progress, SampleOptions, SampleReport};
use crate::backend::Input;
use crate::bundle::{Alpha, ALPHA_VISIBLE};
use crate::error::{try_capacity, try_filled, Error, Result};
use crate::rng::{self, SampleRng};
use crate::sampler::score::{check_finite, stop_if_cancelled, Guidance, ScoreEval};
use crate::sampler::{self, Batch, Phase, SamplerConfig, Start};

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

impl Model {
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
        let batch = Batch::for_config(dim, chunk, &cfg)?;
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
        let per_image = self.bundle.manifest.image.rgba8_len().map_err(Error::InvalidArgument)?;
        n.checked_mul(per_image).ok_or_else(|| Error::invalid("n × image size overflows"))
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
        let mut eval =
            ScoreEval { net: &*self.score, labels: &[], guidance, calls: 0, net_time: Duration::ZERO, cancel, ts };
        let per_score = eval.guidance.calls_per_eval();
        let mut done = 0;
        let mut flow_calls = 0;
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
                stop_if_cancelled(cancel)?;
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
                flow_calls += 1;
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
                    crate::pixels::to_rgba8(&batch.x, b, im.channels, hw, &mut o[done * hw * 4..(done + b) * hw * 4]);
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
            network_calls: eval.calls + flow_calls,
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

    /// SDE space to pixels in [0, 1], in place; straight alpha whatever the model's space.
    fn to_pixels(&self, x: &mut [f32]) {
        let im = &self.bundle.manifest.image;
        let (a, b) = (im.pixel_scale as f32, im.pixel_offset as f32);
        for v in x.iter_mut() {
            *v = (*v * a + b).clamp(0.0, 1.0);
        }
        if im.alpha == Alpha::Premultiplied {
            let plane = im.height * im.width;
            for img in x.chunks_exact_mut(4 * plane) {
                unpremultiply(img, plane);
            }
        }
    }
}

/// One RGBA image (4 planes of `plane` pixels, values in [0, 1]) from premultiplied to straight alpha, in place:
/// colour/alpha clamped to [0, 1] where alpha is visible, else a transparent pixel with zero colour. The same
/// rule as the exporter's (onnx/dinof_train/data.py, `unpremultiply`).
fn unpremultiply(img: &mut [f32], plane: usize) {
    let (rgb, alpha) = img.split_at_mut(3 * plane);
    for (i, a) in alpha.iter_mut().enumerate() {
        let visible = *a > ALPHA_VISIBLE;
        for c in 0..3 {
            let v = &mut rgb[c * plane + i];
            *v = if visible { (*v / *a).min(1.0) } else { 0.0 };
        }
        if !visible {
            *a = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpremultiply_divides_visible_alpha_and_clears_the_rest() {
        // 3 pixels: half-transparent red (premultiplied 0.25 of 0.5 alpha), invisible (alpha at the threshold),
        // colour above alpha after clamping (0.9 colour at alpha 0.5 → 1.0).
        let plane = 3;
        let mut img = vec![
            0.25,
            0.3,
            0.9, // R
            0.0,
            0.2,
            0.1, // G
            0.5,
            0.1,
            0.45, // B
            0.5,
            ALPHA_VISIBLE,
            0.5, // A
        ];
        unpremultiply(&mut img, plane);
        assert_eq!(&img[9..], &[0.5, 0.0, 0.5]);
        assert_eq!([img[0], img[3], img[6]], [0.5, 0.0, 1.0]);
        assert_eq!([img[1], img[4], img[7]], [0.0, 0.0, 0.0]);
        assert_eq!([img[2], img[5], img[8]], [1.0, 0.2, 0.9]);
    }
}
