//! The score network as the sampler sees it (`ScoreFn`): t and labels fed, classifier-free guidance mixed in, the
//! output checked, calls counted and timed, cancellation honoured between calls.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::ScoreFn;
use crate::backend::{Input, Network};
use crate::error::{Error, Result};

/// Stops before a network call when the job was cancelled (a network call is the unit of work that cannot be
/// interrupted).
pub(crate) fn stop_if_cancelled(cancel: Option<&AtomicBool>) -> Result<()> {
    if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
        Err(Error::Cancelled)
    } else {
        Ok(())
    }
}

pub(crate) fn check_finite(v: &[f32], network: &str, step: usize) -> Result<()> {
    if v.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(Error::NonFinite { network: network.to_string(), step })
    }
}

/// The score network behind `ScoreFn`: feeds t and labels, checks the output, counts its network calls (two per
/// evaluation with guidance) and their time, and stops before a call when the job was cancelled.
pub(crate) struct ScoreEval<'a> {
    pub(crate) net: &'a dyn Network,
    pub(crate) labels: &'a [i64],
    pub(crate) guidance: Guidance<'a>,
    pub(crate) calls: usize,
    pub(crate) net_time: Duration,
    pub(crate) cancel: Option<&'a AtomicBool>,
    pub(crate) ts: &'a mut Vec<f32>,
}

impl ScoreFn for ScoreEval<'_> {
    fn eval(&mut self, x: &[f32], t: f64, out: &mut [f32]) -> Result<()> {
        stop_if_cancelled(self.cancel)?;
        let b = out.len() / self.net.spec().output_len(0);
        let mut ts = std::mem::take(&mut *self.ts);
        ts.clear();
        ts.resize(b, t as f32);
        let result = self.run(x, &ts, out);
        *self.ts = ts;
        result
    }

    fn eval_each(&mut self, x: &[f32], t: &[f64], out: &mut [f32]) -> Result<()> {
        stop_if_cancelled(self.cancel)?;
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

    /// Network calls behind one score evaluation: two with guidance (conditional and null label).
    pub(crate) fn calls_per_eval(&self) -> usize {
        if self.active() {
            2
        } else {
            1
        }
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
        check_finite(out, "score", self.calls)
    }
}
