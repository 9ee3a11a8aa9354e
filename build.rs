//! Generates include/dinof.h from src/ffi/ with cbindgen.
//!
//! The header is written to $OUT_DIR/dinof.h on every run. With DINOF_CHECK_HEADER=1 the build fails when the
//! committed include/dinof.h differs (CI: scripts/check-header.sh); otherwise include/dinof.h is updated in place.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=include/dinof.h");
    println!("cargo:rerun-if-env-changed=DINOF_CHECK_HEADER");

    // A SONAME makes programs that link libdinof.so by full path (CMake does) depend on "libdinof.so", found through
    // their rpath or the loader's search path, instead of on the path it had at link time.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libdinof.so");
    }

    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let check = std::env::var("DINOF_CHECK_HEADER").is_ok_and(|v| v == "1");

    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml is valid");
    let header = match cbindgen::Builder::new().with_config(config).with_src(root.join("src/ffi/mod.rs")).generate() {
        Ok(bindings) => {
            let mut buf = Vec::new();
            bindings.write(&mut buf);
            with_calling_convention(&String::from_utf8(buf).expect("cbindgen writes UTF-8")).into_bytes()
        }
        Err(e) if !check => {
            // Mid-edit Rust that does not parse: rustc reports it better than we can; keep the old header.
            println!("cargo:warning=cbindgen could not generate include/dinof.h: {e}");
            let old = std::fs::read_to_string(root.join("include/dinof.h")).unwrap_or_default();
            write_field_tables(&out_dir, &old);
            return;
        }
        Err(e) => panic!("cbindgen could not generate the header: {e}"),
    };
    std::fs::write(out_dir.join("dinof.h"), &header).expect("write $OUT_DIR/dinof.h");
    write_field_tables(&out_dir, std::str::from_utf8(&header).expect("cbindgen writes UTF-8"));

    let committed_path = root.join("include/dinof.h");
    let committed = std::fs::read(&committed_path).ok();
    if committed.as_deref() == Some(&header[..]) {
        return;
    }
    if check {
        panic!(
            "include/dinof.h is stale: it differs from the header generated from src/ffi/ ({}).\n\
             Regenerate it with a plain `cargo build` and commit the result.",
            out_dir.join("dinof.h").display()
        );
    }
    // Writing only on change keeps the file's mtime (and so rerun-if-changed) quiet.
    if let Err(e) = write_header(&committed_path, &header) {
        println!("cargo:warning=cannot update {}: {e}", committed_path.display());
    }
}

/// Inserts DINOF_CALL (cdecl on 32-bit Windows) where C puts a calling convention, which cbindgen cannot: before
/// the name of every function declaration and inside every function-pointer typedef.
fn with_calling_convention(header: &str) -> String {
    let mut out = String::with_capacity(header.len() + 2048);
    let mut after_api = false;
    for line in header.lines() {
        let is_decl = after_api || line.starts_with("DINOF_API ");
        after_api = line == "DINOF_API";
        let mut line = line.to_string();
        if is_decl {
            if let Some(paren) = line.find('(') {
                let name_start = line[..paren].rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
                line.insert_str(name_start, "DINOF_CALL ");
            }
        } else if line.starts_with("typedef ") {
            line = line.replacen("(*", "(DINOF_CALL *", 1);
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Writes $OUT_DIR/ffi_fields.rs: `c_struct_fields!(name: field, ...);` for every struct the header defines, fields
/// in declaration order (src/ffi/layout.rs turns them into offset tables), so that no list of fields is kept by hand.
fn write_field_tables(out_dir: &Path, header: &str) {
    let mut out = String::new();
    let mut current: Option<(&str, Vec<&str>)> = None;
    for line in header.lines() {
        if let Some(name) = line.strip_prefix("typedef struct ").and_then(|l| l.strip_suffix(" {")) {
            current = Some((name, Vec::new()));
        } else if let Some((name, fields)) = current.as_mut() {
            let t = line.trim();
            if t.starts_with('}') {
                out.push_str(&format!("c_struct_fields!({name}: {});\n", fields.join(", ")));
                current = None;
            } else if t.ends_with(';') && !t.starts_with('*') && !t.starts_with("/*") {
                // `<type> <name>;`: the name is the last identifier.
                let decl = t.trim_end_matches(';');
                fields.push(decl.rsplit(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or(decl));
            }
        }
    }
    std::fs::write(out_dir.join("ffi_fields.rs"), out).expect("write $OUT_DIR/ffi_fields.rs");
}

fn write_header(path: &Path, header: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(path.parent().expect("include/ has a parent"))?;
    std::fs::write(path, header)
}
