//! The class statistic of the Fashion-MNIST model's tests (tests/fixtures/README.md, "Class statistic"; the C twin
//! is tests/c/fashion.h, the figures behind the thresholds from tests/fixtures/make_fashion_reference.py): an image
//! is assigned the class whose training-split mean image it correlates with best. On real test images that rule is
//! right 68% of the time; an image of a random class lands on the requested one about 10% of the time.

use super::digits::{corr, read_pgm, LEN, SIDE};

pub const CLASSES: usize = 10;

/// The ten class means of the training split, in [0, 1].
pub fn class_means() -> Vec<Vec<f32>> {
    let all =
        read_pgm(include_str!("../fixtures/fashion-class-means.pgm"), "fashion-class-means.pgm", SIDE, CLASSES * SIDE);
    all.chunks(LEN).map(<[f32]>::to_vec).collect()
}

/// The class of a 28×28 image in [0, 1] by the best correlation with a class mean.
pub fn nearest_class(img: &[f32], means: &[Vec<f32>]) -> usize {
    let c: Vec<f64> = means.iter().map(|m| corr(img, m)).collect();
    (0..c.len()).fold(0, |best, k| if c[k] > c[best] { k } else { best })
}

/// How many of `images` (each asked for `requested[k]`) land on their class.
pub fn class_hits(images: &[f32], requested: &[i64]) -> usize {
    let means = class_means();
    images.chunks(LEN).zip(requested).filter(|(img, &y)| nearest_class(img, &means) == y as usize).count()
}
