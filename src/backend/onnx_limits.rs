//! Size claims an ONNX graph makes through constants, checked before tract sees the graph. tract evaluates every
//! node whose inputs are all constants while it analyses a graph, so a ConstantOfShape, Expand or Tile fed a
//! constant shape materialises that tensor at load time: a few bytes of protobuf can ask for terabytes (found by
//! tests/fuzz_loader.rs). This is a guard for those three ops, not a general memory bound.

use std::collections::HashMap;

use tract_onnx::pb::{GraphProto, TensorProto};

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
                    "node '{}' ({}) would build a tensor of {dims:?} at load time, more than {MAX_CONSTANT_ELEMENTS} elements",
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
