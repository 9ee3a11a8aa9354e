//! A bundle is a directory holding `dinof.json` and ONNX files (docs/bundle-format.md). This module parses and
//! validates the manifest and the files it names; checking the networks' signatures is the model loader's job.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::sampler::{self, BundleFacts, SamplerChoices, Start};
use crate::sde::{Sde, SdeKind};

mod source;
use source::resolve_inside;
pub use source::{check_name, Source, MAX_MANIFEST_BYTES};

pub const MANIFEST_FILE: &str = "dinof.json";
pub const FORMAT: &str = "dinof-bundle";
pub const FORMAT_VERSION: u64 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub format_version: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub image: ImageSpec,
    pub sde: SdeSpec,
    #[serde(default)]
    pub classes: u32,
    /// Optional class names, one per class (index order); `None` for a bundle without names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    pub score: ScoreSpec,
    #[serde(default)]
    pub flows: Vec<FlowSpec>,
    /// The fitted Gaussian of x(T_m) for the Gaussian start: entries with the flows' schema and contract (an affine
    /// z → x graph and its density graph). Optional, absent = none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaussians: Vec<FlowSpec>,
    #[serde(default)]
    /// The bundle's sampler defaults (the runtime's own defaults fill the gaps).
    pub sampler: SamplerChoices,
    #[serde(default)]
    pub provenance: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub checksums: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// pixel = clamp(x · pixel_scale + pixel_offset, 0, 1).
    pub pixel_scale: f64,
    pub pixel_offset: f64,
    /// How a 4-channel model holds transparency (default straight). Output is always straight alpha.
    #[serde(default)]
    pub alpha: Alpha,
}

