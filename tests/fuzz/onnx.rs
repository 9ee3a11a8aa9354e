//! ONNX mutations: raw byte damage (truncation, bit flips, insertions, deletions), whole-file swaps (a valid but
//! wrong graph, an empty file), and semantic edits of the decoded protobuf (element types, claimed tensor sizes,
//! operators, cycles, opsets, external data) re-encoded so that the parser sees a well-formed but hostile model.

use prost::Message;
use rand::RngExt;
use tract_onnx::pb::{
    self, tensor_shape_proto::dimension, type_proto, AttributeProto, ModelProto, NodeProto, StringStringEntryProto,
    TensorProto,
};

use super::Rng;

/// Damages the bytes in place; returns what it did.
pub fn mutate_bytes(rng: &mut Rng, b: &mut Vec<u8>) -> String {
    if b.is_empty() {
        b.push(rng.random());
        return "one random byte".into();
    }
    let at = rng.random_range(0..b.len());
    match rng.random_range(0..7) {
        0 => {
            b.truncate(at);
            format!("truncated to {at} bytes")
        }
        1 | 2 => {
            let k = rng.random_range(1..10);
            for _ in 0..k {
                let i = rng.random_range(0..b.len());
                b[i] ^= 1 << rng.random_range(0..8);
            }
            format!("{k} bit flip(s)")
        }
        3 => {
            let junk: Vec<u8> = (0..rng.random_range(1..32)).map(|_| rng.random()).collect();
            b.splice(at..at, junk.iter().copied());
            format!("{} byte(s) inserted at {at}", junk.len())
        }
        4 => {
            let end = (at + rng.random_range(1..64)).min(b.len());
            b.drain(at..end);
            format!("bytes {at}..{end} deleted")
        }
        5 => {
            let end = (at + rng.random_range(1..16)).min(b.len());
            let v = if rng.random_bool(0.5) { 0xFF } else { 0x00 };
            b[at..end].fill(v);
            format!("bytes {at}..{end} := {v:#x}")
        }
        _ => {
            let end = (at + rng.random_range(1..256)).min(b.len());
            let chunk = b[at..end].to_vec();
            b.extend(chunk);
            format!("bytes {at}..{end} appended again")
        }
    }
}

pub fn decode(bytes: &[u8]) -> ModelProto {
    ModelProto::decode(bytes).expect("base network decodes")
}

pub fn encode(m: &ModelProto) -> Vec<u8> {
    m.encode_to_vec()
}

const OPS: &[&str] = &[
    "Conv",
    "Reshape",
    "Expand",
    "ConstantOfShape",
    "Tile",
    "Loop",
    "If",
    "Scan",
    "Einsum",
    "Resize",
    "NonZero",
    "TopK",
    "Gather",
    "Slice",
    "Concat",
    "Split",
    "MatMul",
    "Gemm",
    "Softmax",
    "Range",
    "Identity",
    "Constant",
    "NoSuchOp",
    "",
];
const DATA_TYPES: &[i32] = &[0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 21, 23, 9999, -1];
const DIMS: &[i64] = &[0, -1, -7, 1 << 31, 1 << 40, i64::MAX, i64::MIN, 3];

fn pick<T: Copy>(rng: &mut Rng, v: &[T]) -> T {
    v[rng.random_range(0..v.len())]
}

