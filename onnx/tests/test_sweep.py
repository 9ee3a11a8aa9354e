"""Sweep: the --quick pipeline end to end (tiny trained bundle, Python sampler, quality scorer, table, plot),
resuming adds no points, NFE accounting matches the runtime's, curve names are checked."""
import json
import os

import pytest

from dinof_train.sweep import SAMPLERS, Curve, headline
from test_quality import _shapes_dataset


def test_nfe_accounting_matches_the_runtime():
    # src/sampler/mod.rs score_evals: SDE = steps, ODE = steps x (1 Euler | 2 Heun) + 1 denoise
    assert [SAMPLERS["em"][3](s) for s in (1, 10)] == [1, 10]
    assert [SAMPLERS["ode-euler"][3](SAMPLERS["ode-euler"][2](k)) for k in (10, 100)] == [10, 100]
    assert [SAMPLERS["ode-heun"][3](SAMPLERS["ode-heun"][2](k)) for k in (11, 101)] == [11, 101]
    # dpmpp_2m(_sde): 1 per step + denoise; edm_heun: 2 per step + denoise (what `dinof sample` prints)
    assert [SAMPLERS["dpmpp2m"][3](SAMPLERS["dpmpp2m"][2](k)) for k in (6, 30)] == [6, 30]
    assert SAMPLERS["dpmpp2m-sde"][3](5) == 6 and SAMPLERS["edm-heun"][3](3) == 7


def test_curve_names():
    assert Curve.parse("flow0.6:ode-heun") == Curve("flow", 0.6, "ode-heun")
    assert Curve.parse("prior:em").name == "prior:em"
    assert Curve.parse("oracle0.4:em=10/20") == Curve("oracle", 0.4, "em", (10, 20))
    assert Curve.parse("gauss0.6:ode-euler").python_only
    for bad in ("prior:rk4", "flowx:em", "noise:em", "prior:em=10/x", "oracle0.6:dpmpp2m"):
        with pytest.raises(ValueError):
            Curve.parse(bad)


def test_quick_sweep_end_to_end(tmp_path, monkeypatch):
    from dinof_train.__main__ import main
    from dinof_train.config import make_config
    from dinof_train.export import export_bundle
    from dinof_train.train import train

    monkeypatch.setenv("DINOF_CACHE", str(tmp_path / "cache"))
    data = _shapes_dataset(tmp_path / "shapes.npz", n=400)
    cfg = make_config("tiny", dataset=str(data), threads=1, iterations=3, ckpt_every=-1.0, t_ms=[0.6])
    train(cfg, tmp_path / "run", quiet=True)
    export_bundle(tmp_path / "run" / "checkpoint.pt", tmp_path / "bundle", density=False)
    out = tmp_path / "sweep"
    args = ["sweep", "--bundle", str(tmp_path / "bundle"), "--dataset", str(data), "--sampler", "python",
            "--nfe", "3,5,9,20", "--curves", "prior:em,flow0.6:ode-heun=3/5,prior:ode-euler", "--quick",
            "--out", str(out), "--plot", str(tmp_path / "img" / "fid.png")]
    assert main(args) == 0
    state = json.loads((out / "sweep.json").read_text())
    pts = state["points"]
    assert {p["curve"] for p in pts} == {"prior:em", "flow0.6:ode-heun"}  # two curves
    assert sorted(p["nfe"] for p in pts if p["curve"] == "prior:em") == [3, 9, 20]  # three NFE points
    assert sorted(p["nfe"] for p in pts if p["curve"] == "flow0.6:ode-heun") == [3, 9, 19]
    assert state["meta"]["n"] == 64 and all(p["fd"] > 0 and p["fd_std"] > 0 for p in pts)
    assert "real vs real" in (out / "table.md").read_text()
    assert (tmp_path / "img" / "fid.png").stat().st_size > 10_000
    assert headline(state)["reference"]["nfe"] == 20
    assert main(args) == 0  # resumes: nothing left to do
    assert len(json.loads((out / "sweep.json").read_text())["points"]) == len(pts)
    with pytest.raises(ValueError, match="other settings"):
        main(args[:-4] + ["--seed", "1", "--out", str(out)])


def test_reference_starts_are_what_they_claim():
    """oracle<T_m> = pool images noised by the forward SDE; gauss<T_m> = a Gaussian with x(T_m)'s mean and
    covariance. Both against closed-form marginal moments on the 4x4 VP fixture (a wrong coefficient, a swapped
    mean/std or images from outside the pool fails)."""
    from types import SimpleNamespace

    import torch

    from dinof_train.sample import Bundle
    from dinof_train.sweep import _reference_start

    bundle = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "bundles", "gauss-vp")
    sde = Bundle(bundle).sde
    g = torch.Generator().manual_seed(0)
    images = torch.rand(3000, 1, 4, 4, generator=g) ** 2  # skewed pixels in [0, 1]
    images[:1000] = 0.9  # the pool: a constant image, unlike the rest
    scorer = SimpleNamespace(images=images, split=SimpleNamespace(pool=list(range(1000))))
    t_m, n = 0.6, 4000
    a, s = (float(v.reshape(-1)[0]) for v in sde.marginal_prob(torch.ones(1, dtype=torch.float64),
                                                               torch.tensor([t_m], dtype=torch.float64)))
    x = _reference_start(bundle, Curve("oracle", t_m, "em"), n, 0, scorer).flatten(1)
    se = s / n ** 0.5
    assert torch.allclose(x.mean(0), torch.full((16,), a * 0.8, dtype=torch.float64), atol=5 * se)  # 2·0.9 − 1
    # the std's relative se is 1/sqrt(2n) = 0.011: 5% is 4.5 se on each of 16 pixels (all-pass p ≈ 1 - 1e-4)
    assert torch.allclose(x.std(0), torch.full((16,), s, dtype=torch.float64), rtol=0.05)
    x0 = images.double().flatten(1) * 2 - 1
    cov = a * a * torch.cov(x0.T) + s * s * torch.eye(16, dtype=torch.float64)
    xg = _reference_start(bundle, Curve("gauss", t_m, "em"), n, 0, scorer).flatten(1)
    assert torch.allclose(xg.mean(0), a * x0.mean(0), atol=5 * cov.diag().max().sqrt() / n ** 0.5)
    # a covariance entry's se is sqrt((σi²σj² + σij²)/n) ≤ 0.022·max diag at n = 4000: 0.06·max diag is ≥ 2.7 se
    # (≥ 3.8 se off the diagonal). Seeded, so deterministic; the margin is against a reseed at 136 entries, thin
    # on the diagonal (family-wise ~10% at a random seed), so keep the seed or raise n before tightening.
    assert torch.allclose(torch.cov(xg.T), cov, atol=0.06 * cov.diag().max())
