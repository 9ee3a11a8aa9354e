"""The PyTorch eager modules rebuilt from the shipped bundle's ONNX files (dinof_train.eager, used by the speed
benchmark's PyTorch configuration) compute what the ONNX files compute, on random inputs.

Tolerance (docs/testing.md): PyTorch and ONNX Runtime run the same float32 network with other kernels, so each dot
product of length K (≤ 1152 here) is summed in another order: at most 2·K·u·Σ|w·x| apart (u = 2⁻²⁴, FMA or not),
~2·√K·u ≈ 4e-6 relative typically, over ~56 layers in series. ERR = 1e-4 is that per-call bound (the one
tests/ort_backend.rs holds tract and ONNX Runtime to), on outputs of order 1; measured 2.4e-6 (score) and 1.7e-6
(flows) on one CPU, so another CPU's kernel choice cannot fail it, and swapped weights (test_flows_differ, > 1e-2)
are still 100× above it. It was 1e-5, 4× the figure one machine printed."""
from pathlib import Path

import numpy as np
import pytest

from dinof_train import eager

BUNDLE = Path(__file__).resolve().parents[1] / "models" / "mnist"
ERR = 1e-4
pytestmark = pytest.mark.skipif(not (BUNDLE / "dinof.json").exists(), reason="no shipped bundle")


def test_score_matches_onnx():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 1, 28, 28)).astype(np.float32)
    t = rng.uniform(0.05, 1.0, 3).astype(np.float32)
    err = eager.max_abs_error(eager.load_score(BUNDLE), BUNDLE / "score.onnx", {"x": x, "t": t})
    assert err < ERR, err


@pytest.mark.parametrize("t_m", [0.4, 0.6])
def test_flow_matches_onnx(t_m):
    z = np.random.default_rng(1).standard_normal((3, 784)).astype(np.float32)
    err = eager.max_abs_error(eager.load_flow(BUNDLE, t_m), BUNDLE / f"flow_t{t_m:g}.onnx", {"z": z})
    assert err < ERR, err


def test_flows_differ():
    """The comparison can fail: the T_m 0.4 flow's weights against the T_m 0.6 file."""
    z = np.random.default_rng(1).standard_normal((3, 784)).astype(np.float32)
    assert eager.max_abs_error(eager.load_flow(BUNDLE, 0.4), BUNDLE / "flow_t0.6.onnx", {"z": z}) > 100 * ERR
