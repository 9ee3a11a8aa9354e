//! Reading NumPy .npy arrays (format versions 1–3, little-endian float32 or float64, C order): the image files
//! `dinof likelihood` measures, as `output::write_npy` and numpy's `np.save` write them. Every malformed file is a
//! typed error naming what is wrong.

use std::path::Path;

use crate::error::{Error, Result};

/// An array's shape and values (float64 files are converted to f32).
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

pub fn read_npy(path: &Path) -> Result<Array> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy(&bytes).map_err(|msg| Error::invalid(format!("{}: {msg}", path.display())))
}

/// Parses the bytes of a .npy file.
pub fn parse_npy(bytes: &[u8]) -> std::result::Result<Array, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    let (hlen, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(format!("unsupported .npy format version {v}")),
    };
    let end = start.checked_add(hlen).filter(|&e| e <= bytes.len()).ok_or("truncated header")?;
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|_| "header is not text")?;
    let field = |key: &str| -> std::result::Result<&str, String> {
        let at = header.find(&format!("'{key}':")).ok_or_else(|| format!("header has no '{key}'"))?;
        Ok(header[at + key.len() + 3..].trim_start())
    };
    let descr = field("descr")?;
    let width = if descr.starts_with("'<f4'") {
        4
    } else if descr.starts_with("'<f8'") {
        8
    } else {
        let d: String = descr.chars().take_while(|&c| c != ',').collect();
        return Err(format!("element type {d} is not supported (float32 '<f4' or float64 '<f8')"));
    };
    if !field("fortran_order")?.starts_with("False") {
        return Err("Fortran-order arrays are not supported (save a C-order array)".into());
    }
    let shape_txt = field("shape")?;
    let close = shape_txt.find(')').ok_or("malformed shape")?;
    let shape = shape_txt[1..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| format!("malformed shape {}", &shape_txt[..=close])))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("shape overflows")?;
    let data = &bytes[end..];
    if Some(data.len()) != count.checked_mul(width) {
        return Err(format!(
            "shape {shape:?} needs {count} values of {width} bytes, the file holds {} bytes of data",
            data.len()
        ));
    }
    let data = if width == 4 {
        data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    } else {
        data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect()
    };
    Ok(Array { shape, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_write_npy_writes_and_refuses_the_rest() {
        let path = std::env::temp_dir().join(format!("dinof-npy-{}.npy", std::process::id()));
        let data: Vec<f32> = (0..24).map(|i| i as f32 / 7.0).collect();
        crate::output::write_npy(&path, &data, &[2, 1, 3, 4]).unwrap();
        let a = read_npy(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!((a.shape, a.data), (vec![2, 1, 3, 4], data));
        assert!(parse_npy(b"PK\x03\x04 a zip, not an npy").unwrap_err().contains("magic"));
        let mut f8 = b"\x93NUMPY\x01\x00".to_vec();
        let h = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
        f8.extend_from_slice(&(h.len() as u16).to_le_bytes());
        f8.extend_from_slice(h.as_bytes());
        for v in [0.25f64, 1.0] {
            f8.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(parse_npy(&f8).unwrap(), Array { shape: vec![2], data: vec![0.25, 1.0] });
        assert!(parse_npy(&f8[..f8.len() - 1]).unwrap_err().contains("holds 15 bytes"));
        let at = f8.windows(5).position(|w| w == b"'<f8'").unwrap();
        f8[at..at + 5].copy_from_slice(b"'|u1'");
        assert!(parse_npy(&f8).unwrap_err().contains("'|u1' is not supported"));
        f8[at..at + 5].copy_from_slice(b"'<f8'");
        let fo = f8.windows(5).position(|w| w == b"False").unwrap();
        f8[fo..fo + 5].copy_from_slice(b"True ");
        assert!(parse_npy(&f8).unwrap_err().contains("Fortran"));
    }
}
