"""Exact rewrites of an exported score graph that make it cheaper on tract, applied to an existing bundle in place.

`upsample_concat`: the U-Net's nearest x2 upsampling was exported as x[:, :, :, None, :, None] * ones(1,1,1,2,1,2)
(a broadcasting Mul). tract runs that broadcast as a generic element loop: 12-19 % of a batch-1 forward of the
shipped score network (examples/tract_profile.rs, docs/benchmarks.md). Two Concats of the tensor with itself give
the same values (multiplying by 1.0 and copying are both exact), and are plain copies in tract. New exports get
the Concat form from models/unet.py directly; this rewrites bundles exported before.

usage: python -m dinof_train.graph_edit BUNDLE   (rewrites the score file, checks onnxruntime gives bit-identical
outputs on random inputs, updates the manifest's checksum)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def _constant(graph, name):
    from onnx import numpy_helper

    for n in graph.node:
        if n.op_type == "Constant" and n.output[0] == name:
            return numpy_helper.to_array(n.attribute[0].t)
    for i in graph.initializer:
        if i.name == name:
            return numpy_helper.to_array(i)
    return None


def upsample_concat(model) -> int:
    """Replaces every Mul(X, ones[1,1,1,2,1,2]) by Concat(Concat(X, X, axis 5), same, axis 3); drops the constants
    left unused. Returns the number of Muls replaced."""
    from onnx import helper

    g = model.graph
    nodes, count = [], 0
    for n in g.node:
        c = _constant(g, n.input[1]) if n.op_type == "Mul" and len(n.input) == 2 else None
        if c is not None and c.shape == (1, 1, 1, 2, 1, 2) and np.all(c == 1.0):
            w = n.output[0] + "_w"
            nodes.append(helper.make_node("Concat", [n.input[0], n.input[0]], [w], axis=5, name=n.name + "_concat_w"))
            nodes.append(helper.make_node("Concat", [w, w], [n.output[0]], axis=3, name=n.name + "_concat_h"))
            count += 1
        else:
            nodes.append(n)
    used = {i for n in nodes for i in n.input} | {o.name for o in g.output}
    nodes = [n for n in nodes if not (n.op_type == "Constant" and n.output[0] not in used)]
    del g.node[:]
    g.node.extend(nodes)
    return count


def rewrite_bundle(bundle: str | Path, seed: int = 0) -> int:
    import onnx
    import onnxruntime as ort

    from .export import sha256

    bundle = Path(bundle)
    manifest = json.loads((bundle / "dinof.json").read_text())
    path = bundle / manifest["score"]["file"]
    model = onnx.load(str(path))
    count = upsample_concat(model)
    if count == 0:
        return 0
    onnx.checker.check_model(model, full_check=True)
    before = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    after = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    shape = [manifest["image"][k] for k in ("channels", "height", "width")]
    for b in (1, 3):
        feeds = {"x": rng.standard_normal([b] + shape).astype(np.float32),
                 "t": rng.uniform(1e-3, 1.0, b).astype(np.float32)}
        if manifest.get("classes", 0):
            feeds["y"] = rng.integers(0, manifest["classes"], b).astype(np.int64)
        if not np.array_equal(before.run(None, feeds)[0], after.run(None, feeds)[0]):
            raise RuntimeError(f"{path}: the rewritten graph's output differs; file left unchanged")
    onnx.save(model, str(path))
    if "checksums" in manifest and path.name in manifest["checksums"]:
        manifest["checksums"][path.name] = sha256(path)
        (bundle / "dinof.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return count


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(f"{sys.argv[1]}: {rewrite_bundle(sys.argv[1])} upsampling Mul(s) rewritten as Concats")
