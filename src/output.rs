//! Writing results: a PNG grid of images (what a person looks at) and a float32 .npy array (what numpy
//! users and evaluations read).

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Writes n images (NCHW pixels in [0, 1], 1 or 3 channels; other counts use channel 0) as one PNG grid with
/// `nrow` images per row and a 2-pixel border. 4 channels are straight-alpha RGBA, drawn over a grey checkerboard
/// (4-pixel squares) so that transparency shows; the .npy output keeps the alpha channel itself.
#[cfg(feature = "cli")]
pub fn write_png_grid(path: &Path, pixels: &[f32], n: usize, c: usize, h: usize, w: usize, nrow: usize) -> Result<()> {
    if n == 0 || pixels.len() < n * c * h * w {
        return Err(Error::invalid("no images to write"));
    }
    let nrow = nrow.clamp(1, n);
    let rows = n.div_ceil(nrow);
    let pad = 2;
    let (gw, gh) = (nrow * (w + pad) + pad, rows * (h + pad) + pad);
    let colour = c >= 3;
    let chans = if colour { 3 } else { 1 };
    let mut buf = vec![0u8; gw * gh * chans];
    let q = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    for k in 0..n {
        let img = &pixels[k * c * h * w..(k + 1) * c * h * w];
        let (ox, oy) = (pad + (k % nrow) * (w + pad), pad + (k / nrow) * (h + pad));
        for y in 0..h {
            for x in 0..w {
                let o = ((oy + y) * gw + ox + x) * chans;
                let at = |ch: usize| img[ch * h * w + y * w + x];
                if c == 4 {
                    let (a, bg) = (at(3).clamp(0.0, 1.0), checker(x, y));
                    for ch in 0..3 {
                        buf[o + ch] = q(at(ch) * a + bg * (1.0 - a));
                    }
                } else {
                    for ch in 0..chans {
                        buf[o + ch] = q(at(ch));
                    }
                }
            }
        }
    }
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), gw as u32, gh as u32);
    enc.set_color(if colour { png::ColorType::Rgb } else { png::ColorType::Grayscale });
    enc.set_depth(png::BitDepth::Eight);
    let io = |e: png::EncodingError| Error::io(path, std::io::Error::other(e));
    let mut writer = enc.write_header().map_err(io)?;
    writer.write_image_data(&buf).map_err(io)?;
    writer.finish().map_err(io)
}

/// The transparency checkerboard behind RGBA images: 4-pixel squares of two light greys.
#[cfg(feature = "cli")]
fn checker(x: usize, y: usize) -> f32 {
    if (x / 4 + y / 4).is_multiple_of(2) {
        0.8
    } else {
        0.6
    }
}

/// Writes a little-endian float32 array in NumPy's .npy format (version 1.0). The format is a fixed magic, a
/// Python-literal header padded to 64 bytes, then the raw data: small enough not to warrant a dependency.
pub fn write_npy(path: &Path, data: &[f32], shape: &[usize]) -> Result<()> {
    if shape.iter().product::<usize>() != data.len() {
        return Err(Error::invalid("npy shape does not match the data length"));
    }
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_txt = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_txt}, }}");
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat(total.next_multiple_of(64) - total));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + data.len() * 4);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(&bytes).map_err(|e| Error::io(path, e))
}

#[cfg(all(test, feature = "cli"))]
mod tests {
    use super::*;

    /// RGBA goes over the checkerboard: alpha 0 shows the checkerboard, alpha 1 the colour, alpha ¼ a quarter of it.
    #[test]
    fn rgba_grid_is_composited_over_a_checkerboard() {
        let (h, w) = (8, 8);
        let mut img = vec![0f32; 4 * h * w];
        for x in 0..w {
            img[x] = 1.0; // row 0: red, opaque
            img[3 * h * w + x] = 1.0;
            img[w + x] = 1.0; // row 1: red, alpha 0.25
            img[3 * h * w + w + x] = 0.25;
        } // rows 2..: transparent
        let path = std::env::temp_dir().join(format!("dinof-rgba-{}.png", std::process::id()));
        write_png_grid(&path, &img, 1, 4, h, w, 1).unwrap();
        let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0u8; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        let px = |x: usize, y: usize| {
            let o = ((2 + y) * info.width as usize + 2 + x) * 3;
            [buf[o], buf[o + 1], buf[o + 2]]
        };
        assert_eq!(px(0, 0), [255, 0, 0]);
        // ¼·red + ¾·0.8 grey (x 0..3 is a light square on rows 0..3): 0.85 → 216.75 → 217, 0.6 → 153.
        assert_eq!(px(1, 1), [217, 153, 153]);
        assert_eq!(px(0, 2), [204, 204, 204]);
        assert_eq!(px(4, 2), [153, 153, 153]);
        assert_eq!(px(4, 4), [204, 204, 204]);
    }
}
