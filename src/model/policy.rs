//! Option policy: a request's sampler choices resolved against the bundle (`sampler::resolve` states the rules),
//! the flow a T_m names, and class labels.

use super::{Flow, Model, SampleOptions};
use crate::error::{try_capacity, try_filled, LabelError, Result, StartError};
use crate::sampler::{self, SamplerConfig, Start};

impl Model {
    /// Resolves the options against the bundle's and the runtime's defaults, refusing inconsistent choices
    /// (`sampler::resolve` states every rule).
    pub fn resolve(&self, o: &SampleOptions) -> Result<SamplerConfig> {
        let m = &self.bundle.manifest;
        let (t_ms, gaussian_t_ms) = (self.start_t_ms(Start::Flow), self.start_t_ms(Start::Gaussian));
        sampler::resolve(&o.choices(), &m.sampler, &m.facts(&self.bundle.sde, &t_ms, &gaussian_t_ms), "")
    }

    /// The networks of a start at T_m (flows or Gaussians), ascending in T_m; empty for the prior.
    pub(crate) fn start_nets(&self, start: Start) -> &[Flow] {
        match start {
            Start::Flow => &self.flows,
            Start::Gaussian => &self.gaussians,
            Start::Prior => &[],
        }
    }

    fn start_t_ms(&self, start: Start) -> Vec<f64> {
        self.start_nets(start).iter().map(|f| f.t_m).collect()
    }

    /// The flow or Gaussian of `start` at `t_m` (to 1e-6), or the error naming the T_m values there are.
    pub(crate) fn start_net(&self, start: Start, t_m: f64) -> Result<&Flow> {
        let nets = self.start_nets(start);
        nets.iter()
            .find(|f| (f.t_m - t_m).abs() < 1e-6)
            .ok_or_else(|| StartError::NoTm { start, t_m, available: self.start_t_ms(start) }.into())
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
                check_label_count(l.len(), o.n)?;
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
}

/// One label for all images, or one per image: any other count leaves images without one.
pub fn check_label_count(given: usize, n: usize) -> std::result::Result<(), LabelError> {
    if given == 1 || given == n {
        Ok(())
    } else {
        Err(LabelError::Count { given, n })
    }
}
