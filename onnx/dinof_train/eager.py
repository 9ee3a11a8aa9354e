"""PyTorch eager modules rebuilt from a bundle's ONNX files, for running the shipped weights without ONNX.

The bundle keeps no PyTorch checkpoint, but its graphs hold every weight: the score network's initializers are
named after the module's state_dict (score.<key>), except GroupNorm biases, which the exporter folded into an
unnamed [1, C, 1, 1] Add constant; the flow graph has the Glow parameters by name and the precomputed inverse
1x1 weights as Conv constants (its LU factors are not needed to generate). `check_*` in onnx/tests/test_eager.py
compares these modules with onnxruntime on the same files.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import torch

from .config import from_dict
from .train import build_models


def _onnx_arrays(path: Path) -> tuple[dict, object]:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    arrays = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for n in model.graph.node:  # Constant nodes: keyed by their output name
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    arrays[n.output[0]] = numpy_helper.to_array(a.t)
    return arrays, model.graph


def _config(bundle: Path):
    manifest = json.loads((bundle / "dinof.json").read_text())
    cfg = manifest.get("provenance", {}).get("config")
    if cfg is None:
        raise ValueError(f"{bundle}: the manifest has no provenance.config; cannot rebuild the modules")
    return manifest, from_dict(cfg)


def load_score(bundle: str | Path):
    """The bundle's score model (ScoreModel: score(x, t) in SDE space) with the ONNX file's weights, eval mode."""
    bundle = Path(bundle)
    manifest, cfg = _config(bundle)
    _, score, _ = build_models(cfg)
    arrays, graph = _onnx_arrays(bundle / manifest["score"]["file"])
    state = {}
    for key, ref in score.state_dict().items():
        if f"score.{key}" in arrays:
            state[key] = torch.from_numpy(arrays[f"score.{key}"].copy())
    # GroupNorm biases: the constant input of the norm's last Add (/score/<module path>/Add_1).
    for node in graph.node:
        m = re.fullmatch(r"/score/(.+)/Add_1", node.name)
        if node.op_type != "Add" or not m:
            continue
        key = m.group(1).replace("/", ".") + ".bias"
        const = [arrays[i] for i in node.input if i in arrays]
        if key in score.state_dict() and key not in state and len(const) == 1:
            state[key] = torch.from_numpy(const[0].reshape(-1).copy())
    missing = sorted(set(score.state_dict()) - set(state))
    if missing:
        raise ValueError(f"{bundle}: weights not found in the score graph: {missing[:5]}")
    score.load_state_dict(state)
    return score.eval()


class EagerFlow(torch.nn.Module):
    """z [B, D] -> x(T_m) [B, C, H, W] with the precomputed inverse 1x1 weights, as the exported graph."""

    def __init__(self, glow, w_invs):
        super().__init__()
        self.glow, self.w_invs = glow, w_invs

    def forward(self, z):
        return self.glow.generate(z, None, w_invs=self.w_invs)


def load_flow(bundle: str | Path, t_m: float | None = None) -> EagerFlow:
    """The generating flow at T_m (default: the manifest's sampler t_m) with the ONNX file's weights, eval mode."""
    bundle = Path(bundle)
    manifest, cfg = _config(bundle)
    if t_m is None:
        t_m = manifest["sampler"]["t_m"]
    entries = [f for f in manifest["flows"] if abs(f["t_m"] - t_m) < 1e-9]
    if not entries:
        raise ValueError(f"{bundle}: no flow at T_m {t_m}")
    _, _, flows = build_models(cfg)
    glow = flows[0]
    arrays, graph = _onnx_arrays(bundle / entries[0]["file"])
    state = glow.state_dict()
    for key in state:
        if f"flow.{key}" in arrays:
            state[key] = torch.from_numpy(arrays[f"flow.{key}"].copy())
        elif not key.endswith(("invconv.l", "invconv.u", "invconv.log_s", "invconv.p", "invconv.sign_s",
                               "invconv.l_mask", "invconv.eye", "actnorm.initialized")):
            raise ValueError(f"{bundle}: weight {key} not found in the flow graph")
    glow.load_state_dict(state)
    # Inverse 1x1 weights: the Conv weights that are graph constants rather than named parameters, in graph
    # order, which is generation order (last step first).
    w_invs = []
    for node in graph.node:
        if node.op_type == "Conv" and not node.input[1].startswith("flow."):
            c = arrays[node.input[1]]
            w_invs.append(torch.from_numpy(c.reshape(c.shape[0], c.shape[1]).copy()))
    steps = sum(len(blk) for blk in glow.blocks)
    if len(w_invs) != steps:
        raise ValueError(f"{bundle}: found {len(w_invs)} inverse 1x1 weights in the flow graph, expected {steps}")
    w_invs.reverse()
    return EagerFlow(glow.eval(), w_invs).eval()


def max_abs_error(module, onnx_path: str | Path, inputs: dict[str, np.ndarray]) -> float:
    """Largest |torch − onnxruntime| of one output on the same inputs."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    want = sess.run(None, inputs)[0]
    with torch.no_grad():
        got = module(*[torch.from_numpy(v) for v in inputs.values()]).numpy()
    return float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max())
