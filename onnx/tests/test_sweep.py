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


def test_curve_names():
    assert Curve.parse("flow0.6:ode-heun") == Curve("flow", 0.6, "ode-heun")
    assert Curve.parse("prior:em").name == "prior:em"
    for bad in ("prior:rk4", "flowx:em", "noise:em"):
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
            "--nfe", "3,5,9,20", "--curves", "prior:em,flow0.6:ode-heun,prior:ode-euler", "--quick",
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
