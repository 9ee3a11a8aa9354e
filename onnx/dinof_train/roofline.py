"""Where a score network's time goes on ONNX Runtime's CPU provider, and how close it runs to the CPU's peak
(issue 22, item 1): `python -m dinof_train roofline --bundle models/mnist [--batch 1 16] [--threads 1 2]`.

- FLOPs per image, counted from the graph with shapes inferred at batch 1: Conv 2·(Cin/groups)·kh·kw·Cout·Hout·Wout,
  MatMul / Gemm 2·M·K·N (the batch dimension of a MatMul's operands counted once per image), everything else (the
  element-wise ops, reductions, softmax) one FLOP per output element: small next to the products, listed apart.
- Time per image per forward on ONNX Runtime at each batch and thread count (median of `--reps` timed runs after a
  warm-up), and the achieved GFLOP/s.
- The CPU's reachable peak: a large float32 matrix product (torch, on the same threads), the best of a few: the
  ceiling a convolution lowered to a product can reach on this machine.
- A per-operator profile (ONNX Runtime's own profiler, batch 1 and the largest batch): the share of node time per
  operator type.
Every figure comes from one run of this command on one machine; ratios, not absolute times, carry over.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np


def _dims(vi) -> list[int]:
    return [d.dim_value if d.HasField("dim_value") else 1 for d in vi.type.tensor_type.shape.dim]


def count_flops(path: str | Path) -> dict:
    """FLOPs per image by operator type (products exact from shapes; other ops one per output element)."""
    import onnx
    from onnx import shape_inference

    m = onnx.load(str(path))
    for i in m.graph.input:  # batch 1 for the count
        d = i.type.tensor_type.shape.dim
        if d and not d[0].HasField("dim_value"):
            d[0].dim_value = 1
    m = shape_inference.infer_shapes(m)
    shapes = {vi.name: _dims(vi) for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output)}
    for init in m.graph.initializer:
        shapes[init.name] = list(init.dims)
    flops = defaultdict(float)
    for n in m.graph.node:
        out = shapes.get(n.output[0]) if n.output else None
        if n.op_type == "Conv":
            w = shapes[n.input[1]]  # Cout, Cin/groups, kh, kw
            flops["Conv"] += 2.0 * np.prod(w[1:]) * w[0] * np.prod(out[2:])
        elif n.op_type in ("MatMul", "Gemm"):
            a, b = shapes.get(n.input[0]), shapes.get(n.input[1])
            if a is None or b is None or out is None:
                continue
            k = a[-1] if not (n.op_type == "Gemm" and any(x.name == "transA" and x.i for x in n.attribute)) else a[0]
            flops[n.op_type] += 2.0 * np.prod(out) * k
        elif n.op_type not in ("Constant", "Shape", "Reshape", "Unsqueeze", "Squeeze", "Transpose", "Concat",
                               "Split", "Gather", "Slice") and out is not None:
            flops["other (element-wise, reductions)"] += float(np.prod(out))
    return dict(flops)


def _session(path, threads: int, profile: bool = False):
    import onnxruntime as ort

    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    if profile:
        o.enable_profiling = True
        o.profile_file_prefix = os.path.join(tempfile.mkdtemp(prefix="dinof-roofline-"), "ort")
    return ort.InferenceSession(str(path), o, providers=["CPUExecutionProvider"])


def _feed(sess, batch: int, classes: int) -> dict:
    feed = {}
    for i in sess.get_inputs():
        shape = [batch if not isinstance(d, int) else d for d in i.shape]
        if i.name == "t":
            feed[i.name] = np.full(shape, 0.5, np.float32)
        elif i.name == "y":
            feed[i.name] = np.zeros(shape, np.int64)
        else:
            feed[i.name] = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    return feed


def time_forward(path, batch: int, threads: int, reps: int, classes: int = 0) -> float:
    """Median seconds per image per forward."""
    sess = _session(path, threads)
    feed = _feed(sess, batch, classes)
    sess.run(None, feed)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        sess.run(None, feed)
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)) / batch


def profile_ops(path, batch: int, threads: int, reps: int) -> dict:
    """Share of node time per operator type, from ONNX Runtime's profiler."""
    sess = _session(path, threads, profile=True)
    feed = _feed(sess, batch, 0)
    for _ in range(reps):
        sess.run(None, feed)
    events = json.loads(Path(sess.end_profiling()).read_text())
    per = defaultdict(float)
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            per[e.get("args", {}).get("op_name", "?")] += e["dur"]
    total = sum(per.values()) or 1.0
    return {k: v / total for k, v in sorted(per.items(), key=lambda kv: -kv[1])}


def matmul_peak(threads: int, n: int = 1024, reps: int = 5) -> float:
    """GFLOP/s of the best of `reps` n×n float32 products (torch's BLAS on `threads` threads)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        best = min(_timed(lambda: a @ b) for _ in range(reps))
        return 2.0 * n ** 3 / best / 1e9
    finally:
        torch.set_num_threads(old)


def _timed(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def main_roofline(a) -> int:
    bundle = Path(a.bundle)
    manifest = json.loads((bundle / "dinof.json").read_text())
    path = bundle / manifest["score"]["file"]
    flops = count_flops(path)
    total = sum(flops.values())
    lines = [f"score network {path} ({os.path.getsize(path) / 1e6:.1f} MB): {total / 1e6:.1f} MFLOP per image per "
             "forward", "", "| part | MFLOP per image | share |", "|---|---:|---:|"]
    lines += [f"| {k} | {v / 1e6:.1f} | {100 * v / total:.1f} % |" for k, v in sorted(flops.items(), key=lambda kv: -kv[1])]
    lines += ["", "| threads | batch | ms per image per forward | achieved GFLOP/s | matmul peak GFLOP/s | share of peak |",
              "|---:|---:|---:|---:|---:|---:|"]
    result = {"bundle": str(bundle), "flops_per_image": flops, "runs": [], "profiles": {}}
    for th in a.threads:
        peak = matmul_peak(th)
        for b in a.batch:
            s = time_forward(path, b, th, a.reps)
            achieved = total / s / 1e9
            result["runs"].append({"threads": th, "batch": b, "seconds_per_image": s, "gflops": achieved,
                                   "peak_gflops": peak})
            lines.append(f"| {th} | {b} | {1e3 * s:.2f} | {achieved:.1f} | {peak:.1f} | {100 * achieved / peak:.0f} % |")
    for b in sorted({min(a.batch), max(a.batch)}):
        prof = profile_ops(path, b, 1, a.reps)
        result["profiles"][str(b)] = prof
        lines += ["", f"ONNX Runtime node time by operator, batch {b}, 1 thread:", "",
                  "| operator | share |", "|---|---:|"]
        lines += [f"| {k} | {100 * v:.1f} % |" for k, v in list(prof.items())[:8]]
    print("\n".join(lines))
    if a.out:
        Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0
