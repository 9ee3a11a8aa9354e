"""The tract-friendly nearest upsampling: the U-Net's Concat form equals nearest interpolation, the bundle rewrite
(dinof_train.graph_edit) is exact, and the shipped score network carries the rewritten form."""
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper

from dinof_train.graph_edit import upsample_concat
from dinof_train.models.unet import Upsample

BUNDLE = Path(__file__).resolve().parents[1] / "models" / "mnist"


def test_upsample_is_nearest():
    up = Upsample(3, 7, 14)
    torch.nn.init.dirac_(up.conv.weight)  # identity conv: the output is the upsampled input
    torch.nn.init.zeros_(up.conv.bias)
    x = torch.randn(2, 3, 7, 7)
    with torch.no_grad():
        assert torch.equal(up(x), F.interpolate(x, scale_factor=2, mode="nearest"))


def _old_style_graph():
    """x[1,2,3,1,4,1] * ones[1,1,1,2,1,2], as the exporter wrote the upsampling before."""
    ones = helper.make_node("Constant", [], ["ones"], value=helper.make_tensor(
        "v", TensorProto.FLOAT, [1, 1, 1, 2, 1, 2], [1.0] * 4))
    mul = helper.make_node("Mul", ["x", "ones"], ["y"], name="up/Mul")
    g = helper.make_graph([ones, mul], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 1, 4, 1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 3, 2, 4, 2])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_rewrite_is_exact_and_removes_the_mul():
    model = _old_style_graph()
    x = np.random.default_rng(0).standard_normal((1, 2, 3, 1, 4, 1)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    assert upsample_concat(model) == 1
    onnx.checker.check_model(model, full_check=True)
    assert [n.op_type for n in model.graph.node] == ["Concat", "Concat"]
    got = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    assert np.array_equal(got, want)


def test_shipped_score_has_no_broadcast_upsampling_mul():
    manifest = json.loads((BUNDLE / "dinof.json").read_text())
    model = onnx.load(str(BUNDLE / manifest["score"]["file"]))
    assert upsample_concat(model) == 0
