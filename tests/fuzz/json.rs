//! Manifest mutations: structural ones on the parsed JSON (wrong types, missing/extra fields, extreme numbers,
//! NaN/Infinity strings, long strings, nasty file names) and textual ones on the serialised bytes (byte flips,
//! truncation, insertions, non-JSON tokens), plus fixed pathological documents (deep nesting, huge literals).

use rand::RngExt;
use serde_json::{json, Value};

use super::Rng;

/// JSON pointers of every node of `v` (the root excluded).
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, c) in o {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(c, p, out);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(c, p, out);
            }
        }
        _ => {}
    }
}

fn parent(ptr: &str) -> (&str, &str) {
    let i = ptr.rfind('/').unwrap();
    (&ptr[..i], &ptr[i + 1..])
}

/// Values that break a field's type or range: extreme and special numbers, their string spellings, wrong types,
/// long strings and file names that point elsewhere.
fn nasty(rng: &mut Rng) -> Value {
    let long = |n: usize| Value::String("x".repeat(n));
    match rng.random_range(0..34) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(0),
        3 => json!(-1),
        4 => json!(1),
        5 => json!(u64::MAX),
        6 => json!(i64::MIN),
        7 => json!(1.8446744073709552e19),
        8 => json!(1e308),
        9 => json!(-1e308),
        10 => json!(5e-324),
        11 => json!(4294967296u64),
        12 => json!(0.5),
        13 => json!("NaN"),
        14 => json!("Infinity"),
        15 => json!("-Infinity"),
        16 => json!("1.0"),
        17 => json!(""),
        18 => long(rng.random_range(1000..200_000)),
        19 => json!([]),
        20 => json!({}),
        21 => json!([[[[[[[[[[1]]]]]]]]]]),
        22 => json!({"unexpected": 1}),
        23 => json!("/etc/passwd"),
        24 => json!(".."),
        25 => json!("."),
        26 => json!("dinof.json"),
        27 => json!("score.onnx\u{0}x"),
        28 => json!("../../../../../../../../tmp"),
        29 => json!("ve"),
        30 => json!("flow"),
        31 => json!(-0.0),
        32 => json!(1e-9),
        _ => json!(1_000_000_000_000u64),
    }
}

/// A numeric tweak that keeps the type: scaled, negated, zeroed, nudged.
fn tweak_number(rng: &mut Rng, x: f64) -> Value {
    match rng.random_range(0..6) {
        0 => json!(-x),
        1 => json!(x * 10f64.powi(rng.random_range(1..30))),
        2 => json!(x / 10f64.powi(rng.random_range(1..30))),
        3 => json!(0),
        4 => json!(x + 1.0),
        _ => json!(x - 1e-7),
    }
}

/// Applies one structural mutation; returns what it did.
pub fn mutate_value(rng: &mut Rng, v: &mut Value) -> String {
    let mut ptrs = Vec::new();
    pointers(v, String::new(), &mut ptrs);
    if ptrs.is_empty() {
        return "nothing left to mutate".into();
    }
    let ptr = ptrs[rng.random_range(0..ptrs.len())].clone();
    match rng.random_range(0..10) {
        // Replace a node with a nasty value.
        0..=3 => {
            let new = nasty(rng);
            let d = format!("{ptr} := {}", super::clip(&new.to_string(), 60));
            *v.pointer_mut(&ptr).unwrap() = new;
            d
        }
        // Same type, different magnitude.
        4 => {
            let node = v.pointer_mut(&ptr).unwrap();
            match node.as_f64() {
                Some(x) => {
                    *node = tweak_number(rng, x);
                    format!("{ptr} := {node}")
                }
                None => {
                    *node = Value::Null;
                    format!("{ptr} := null")
                }
            }
        }
        // Remove the node (a missing field, or a shorter array).
        5 | 6 => {
            let (p, key) = parent(&ptr);
            match v.pointer_mut(p).unwrap() {
                Value::Object(o) => {
                    o.remove(&key.replace("~1", "/").replace("~0", "~"));
                }
                Value::Array(a) => {
                    a.remove(key.parse::<usize>().unwrap());
                }
                _ => unreachable!(),
            }
            format!("remove {ptr}")
        }
        // An extra field next to it.
        7 => {
            let (p, _) = parent(&ptr);
            let new = nasty(rng);
            match v.pointer_mut(p).unwrap() {
                Value::Object(o) => {
                    o.insert("extra_field".into(), new);
                }
                Value::Array(a) => a.push(new),
                _ => unreachable!(),
            }
            format!("extra member in '{p}'")
        }
        // Another node's value moved here (type confusion between fields).
        8 => {
            let other = ptrs[rng.random_range(0..ptrs.len())].clone();
            let val = v.pointer(&other).unwrap().clone();
            *v.pointer_mut(&ptr).unwrap() = val;
            format!("{ptr} := value of {other}")
        }
        // Duplicate an array element, or empty the container.
        _ => {
            let node = v.pointer_mut(&ptr).unwrap();
            match node {
                Value::Array(a) if !a.is_empty() => {
                    let c = a[0].clone();
                    a.push(c);
                    format!("duplicate {ptr}/0")
                }
                Value::Object(o) => {
                    o.clear();
                    format!("{ptr} := {{}}")
                }
                _ => {
                    *node = json!([node.clone()]);
                    format!("{ptr} wrapped in an array")
                }
            }
        }
    }
}

