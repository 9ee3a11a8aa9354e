//! Where a bundle's bytes come from (a directory or memory) and how a file is read: by a plain name, only a regular
//! file inside the bundle directory, with the manifest's size capped.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use super::MANIFEST_FILE;
use crate::error::{Error, Result};

/// The largest dinof.json accepted. The shipped MNIST manifest is 7 kB; a hostile multi-megabyte one would otherwise
/// cost seconds and gigabytes to parse.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// Where a bundle's files come from: a directory, or the manifest and named blobs in memory (an engine's asset
/// system, an Android APK). Either way a file is reached by a plain name the manifest gives, never by a path.
#[derive(Clone, Debug)]
pub enum Source<'a> {
    Dir(PathBuf),
    Memory { manifest: &'a [u8], blobs: Vec<(String, &'a [u8])> },
}

impl<'a> Source<'a> {
    pub(super) fn label(&self) -> PathBuf {
        match self {
            Source::Dir(d) => d.clone(),
            Source::Memory { .. } => PathBuf::from("<memory>"),
        }
    }

    /// The bytes of the bundle file `name` (already checked by `check_name`). In a directory only a regular file
    /// inside it is read, after resolving symlinks; FIFOs and devices are refused before being opened.
    pub fn read(&self, name: &str) -> Result<Cow<'a, [u8]>> {
        match self {
            Source::Memory { manifest, blobs } => {
                if name == MANIFEST_FILE {
                    return Ok(Cow::Borrowed(*manifest));
                }
                blobs
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, b)| Cow::Borrowed(*b))
                    .ok_or_else(|| Error::MissingFile(PathBuf::from(name)))
            }
            Source::Dir(dir) => {
                let limit = if name == MANIFEST_FILE { Some(MAX_MANIFEST_BYTES) } else { None };
                read_inside(dir, name, limit).map(Cow::Owned)
            }
        }
    }
}

/// A manifest file name must be a plain name: no separators (so no absolute paths), no "." or "..", no drive or
/// stream syntax (':'), no NUL.
pub fn check_name(name: &str) -> Result<()> {
    let bad = |reason: &str| Err(Error::BadFileName { name: name.to_string(), reason: reason.to_string() });
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.contains(['/', '\\']) {
        return bad("it contains a path separator (files must sit directly in the bundle directory)");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' name directories");
    }
    if name.contains([':', '\0']) {
        return bad("it contains ':' or NUL");
    }
    Ok(())
}

fn kind_of(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// `dir/name` and its resolved path, if that is a regular file inside `dir` (symlinks resolved).
pub(super) fn resolve_inside(dir: &Path, name: &str) -> Result<(PathBuf, PathBuf)> {
    let path = dir.join(name);
    let not_found = |e: std::io::Error, p: &Path| match e.kind() {
        std::io::ErrorKind::NotFound => Error::MissingFile(p.to_path_buf()),
        _ => Error::io(p, e),
    };
    let root = dir.canonicalize().map_err(|e| not_found(e, dir))?;
    let real = path.canonicalize().map_err(|e| not_found(e, &path))?;
    if !real.starts_with(&root) {
        return Err(Error::OutsideBundle { name: name.to_string(), path: real });
    }
    let meta = std::fs::metadata(&real).map_err(|e| not_found(e, &path))?;
    if !meta.is_file() {
        return Err(Error::NotRegularFile { path, kind: kind_of(&meta.file_type()).into() });
    }
    Ok((path, real))
}

/// Opens `dir/name` for reading only if `resolve_inside` accepts it. The open is non-blocking so that a FIFO
/// swapped in after the check cannot hang the caller; the type is checked again on the open file. `limit`: refuse
/// files larger than this (the manifest).
fn read_inside(dir: &Path, name: &str, limit: Option<u64>) -> Result<Vec<u8>> {
    use std::io::Read;
    let (path, real) = resolve_inside(dir, name)?;
    let mut open = std::fs::OpenOptions::new();
    open.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let mut file = open.open(&real).map_err(|e| Error::io(&path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(&path, e))?;
    if !meta.is_file() {
        return Err(Error::NotRegularFile { path, kind: kind_of(&meta.file_type()).into() });
    }
    if let Some(limit) = limit.filter(|&l| meta.len() > l) {
        return Err(Error::ManifestTooLarge { path, size: meta.len(), limit });
    }
    let mut bytes = crate::error::try_capacity(meta.len() as usize, &format!("reading {}", path.display()))?;
    // take(): a file that grows while being read is still bounded.
    let cap = limit.unwrap_or(u64::MAX).saturating_add(1);
    (&mut file).take(cap).read_to_end(&mut bytes).map_err(|e| Error::io(&path, e))?;
    if let Some(limit) = limit.filter(|&l| bytes.len() as u64 > l) {
        return Err(Error::ManifestTooLarge { path, size: bytes.len() as u64, limit });
    }
    Ok(bytes)
}