crate::names::named_enum!(
    /// The colour space of a 4-channel (RGBA) model. `Premultiplied`: the network's colour channels are colour·alpha,
    /// where averaging (what a denoiser does near edges) matches compositing, so soft edges come out without the dark
    /// halo straight-alpha training gives (onnx/README.md, "Sprites: alpha"); the runtime divides it out.
    #[derive(Default)]
    Alpha { #[default] Straight = "straight", Premultiplied = "premultiplied" }
);

/// Alpha at or below one 8-bit level is invisible: premultiplied colour is not divided by it (that would amplify
/// noise) and the pixel is written fully transparent, colour zeroed (as the training data's transparent pixels).
pub const ALPHA_VISIBLE: f32 = 1.0 / 255.0;

impl ImageSpec {
    /// Values per sample: C·H·W.
    pub fn dim(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Bytes per image as RGBA8 (H·W·4), or why there is none: only 1 (grey), 3 (RGB) and 4 channels pack.
    pub fn rgba8_len(&self) -> Result<usize, String> {
        match self.channels {
            1 | 3 | 4 => Ok(self.height * self.width * 4),
            c => Err(format!("RGBA8 output needs 1, 3 or 4 channels; this model has {c}")),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdeSpec {
    pub kind: SdeKind,
    pub sigma_min: Option<f64>,
    pub sigma_max: Option<f64>,
    pub beta_min: Option<f64>,
    pub beta_max: Option<f64>,
    pub n: usize,
    pub eps: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreSpec {
    pub file: String,
    pub t_max: f64,
    /// The label that asks the score for the unconditional s(x) (trained with label dropout); it equals
    /// `classes`. Present only when the score supports classifier-free guidance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_label: Option<u32>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    pub file: String,
    pub t_m: f64,
    #[serde(default)]
    pub conditional: bool,
    #[serde(default)]
    pub density_file: Option<String>,
}

/// A validated bundle.
#[derive(Clone, Debug)]
pub struct Bundle {
    /// The bundle directory; "<memory>" for a bundle loaded from memory.
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub sde: Sde,
}

impl Bundle {
    /// Reads and validates `dir/dinof.json`, checks that every named file exists and matches its checksum.
    pub fn open(dir: impl AsRef<Path>) -> Result<Bundle> {
        Self::open_with(dir, true)
    }

    /// `open`, optionally skipping the sha256 checks (they read every file once).
    pub fn open_with(dir: impl AsRef<Path>, verify_checksums: bool) -> Result<Bundle> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(Error::MissingFile(dir));
        }
        Self::open_source(&Source::Dir(dir), verify_checksums)
    }

    /// Validates the bundle a source holds: manifest rules, file names, every named file present (a regular file
    /// inside the bundle), checksums.
    pub fn open_source(src: &Source<'_>, verify_checksums: bool) -> Result<Bundle> {
        let dir = src.label();
        let path = dir.join(MANIFEST_FILE);
        if let Source::Memory { manifest, .. } = src {
            if manifest.len() as u64 > MAX_MANIFEST_BYTES {
                return Err(Error::ManifestTooLarge { path, size: manifest.len() as u64, limit: MAX_MANIFEST_BYTES });
            }
        }
        let bytes = src.read(MANIFEST_FILE)?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| Error::InvalidManifest { path: path.clone(), msg: format!("not UTF-8: {e}") })?;
        let manifest = Manifest::parse(text).map_err(|e| match e {
            ParseError::Version(found) => Error::UnsupportedVersion { found, supported: FORMAT_VERSION },
            ParseError::Invalid(msg) => Error::InvalidManifest { path: path.clone(), msg },
        })?;
        let sde = manifest.validate().map_err(|msg| Error::InvalidManifest { path: path.clone(), msg })?;
        let bundle = Bundle { dir, manifest, sde };
        bundle.check_files(src, verify_checksums)?;
        Ok(bundle)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Every file the manifest names (networks, densities, checksum keys) has a plain name and is present; files
    /// with a checksum match it.
    fn check_files(&self, src: &Source<'_>, verify_checksums: bool) -> Result<()> {
        let m = &self.manifest;
        let mut files = vec![&m.score.file];
        for f in m.flows.iter().chain(&m.gaussians) {
            files.push(&f.file);
            files.extend(f.density_file.iter());
        }
        files.extend(m.checksums.keys());
        for f in &files {
            check_name(f)?;
        }
        for f in &files {
            match src {
                Source::Dir(dir) => {
                    resolve_inside(dir, f)?;
                }
                Source::Memory { .. } => {
                    src.read(f)?;
                }
            }
        }
        for (file, expected) in m.checksums.iter().filter(|_| verify_checksums) {
            let bytes = src.read(file)?;
            let actual = hex(&Sha256::digest(&bytes));
            if !actual.eq_ignore_ascii_case(expected) {
                return Err(Error::ChecksumMismatch { file: file.clone(), expected: expected.clone(), actual });
            }
        }
        Ok(())
    }

    /// The flow whose T_m equals `t_m` (to 1e-6).
    pub fn flow(&self, t_m: f64) -> Option<&FlowSpec> {
        self.manifest.flows.iter().find(|f| (f.t_m - t_m).abs() < 1e-6)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Values per image (C·H·W), at most: 2^28 floats is 1 GiB per image, far above any model's, and keeps every size
/// derived from the image (n·C·H·W, H·W·4 bytes of RGBA8, the C ABI's u32 fields) free of overflow.
pub const MAX_IMAGE_VALUES: usize = 1 << 28;

/// Image dimensions whose product overflows or exceeds `MAX_IMAGE_VALUES` (found by tests/fuzz_loader.rs: C·H·W
/// overflowed in the flow's signature).
fn check_image_size(im: &ImageSpec) -> Result<(), String> {
    let values = im.channels.checked_mul(im.height).and_then(|v| v.checked_mul(im.width));
    match values {
        Some(v) if v <= MAX_IMAGE_VALUES => Ok(()),
        _ => Err(format!(
            "image: channels × height × width = {}×{}×{} exceeds the limit of {MAX_IMAGE_VALUES} values per image",
            im.channels, im.height, im.width
        )),
    }
}

enum ParseError {
    Version(u64),
    Invalid(String),
}

impl Manifest {
    /// Parses the JSON, checking `format` and `format_version` first so that a newer bundle is refused for its
    /// version rather than for the fields this version does not know.
    fn parse(text: &str) -> Result<Manifest, ParseError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ParseError::Invalid(format!("not valid JSON: {e}")))?;
        let obj = value.as_object().ok_or_else(|| ParseError::Invalid("the manifest must be a JSON object".into()))?;
        match obj.get("format").and_then(|v| v.as_str()) {
            Some(FORMAT) => {}
            Some(other) => return Err(ParseError::Invalid(format!("format is '{other}', expected '{FORMAT}'"))),
            None => return Err(ParseError::Invalid(format!("missing \"format\": \"{FORMAT}\""))),
        }
        match obj.get("format_version").and_then(|v| v.as_u64()) {
            Some(FORMAT_VERSION) => {}
            Some(v) => return Err(ParseError::Version(v)),
            None => return Err(ParseError::Invalid("missing or non-integer format_version".into())),
        }
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            ParseError::Invalid(format!("{path}: {}", e.into_inner()))
        })
    }

    /// Field rules of docs/bundle-format.md; returns the SDE they describe. One message per problem.
    pub fn validate(&self) -> Result<Sde, String> {
        let im = &self.image;
        if im.channels == 0 || im.height == 0 || im.width == 0 {
            return Err(format!(
                "image: channels, height and width must be ≥ 1 (got {}×{}×{})",
                im.channels, im.height, im.width
            ));
        }
        check_image_size(im)?;
        if !(im.pixel_scale.is_finite() && im.pixel_scale != 0.0 && im.pixel_offset.is_finite()) {
            return Err("image: pixel_scale must be finite and non-zero, pixel_offset finite".into());
        }
        if im.alpha == Alpha::Premultiplied && im.channels != 4 {
            return Err(format!("image: alpha 'premultiplied' needs 4 channels (RGBA), got {}", im.channels));
        }
        let s = &self.sde;
        if s.n == 0 {
            return Err("sde.n must be ≥ 1".into());
        }
        if !(s.eps > 0.0 && s.eps < 1.0) {
            return Err(format!("sde.eps must be in (0, 1), got {}", s.eps));
        }
        let need = |v: Option<f64>, name: &str| {
            v.ok_or_else(|| format!("sde.{name} is required for kind '{}'", s.kind.name()))
        };
        let sde = match s.kind {
            SdeKind::Ve => {
                let (lo, hi) = (need(s.sigma_min, "sigma_min")?, need(s.sigma_max, "sigma_max")?);
                if !(lo > 0.0 && hi > lo && hi.is_finite()) {
                    return Err(format!("sde: need 0 < sigma_min < sigma_max, got sigma_min {lo}, sigma_max {hi}"));
                }
                Sde::ve(lo, hi, s.n, s.eps)
            }
            SdeKind::Vp | SdeKind::Subvp => {
                let (lo, hi) = (need(s.beta_min, "beta_min")?, need(s.beta_max, "beta_max")?);
                if lo < 0.0 || hi < 0.0 {
                    return Err(format!("sde: beta_min and beta_max must not be negative, got {lo} and {hi}"));
                }
                if !(hi > lo && hi.is_finite()) {
                    return Err(format!("sde: need beta_min < beta_max, got {lo} and {hi}"));
                }
                if s.kind == SdeKind::Vp {
                    Sde::vp(lo, hi, s.n, s.eps)
                } else {
                    Sde::subvp(lo, hi, s.n, s.eps)
                }
            }
        };
        let t_max = self.score.t_max;
        if !(t_max > s.eps && t_max <= 1.0) {
            return Err(format!("score.t_max must be in (eps, 1] = ({}, 1], got {t_max}", s.eps));
        }
        for start in [Start::Flow, Start::Gaussian] {
            self.validate_starts(start.array().unwrap_or_default(), self.start_specs(start), t_max)?;
        }
        self.validate_labels()?;
        match self.sampler.start {
            Some(Start::Flow) if self.flows.is_empty() => {
                return Err("sampler.start is 'flow' but the bundle has no flow".into())
            }
            Some(Start::Gaussian) if self.gaussians.is_empty() => {
                return Err("sampler.start is 'gaussian' but the bundle has no gaussians".into())
            }
            Some(Start::Prior) if t_max < 1.0 => return Err("sampler.start is 'prior' but score.t_max < 1".into()),
            _ => {}
        }
        // sampler.t_m picks among the default start's networks.
        if let Some(t) = self.sampler.t_m {
            let start = self.default_start();
            let specs = self.start_specs(start);
            if !specs.iter().any(|f| (f.t_m - t).abs() < 1e-6) {
                return Err(format!(
                    "sampler.t_m = {t} names no entry of {} (available: {:?})",
                    start.array().unwrap_or("flows"),
                    specs.iter().map(|f| f.t_m).collect::<Vec<_>>()
                ));
            }
        }
        if self.flows.is_empty() && self.gaussians.is_empty() && t_max < 1.0 {
            return Err("a bundle without flows or gaussians needs score.t_max = 1 (prior start)".into());
        }
        // The sampler defaults obey the rules a caller's choices do, and must resolve on their own.
        self.sampler.check("sampler.")?;
        let (t_ms, gaussian_t_ms) = (self.t_ms(Start::Flow), self.t_ms(Start::Gaussian));
        sampler::resolve(
            &SamplerChoices::default(),
            &self.sampler,
            &self.facts(&sde, &t_ms, &gaussian_t_ms),
            "sampler.",
        )
        .map_err(|e| match e {
            Error::InvalidArgument(m) => m,
            e => format!("sampler: {e}"),
        })?;
        for (file, sum) in &self.checksums {
            if sum.len() != 64 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("checksums.{file}: not a sha256 hex digest"));
            }
        }
        Ok(sde)
    }

    /// T_m of a start's networks (flows or Gaussians), ascending; empty for the prior.
    pub fn t_ms(&self, start: Start) -> Vec<f64> {
        let mut t: Vec<f64> = self.start_specs(start).iter().map(|f| f.t_m).collect();
        t.sort_by(f64::total_cmp);
        t
    }

    /// What resolving the sampler settings needs to know about this bundle.
    pub fn facts<'a>(&self, sde: &'a Sde, t_ms: &'a [f64], gaussian_t_ms: &'a [f64]) -> BundleFacts<'a> {
        BundleFacts {
            sde,
            t_ms,
            gaussian_t_ms,
            t_max: self.score.t_max,
            null_label: self.score.null_label.is_some(),
            default_start: self.default_start(),
        }
    }

    /// The networks of a start at T_m: `flows` for the flow start, `gaussians` for the Gaussian start, none for the
    /// prior.
    pub fn start_specs(&self, start: Start) -> &[FlowSpec] {
        match start {
            Start::Flow => &self.flows,
            Start::Gaussian => &self.gaussians,
            Start::Prior => &[],
        }
    }

    /// The start a run takes when the caller names none: the manifest's `sampler.start`, else the flow start when
    /// the bundle has a flow, else the Gaussian start when it has a Gaussian, else the prior.
    pub fn default_start(&self) -> Start {
        self.sampler.start.unwrap_or(if !self.flows.is_empty() {
            Start::Flow
        } else if !self.gaussians.is_empty() {
            Start::Gaussian
        } else {
            Start::Prior
        })
    }

    /// Rules of the networks at T_m, the same for `flows` and `gaussians` (each array checked on its own).
    fn validate_starts(&self, array: &str, specs: &[FlowSpec], t_max: f64) -> Result<(), String> {
        let eps = self.sde.eps;
        for (i, f) in specs.iter().enumerate() {
            if !(f.t_m > 0.0 && f.t_m <= 1.0) {
                return Err(format!("{array}[{i}].t_m must be in (eps, 1], got {}", f.t_m));
            }
            if f.t_m <= eps {
                return Err(format!("{array}[{i}].t_m = {} must be greater than sde.eps = {eps}", f.t_m));
            }
            if f.t_m > t_max + 1e-9 {
                return Err(format!(
                    "{array}[{i}].t_m = {} exceeds score.t_max = {t_max}: the score was not trained there",
                    f.t_m
                ));
            }
            if specs[..i].iter().any(|g| (g.t_m - f.t_m).abs() < 1e-6) {
                return Err(format!("{array}[{i}].t_m = {} is listed twice", f.t_m));
            }
            if f.conditional && self.classes == 0 {
                return Err(format!("{array}[{i}] is conditional but classes is 0"));
            }
        }
        Ok(())
    }

    /// Rules of the optional class names and of the null label. Names are matched case-insensitively and may be
    /// given where indices are (`--labels 3,Bag`), so they must be unambiguous in both senses.
    fn validate_labels(&self) -> Result<(), String> {
        if let Some(null) = self.score.null_label {
            if self.classes == 0 {
                return Err(
                    "score.null_label needs classes > 0 (guidance mixes a class's score with the unconditional one)"
                        .into(),
                );
            }
            if null != self.classes {
                return Err(format!(
                    "score.null_label must equal classes ({}): the null class follows the real ones, got {null}",
                    self.classes
                ));
            }
        }
        let Some(names) = &self.labels else { return Ok(()) };
        if self.classes == 0 {
            return Err("labels given, but classes is 0 (class names need a class-conditional model)".into());
        }
        if names.len() != self.classes as usize {
            return Err(format!("labels has {} names for {} classes (one name per class)", names.len(), self.classes));
        }
        for (i, name) in names.iter().enumerate() {
            if name.trim().is_empty() {
                return Err(format!("labels[{i}] is empty"));
            }
            if name.trim() != name || name.contains(',') {
                return Err(format!(
                    "labels[{i}] = {name:?}: a name has no leading or trailing space and no ',' \
                    (lists of labels are comma-separated)"
                ));
            }
            if name.parse::<i64>().is_ok() {
                return Err(format!("labels[{i}] = {name:?} reads as a class index; a name must not be a number"));
            }
            if let Some(j) = names[..i].iter().position(|m| m.to_lowercase() == name.to_lowercase()) {
                return Err(format!(
                    "labels[{i}] = {name:?} repeats labels[{j}] = {:?} (names are unique, ignoring case)",
                    names[j]
                ));
            }
        }
        Ok(())
    }
}
