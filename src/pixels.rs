//! Pixels out of SDE space: the RGBA8 packing a texture upload wants.

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