/// Applies one textual mutation to the serialised manifest; returns what it did.
pub fn mutate_text(rng: &mut Rng, text: &mut Vec<u8>) -> String {
    if text.is_empty() {
        text.push(b'{');
        return "empty → '{'".into();
    }
    let at = rng.random_range(0..text.len());
    match rng.random_range(0..7) {
        0 => {
            text.truncate(at);
            format!("truncated to {at} bytes")
        }
        1 => {
            let k = rng.random_range(1..8);
            for _ in 0..k {
                let i = rng.random_range(0..text.len());
                text[i] ^= 1 << rng.random_range(0..8);
            }
            format!("{k} bit flip(s)")
        }
        2 => {
            let junk: Vec<u8> = (0..rng.random_range(1..16)).map(|_| rng.random()).collect();
            text.splice(at..at, junk.iter().copied());
            format!("{} random byte(s) inserted at {at}", junk.len())
        }
        3 => {
            // A bare non-JSON number token where a number starts.
            const TOKENS: &[&[u8]] = &[b"NaN", b"Infinity", b"-Infinity", b"1e99999", b"0x10", b"01", b"+1"];
            let tok = TOKENS[rng.random_range(0..TOKENS.len())];
            match text.iter().position(|c| c.is_ascii_digit()) {
                Some(i) => {
                    text.splice(i..i, tok.iter().copied());
                    format!("token {} before the first digit", String::from_utf8_lossy(tok))
                }
                None => "no digit to prefix".into(),
            }
        }
        4 => {
            text.splice(0..0, [0xEF, 0xBB, 0xBF]);
            "UTF-8 byte-order mark prepended".into()
        }
        5 => {
            text.splice(at..at, [0xFF, 0xFE, 0xC0]);
            format!("invalid UTF-8 at {at}")
        }
        _ => {
            let end = (at + rng.random_range(1..64)).min(text.len());
            text.drain(at..end);
            format!("bytes {at}..{end} deleted")
        }
    }
}

/// Fixed pathological manifests that random mutation would rarely build: (what, bytes).
pub fn pathological(base: &Value) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let deep = 100_000;
    out.push(("100k nested arrays as the document".into(), ["[".repeat(deep), "]".repeat(deep)].concat().into_bytes()));
    out.push((
        "100k nested objects as the document".into(),
        ["{\"a\":".repeat(deep), "1".into(), "}".repeat(deep)].concat().into_bytes(),
    ));
    out.push(("100k unclosed arrays".into(), "[".repeat(deep).into_bytes()));
    // The base manifest with one member's value replaced by raw JSON text.
    let with = |key: &str, raw: &str| {
        let mut v = base.clone();
        v[key] = json!("__FUZZ__");
        serde_json::to_string(&v).unwrap().replacen("\"__FUZZ__\"", raw, 1).into_bytes()
    };
    let nested = ["[".repeat(deep), "]".repeat(deep)].concat();
    out.push(("100k nested arrays inside provenance".into(), with("provenance", &format!("{{\"x\": {nested}}}"))));
    out.push(("100k nested arrays as the name".into(), with("name", &nested)));
    out.push(("a 10 MB name".into(), with("name", &format!("\"{}\"", "n".repeat(10 << 20)))));
    out.push((
        "a 1 MB array in provenance".into(),
        with("provenance", &format!("{{\"x\": [{}0]}}", "0,".repeat(1 << 19))),
    ));
    out.push(("a number with 100k digits as classes".into(), with("classes", &"9".repeat(100_000))));
    out.push(("1e400 as classes".into(), with("classes", "1e400")));
    out.push(("bare NaN as classes".into(), with("classes", "NaN")));
    out.push(("duplicate key".into(), with("classes", "0, \"classes\": 3")));
    for (what, text) in [
        ("empty file", ""),
        ("null", "null"),
        ("whitespace", " \n\t "),
        ("a string", "\"dinof-bundle\""),
        ("an array", "[]"),
        ("an empty object", "{}"),
        ("format only", "{\"format\": \"dinof-bundle\"}"),
        ("version as a string", "{\"format\": \"dinof-bundle\", \"format_version\": \"1\"}"),
        ("version 2^64-1", "{\"format\": \"dinof-bundle\", \"format_version\": 18446744073709551615}"),
        ("version -1", "{\"format\": \"dinof-bundle\", \"format_version\": -1}"),
        ("version 1.0", "{\"format\": \"dinof-bundle\", \"format_version\": 1.0}"),
    ] {
        out.push((what.into(), text.as_bytes().to_vec()));
    }
    out
}
