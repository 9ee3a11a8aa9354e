//! Claims an ONNX file makes about its own tensors, checked before any backend parses it (found by
//! tests/fuzz_loader.rs):
//! - a constant tensor whose data is shorter or longer than its dims say: ONNX Runtime 1.19 reads past the end
//!   (a segfault), tract hits `unimplemented!` for STRING raw data;
//! - a ConstantOfShape, Expand or Tile fed a constant shape: tract evaluates it while analysing the graph, and ONNX
//!   Runtime while running it, so a few bytes of protobuf can ask for terabytes. This is a guard for those three
//!   ops, not a general memory bound.
//!
//! The protobuf types are tract-onnx's, so the checks run in builds with the `tract` feature (the default).

use std::collections::HashMap;

use tract_onnx::pb::{GraphProto, ModelProto, TensorProto};
use tract_onnx::prelude::Framework;

/// Decodes an ONNX file and applies every check of this module.
pub fn check_onnx_bytes(bytes: &[u8]) -> Result<(), String> {
    let proto: ModelProto = tract_onnx::onnx()
        .proto_model_for_read(&mut &bytes[..])
        .map_err(|e| format!("cannot parse ONNX protobuf: {e}"))?;
    let graph = proto.graph.as_ref().ok_or("the file holds no graph")?;
    check_tensor_data(graph)?;
    check_constant_shapes(graph)
}

/// Every constant tensor (initializers, Constant nodes' values, in subgraphs too) carries exactly the data its
/// dims and element type call for.
pub fn check_tensor_data(graph: &GraphProto) -> Result<(), String> {
    for t in &graph.initializer {
        check_tensor(t)?;
    }
    for node in &graph.node {
        for a in &node.attribute {
            for t in a.t.iter().chain(a.tensors.iter()) {
                check_tensor(t)?;
            }
            for g in a.g.iter().chain(a.graphs.iter()) {
                check_tensor_data(g)?;
            }
        }
    }
    Ok(())
}

fn check_tensor(t: &TensorProto) -> Result<(), String> {
    if t.data_location == Some(1) {
        return Err(format!("tensor '{}' keeps its data in an external file, which bundles do not support", t.name));
    }
    let elements = t.dims.iter().try_fold(1u128, |acc, &d| if d < 0 { None } else { acc.checked_mul(d as u128) });
    let Some(elements) = elements else {
        return Err(format!("tensor '{}' has dims {:?}: negative or overflowing", t.name, t.dims));
    };
    // Bytes per element in raw_data, and the typed field that holds the values otherwise (ONNX's TensorProto rules).
    let (size, typed) = match t.data_type {
        1 => (4, t.float_data.len()),
        2 | 3 | 4 | 5 | 9 => (
            match t.data_type {
                4 | 5 => 2,
                _ => 1,
            },
            t.int32_data.len(),
        ),
        6 => (4, t.int32_data.len()),
        7 => (8, t.int64_data.len()),
        10 | 16 => (2, t.int32_data.len()),
        11 => (8, t.double_data.len()),
        12 | 13 => (if t.data_type == 12 { 4 } else { 8 }, t.uint64_data.len()),
        8 if t.raw_data.is_empty() => (0, t.string_data.len()),
        other => return Err(format!("tensor '{}' has element type {other}, which dinof networks do not use", t.name)),
    };
    let ok = if t.raw_data.is_empty() {
        typed as u128 == elements
    } else {
        t.raw_data.len() as u128 == elements * size as u128
    };
    if !ok {
        let have =
            if t.raw_data.is_empty() { format!("{typed} values") } else { format!("{} bytes", t.raw_data.len()) };
        return Err(format!(
            "tensor '{}' of dims {:?} (type {}) carries {have}, not what its dims call for",
            t.name, t.dims, t.data_type
        ));
    }
    Ok(())
}

/// Elements a constant shape may ask one of these ops to build: 2^28 (1 GiB of f32), far above any real network's
/// constants and far below what would exhaust a machine.
pub const MAX_CONSTANT_ELEMENTS: u128 = 1 << 28;

/// Refuses a graph (or any subgraph) in which ConstantOfShape, Expand or Tile would build more than
/// `MAX_CONSTANT_ELEMENTS` elements from a constant shape or repeat count.
pub fn check_constant_shapes(graph: &GraphProto) -> Result<(), String> {
    let mut consts: HashMap<&str, Vec<i64>> = HashMap::new();
    for t in &graph.initializer {
        if let Some(v) = int64_values(t) {
            consts.insert(t.name.as_str(), v);
        }
    }
    for node in graph.node.iter().filter(|n| n.op_type == "Constant") {
        let value = node.attribute.iter().find(|a| a.name == "value").and_then(|a| a.t.as_ref());
        if let (Some(out), Some(v)) = (node.output.first(), value.and_then(int64_values)) {
            consts.insert(out.as_str(), v);
        }
    }
    for node in &graph.node {
        let shape_input = match node.op_type.as_str() {
            "ConstantOfShape" => 0,
            "Expand" | "Tile" => 1,
            _ => 0xFFFF,
        };
        if let Some(dims) = node.input.get(shape_input).and_then(|name| consts.get(name.as_str())) {
            let elements = dims.iter().try_fold(1u128, |acc, &d| acc.checked_mul(d.max(0) as u128));
            if elements.is_none_or(|n| n > MAX_CONSTANT_ELEMENTS) {
                return Err(format!(
                    "node '{}' ({}) would build a tensor of {dims:?} at load time, more than {MAX_CONSTANT_ELEMENTS} \
                        elements",
                    node.name, node.op_type
                ));
            }
        }
        for g in node.attribute.iter().flat_map(|a| a.g.iter().chain(a.graphs.iter())) {
            check_constant_shapes(g)?;
        }
    }
    Ok(())
}

/// The values of an INT64 tensor, from raw_data (little-endian) or int64_data.
fn int64_values(t: &TensorProto) -> Option<Vec<i64>> {
    if t.data_type != 7 {
        return None;
    }
    if t.raw_data.is_empty() {
        return Some(t.int64_data.clone());
    }
    Some(t.raw_data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("chunks of 8"))).collect())
}