/// One semantic edit of a decoded model; returns what it did.
pub fn mutate_proto(rng: &mut Rng, m: &mut ModelProto) -> String {
    let Some(g) = m.graph.as_mut() else {
        m.graph = Some(Default::default());
        return "empty graph added".into();
    };
    let n_nodes = g.node.len();
    let n_init = g.initializer.len();
    match rng.random_range(0..20) {
        0 if n_init > 0 => {
            let t = &mut g.initializer[rng.random_range(0..n_init)];
            t.data_type = pick(rng, DATA_TYPES);
            format!("initializer '{}' data_type := {}", t.name, t.data_type)
        }
        1 if n_init > 0 => {
            let t = &mut g.initializer[rng.random_range(0..n_init)];
            let d = pick(rng, DIMS);
            if t.dims.is_empty() || rng.random_bool(0.3) {
                t.dims.push(d);
            } else {
                let i = rng.random_range(0..t.dims.len());
                t.dims[i] = d;
            }
            format!("initializer '{}' dims := {:?}", t.name, t.dims)
        }
        2 if n_init > 0 => {
            let t = &mut g.initializer[rng.random_range(0..n_init)];
            let keep = rng.random_range(0..=t.raw_data.len());
            t.raw_data.truncate(keep);
            if rng.random_bool(0.3) {
                t.float_data = vec![1.0; rng.random_range(0..5)];
            }
            format!("initializer '{}' raw_data cut to {keep} bytes, {} float_data", t.name, t.float_data.len())
        }
        3 if n_init > 0 => {
            let t = &mut g.initializer[rng.random_range(0..n_init)];
            t.data_location = Some(pb::tensor_proto::DataLocation::External as i32);
            t.raw_data.clear();
            let loc = pick(
                rng,
                &["../../../../../../etc/passwd", "/etc/passwd", "missing.bin", "score.onnx", "", "dinof.json"],
            );
            t.external_data = vec![
                StringStringEntryProto { key: "location".into(), value: loc.into() },
                StringStringEntryProto {
                    key: "length".into(),
                    value: pick(rng, &["4", "99999999999", "-1", "x"]).into(),
                },
            ];
            format!("initializer '{}' moved to external data at '{loc}'", t.name)
        }
        4 | 5 if n_nodes > 0 => {
            let n = &mut g.node[rng.random_range(0..n_nodes)];
            let old = std::mem::replace(&mut n.op_type, pick(rng, OPS).into());
            format!("node '{}' op {old} → {}", n.name, n.op_type)
        }
        6 if n_nodes > 0 => {
            let n = &mut g.node[rng.random_range(0..n_nodes)];
            if let (Some(o), false) = (n.output.first().cloned(), n.input.is_empty()) {
                let i = rng.random_range(0..n.input.len());
                n.input[i] = o;
                format!("node '{}' reads its own output (a cycle)", n.name)
            } else {
                n.input.push("no_such_value".into());
                format!("node '{}' reads a value nobody produces", n.name)
            }
        }
        7 if n_nodes > 1 => {
            // Two nodes feeding each other: a longer cycle.
            let (a, b) = (rng.random_range(0..n_nodes), rng.random_range(0..n_nodes));
            if let (Some(oa), Some(ob)) = (g.node[a].output.first().cloned(), g.node[b].output.first().cloned()) {
                if !g.node[a].input.is_empty() && !g.node[b].input.is_empty() {
                    g.node[a].input[0] = ob;
                    g.node[b].input[0] = oa;
                }
            }
            format!("nodes {a} and {b} feed each other")
        }
        8 if n_nodes > 0 => {
            let i = rng.random_range(0..n_nodes);
            g.node.remove(i);
            format!("node {i} removed")
        }
        9 if n_nodes > 0 => {
            let i = rng.random_range(0..n_nodes);
            let name = g.input.first().map(|v| v.name.clone()).unwrap_or_default();
            if let Some(o) = g.node[i].output.first_mut() {
                *o = name.clone();
            }
            format!("node {i} overwrites graph input '{name}'")
        }
        10 if n_nodes > 1 => {
            g.node.reverse();
            "nodes in reverse (non-topological) order".into()
        }
        11 => {
            let v = pick(rng, &[0i64, 1, 6, 9999, -1]);
            for o in m.opset_import.iter_mut() {
                o.version = v;
            }
            format!("opset version := {v}")
        }
        12 => {
            m.ir_version = pick(rng, &[0i64, -1, 1 << 40, 3]);
            format!("ir_version := {}", m.ir_version)
        }
        13 | 14 if !g.input.is_empty() => {
            let i = rng.random_range(0..g.input.len());
            let v = &mut g.input[i];
            let what = mutate_value_info(rng, v);
            format!("graph input '{}': {what}", v.name)
        }
        15 if !g.output.is_empty() => {
            let v = &mut g.output[0];
            if rng.random_bool(0.5) {
                let what = mutate_value_info(rng, v);
                format!("graph output '{}': {what}", v.name)
            } else {
                let name = g.input.first().map(|v| v.name.clone()).unwrap_or_default();
                g.output[0].name = name.clone();
                format!("graph output renamed to input '{name}'")
            }
        }
        16 if n_nodes > 0 => {
            let n = &mut g.node[rng.random_range(0..n_nodes)];
            let what = mutate_attributes(rng, n);
            format!("node '{}' ({}): {what}", n.name, n.op_type)
        }
        17 if n_nodes > 0 => {
            let n = &mut g.node[rng.random_range(0..n_nodes)];
            n.domain = pick(rng, &["com.microsoft", "ai.onnx.ml", "no.such.domain"]).into();
            format!("node '{}' domain := {}", n.name, n.domain)
        }
        18 => {
            g.node.clear();
            "every node removed".into()
        }
        _ => {
            // A Constant node claiming a tensor far larger than the bytes it carries, feeding an extra output.
            let dims = vec![pick(rng, &[1i64 << 40, 1 << 31, i64::MAX, 1 << 20]); rng.random_range(1..4)];
            let t = TensorProto { dims: dims.clone(), data_type: 1, raw_data: vec![0; 4], ..Default::default() };
            g.node.push(NodeProto {
                op_type: "Constant".into(),
                name: "fuzz_const".into(),
                output: vec!["fuzz_big".into()],
                attribute: vec![AttributeProto { name: "value".into(), r#type: 4, t: Some(t), ..Default::default() }],
                ..Default::default()
            });
            format!("Constant node claiming dims {dims:?} with 4 bytes")
        }
    }
}

fn mutate_value_info(rng: &mut Rng, v: &mut pb::ValueInfoProto) -> String {
    if !matches!(v.r#type.as_ref().and_then(|t| t.value.as_ref()), Some(type_proto::Value::TensorType(_))) {
        v.r#type = None;
        return "type removed".into();
    }
    let Some(type_proto::Value::TensorType(t)) = v.r#type.as_mut().and_then(|t| t.value.as_mut()) else {
        unreachable!()
    };
    match rng.random_range(0..4) {
        0 => {
            t.elem_type = pick(rng, DATA_TYPES);
            format!("elem_type := {}", t.elem_type)
        }
        1 => {
            t.shape = None;
            "shape removed".into()
        }
        _ => {
            let Some(s) = t.shape.as_mut() else { return "no shape".into() };
            let value = if rng.random_bool(0.5) {
                dimension::Value::DimValue(pick(rng, DIMS))
            } else {
                dimension::Value::DimParam(pick(rng, &["B*B", "?", "unk__1", "1/0", "", "batch", "((((x"]).into())
            };
            let what = format!("a dim := {value:?}");
            if s.dim.is_empty() || rng.random_bool(0.3) {
                s.dim.push(pb::tensor_shape_proto::Dimension { value: Some(value), ..Default::default() });
            } else {
                let i = rng.random_range(0..s.dim.len());
                s.dim[i].value = Some(value);
            }
            what
        }
    }
}

fn mutate_attributes(rng: &mut Rng, n: &mut NodeProto) -> String {
    if n.attribute.is_empty() || rng.random_bool(0.2) {
        let name = pick(rng, &["axis", "kernel_shape", "pads", "strides", "group", "perm", "value", "to", "dilations"]);
        n.attribute.push(AttributeProto {
            name: name.into(),
            r#type: 7,
            ints: vec![pick(rng, DIMS); 2],
            ..Default::default()
        });
        return format!("attribute '{name}' added");
    }
    let i = rng.random_range(0..n.attribute.len());
    let a = &mut n.attribute[i];
    match rng.random_range(0..5) {
        0 => {
            a.i = pick(rng, DIMS);
            format!("'{}'.i := {}", a.name, a.i)
        }
        1 => {
            for x in a.ints.iter_mut() {
                *x = pick(rng, DIMS);
            }
            format!("'{}'.ints := {:?}", a.name, a.ints)
        }
        2 => {
            a.f = pick(rng, &[f32::NAN, f32::INFINITY, -0.0, 1e30]);
            format!("'{}'.f := {}", a.name, a.f)
        }
        3 => {
            a.r#type = pick(rng, &[0, 1, 2, 3, 4, 5, 6, 7, 99]);
            format!("'{}' type := {}", a.name, a.r#type)
        }
        _ => {
            if let Some(t) = a.t.as_mut() {
                t.dims = vec![pick(rng, DIMS)];
                format!("'{}'.t dims := {:?}", a.name, t.dims)
            } else {
                a.name = "no_such_attribute".into();
                "attribute renamed".into()
            }
        }
    }
}

/// Fixed hostile files built on a base network: (what, bytes).
pub fn pathological(base: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![
        ("empty file".to_string(), Vec::new()),
        ("one zero byte".to_string(), vec![0]),
        ("graph field with a 2^62 length".to_string(), {
            let mut b = vec![0x3A];
            b.extend(varint(1 << 62));
            b
        }),
        ("100k nested subgraphs".to_string(), nested_subgraphs(100_000)),
        ("30 nested subgraphs".to_string(), nested_subgraphs(30)),
        ("a JSON document".to_string(), br#"{"format": "dinof-bundle"}"#.to_vec()),
    ];
    let m = decode(base);
    let with = |what: &str, f: &dyn Fn(&mut pb::GraphProto)| {
        let mut m = m.clone();
        f(m.graph.as_mut().unwrap());
        (what.to_string(), encode(&m))
    };
    let string_raw = |g: &mut pb::GraphProto| {
        g.initializer.push(TensorProto {
            name: "fuzz_s".into(),
            data_type: 8,
            dims: vec![1],
            raw_data: b"abcd".to_vec(),
            ..Default::default()
        });
    };
    out.push(with("a STRING initializer with raw_data", &string_raw));
    let string_init = |g: &mut pb::GraphProto| {
        if let Some(t) = g.initializer.first_mut() {
            t.data_type = 8;
        }
    };
    out.push(with("the first initializer retyped STRING", &string_init));
    let undefined = |g: &mut pb::GraphProto| {
        if let Some(t) = g.initializer.first_mut() {
            t.data_type = 0;
            t.raw_data.clear();
        }
    };
    out.push(with("the first initializer retyped UNDEFINED, no data", &undefined));
    // ONNX Runtime 1.19.2 read past the end of a shape initializer cut short (a segfault).
    let cut = |g: &mut pb::GraphProto| {
        let i = g.initializer.iter().position(|t| t.data_type == 7 && !t.raw_data.is_empty()).unwrap_or(0);
        if let Some(t) = g.initializer.get_mut(i) {
            t.raw_data.truncate(2);
        }
    };
    out.push(with("an INT64 initializer's raw_data cut to 2 bytes", &cut));
    // tract indexed its map of values by a graph output name that no node produces (a panic).
    let orphan = |g: &mut pb::GraphProto| {
        if let Some(o) = g.output.first_mut() {
            o.name = "produced_by_nobody".into();
        }
    };
    out.push(with("a graph output that no node produces", &orphan));
    let overflow = |g: &mut pb::GraphProto| {
        g.initializer.push(TensorProto {
            name: "fuzz_o".into(),
            data_type: 1,
            dims: vec![1 << 32, 1 << 32, 1 << 32],
            raw_data: vec![0; 4],
            ..Default::default()
        });
    };
    out.push(with("an initializer whose dims product overflows", &overflow));
    for (what, shape) in [
        ("ConstantOfShape 2^20 x 2^20 f32 (4 TiB)", vec![1i64 << 20, 1 << 20]),
        ("ConstantOfShape 2^17 x 2^17 f32 (64 GiB)", vec![1 << 17, 1 << 17]),
    ] {
        let f = move |g: &mut pb::GraphProto| {
            let raw: Vec<u8> = shape.iter().flat_map(|d| d.to_le_bytes()).collect();
            g.initializer.push(TensorProto {
                name: "fuzz_shape".into(),
                data_type: 7,
                dims: vec![shape.len() as i64],
                raw_data: raw,
                ..Default::default()
            });
            g.node.push(NodeProto {
                op_type: "ConstantOfShape".into(),
                input: vec!["fuzz_shape".into()],
                output: vec!["fuzz_big".into()],
                ..Default::default()
            });
            g.output.push(pb::ValueInfoProto { name: "fuzz_big".into(), ..Default::default() });
        };
        out.push(with(what, &f));
    }
    out
}

/// The protobuf varint encoding of `v`.
pub fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// ModelProto.graph → GraphProto.node → NodeProto.attribute → AttributeProto.g → GraphProto ... `depth` times,
/// built back to front in linear time (each level's payload is everything written so far).
fn nested_subgraphs(depth: usize) -> Vec<u8> {
    let mut rev: Vec<u8> = Vec::new();
    let wrap = |rev: &mut Vec<u8>, tag: u8| {
        let len = varint(rev.len() as u64);
        rev.extend(len.iter().rev());
        rev.push(tag);
    };
    for _ in 0..depth {
        // AttributeProto { g (6): graph, name (1): "g" } wrapping the graph so far.
        wrap(&mut rev, 0x32); // field 6, length-delimited
        rev.extend([b'g', 1, 0x0A].iter()); // field 1 "g", reversed
        wrap(&mut rev, 0x2A); // NodeProto.attribute (5)
        wrap(&mut rev, 0x0A); // GraphProto.node (1)
    }
    wrap(&mut rev, 0x3A); // ModelProto.graph (7)
    rev.reverse();
    rev
}
