"""The FLOP count behind the roofline figure (issue 22): products counted from shapes, at batch 1."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from dinof_train.roofline import count_flops


def test_conv_and_matmul_flops_follow_their_shapes(tmp_path):
    # x [N, 3, 8, 8] -> Conv 3x3, 5 out channels, pad 1 -> [N, 5, 8, 8] -> Reshape [N, 320] -> MatMul [320, 7]
    w = numpy_helper.from_array(np.zeros((5, 3, 3, 3), np.float32), "w")
    m = numpy_helper.from_array(np.zeros((320, 7), np.float32), "m")
    shape = numpy_helper.from_array(np.array([-1, 320], np.int64), "shape")
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["r"]),
         helper.make_node("Reshape", ["r", "shape"], ["f"]),
         helper.make_node("MatMul", ["f", "m"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 7])], [w, m, shape])
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    f = count_flops(path)
    assert f["Conv"] == 2 * 3 * 3 * 3 * 5 * 8 * 8  # 2·(Cin·kh·kw)·Cout·Hout·Wout
    assert f["MatMul"] == 2 * 320 * 7
    assert f["other (element-wise, reductions)"] == 5 * 8 * 8  # the Relu's outputs
