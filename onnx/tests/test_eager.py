"""The PyTorch eager modules rebuilt from the shipped bundle's ONNX files (dinof_train.eager, used by the speed
benchmark's PyTorch configuration) compute what the ONNX files compute, on random inputs."""
from pathlib import Path

import numpy as np
import pytest

from dinof_train import eager

BUNDLE = Path(__file__).resolve().parents[1] / "models" / "mnist"
pytestmark = pytest.mark.skipif(not (BUNDLE / "dinof.json").exists(), reason="no shipped bundle")


def test_score_matches_onnx():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 1, 28, 28)).astype(np.float32)
    t = rng.uniform(0.05, 1.0, 3).astype(np.float32)
    err = eager.max_abs_error(eager.load_score(BUNDLE), BUNDLE / "score.onnx", {"x": x, "t": t})
    assert err < 1e-5, err


@pytest.mark.parametrize("t_m", [0.4, 0.6])
def test_flow_matches_onnx(t_m):
    z = np.random.default_rng(1).standard_normal((3, 784)).astype(np.float32)
    err = eager.max_abs_error(eager.load_flow(BUNDLE, t_m), BUNDLE / f"flow_t{t_m:g}.onnx", {"z": z})
    assert err < 1e-5, err


def test_flows_differ():
    """The comparison can fail: the T_m 0.4 flow's weights against the T_m 0.6 file."""
    z = np.random.default_rng(1).standard_normal((3, 784)).astype(np.float32)
    assert eager.max_abs_error(eager.load_flow(BUNDLE, 0.4), BUNDLE / "flow_t0.6.onnx", {"z": z}) > 1e-2
