"""Training: DSM loss decreases, checkpoint/resume is exact, kill -9 + --resume continues, 2-rank DDP agrees."""
import json
import os
import signal
import subprocess
import sys
import time

import dataclasses
import numpy as np
import pytest
import torch

from conftest import subprocess_env
from dinof_train.train import compact_checkpoint, load_checkpoint, train


def test_dsm_loss_decreases(tiny_cfg, tmp_path):
    cfg = dataclasses.replace(tiny_cfg, iterations=120, lr=2e-3, t_ms=[0.6], ckpt_every=-1.0, log_every=10)
    train(cfg, tmp_path, quiet=True)
    h = load_checkpoint(tmp_path / "checkpoint.pt")["history"]["score_loss"]
    assert len(h) == 120
    assert np.mean(h[-20:]) < 0.7 * np.mean(h[:10])


def test_resume_is_exact(tiny_cfg, tmp_path):
    cfg = dataclasses.replace(tiny_cfg, iterations=8, ckpt_every=-1.0)
    a = train(cfg, tmp_path / "a", quiet=True)
    train(dataclasses.replace(cfg, iterations=4), tmp_path / "b", quiet=True)
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt")["step"] == 4
    b = train(cfg, tmp_path / "b", resume=True, quiet=True)
    assert b["step"] == 8
    assert a["params_sha256"] == b["params_sha256"]
    ca, cb = (load_checkpoint(tmp_path / d / "checkpoint.pt") for d in ("a", "b"))
    for k, v in ca["ema"]["score"]["module"].items():
        assert torch.equal(v, cb["ema"]["score"]["module"][k]), k
    assert ca["history"]["score_loss"] == cb["history"]["score_loss"]


def test_compact_checkpoint_resumes_from_its_float16_ema(tiny_cfg, tmp_path):
    """A training that outlives its machine: the compact state (float16 EMA, no optimiser) resumes the step count,
    the live weights and EMA equal the saved EMA to float16 rounding, and the learning-rate warm-up restarts."""
    cfg = dataclasses.replace(tiny_cfg, iterations=6, ckpt_every=-1.0, warmup=4)
    train(cfg, tmp_path / "a", quiet=True)
    full = load_checkpoint(tmp_path / "a" / "checkpoint.pt")
    compact_checkpoint(tmp_path / "a" / "checkpoint.pt", tmp_path / "state.pt")
    st = load_checkpoint(tmp_path / "state.pt")
    assert st["compact"] and "opt" not in st and st["step"] == 6
    ema = full["ema"]["score"]["module"]
    for k, v in st["ema"]["score"]["module"].items():
        assert v.dtype == (torch.float16 if ema[k].is_floating_point() else ema[k].dtype), k
        # float16 keeps 11 significant bits: relative rounding ≤ 2^-11 (plus the subnormal floor 2^-24)
        assert torch.all((v.to(ema[k].dtype) - ema[k]).abs() <= ema[k].abs() * 2.0 ** -11 + 2.0 ** -24), k
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "checkpoint.pt").write_bytes((tmp_path / "state.pt").read_bytes())
    # Zero steps past the state: the live weights are the EMA's, cast back to float32.
    train(cfg, tmp_path / "b", resume=True, quiet=True)
    cb = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert cb["step"] == 6 and cb["warm_from"] == 6
    for k, v in cb["model"]["score"].items():
        assert torch.equal(v, st["ema"]["score"]["module"][k].to(v.dtype)), k
    train(dataclasses.replace(cfg, iterations=9), tmp_path / "b", resume=True, quiet=True)
    cb = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert cb["step"] == 9 and cb["warm_from"] == 6
    # Adam restarted at step 6: its first learning rate is the warm-up's first, lr/warmup, not the full lr.
    assert cb["opt"]["score"]["param_groups"][0]["lr"] == pytest.approx(cfg.lr * 3 / cfg.warmup)


def test_time_budget_stops(tiny_cfg, tmp_path):
    cfg = dataclasses.replace(tiny_cfg, time_budget=1.5, ckpt_every=-1.0)
    res = train(cfg, tmp_path, quiet=True)
    assert 0 < res["step"] < cfg.iterations and 1.5 <= res["elapsed"] < 30


def _train_cmd(out, npz, *extra):
    return [sys.executable, "-m", "dinof_train", "train", "--preset", "tiny", "--dataset", str(npz),
            "--out", str(out), "--threads", "1", "--quiet", *extra]


def test_kill9_then_resume(toy_npz, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(_train_cmd(out, toy_npz, "--iterations", "100000", "--ckpt-every", "0"),
                            env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ckpt = out / "checkpoint.pt"
    deadline = time.time() + 120
    try:
        while time.time() < deadline:  # wait until a few checkpoints have been written, then kill mid-run
            if ckpt.exists():
                try:
                    if load_checkpoint(ckpt)["step"] >= 5:
                        break
                except Exception:
                    pass  # never expected: os.replace makes the file appear complete
            time.sleep(0.2)
        else:
            raise AssertionError("no checkpoint within 120 s: " + proc.stderr.read().decode()[-2000:])
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    last = load_checkpoint(ckpt)  # the last good checkpoint loads after kill -9 at an arbitrary moment
    k = last["step"]
    assert k >= 5
    res = subprocess.run(_train_cmd(out, toy_npz, "--iterations", str(k + 3), "--resume"),
                         env=subprocess_env(), capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(res.stdout.strip().splitlines()[-1])["step"] == k + 3
    assert load_checkpoint(ckpt)["step"] == k + 3
    assert not list(out.glob(".checkpoint.pt.tmp.*"))


def _json_objects(text):
    dec, out, i = json.JSONDecoder(), [], 0
    while (i := text.find("{", i)) >= 0:
        try:
            obj, end = dec.raw_decode(text, i)
            out.append(obj)
            i = end
        except json.JSONDecodeError:
            i += 1
    return [o for o in out if "params_sha256" in o]


def test_torchrun_two_ranks_agree(toy_npz, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "dinof_train", "train", "--preset", "tiny", "--dataset", str(toy_npz), "--out", str(tmp_path),
           "--threads", "1", "--quiet", "--iterations", "6", "--ckpt-every", "0"]
    res = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = _json_objects(res.stdout)  # one per rank; the ranks share stdout, so lines may interleave
    assert sorted(r["rank"] for r in lines) == [0, 1]
    assert all(r["world"] == 2 and r["step"] == 6 for r in lines)
    assert lines[0]["params_sha256"] == lines[1]["params_sha256"]
    ck = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ck["world_size"] == 2 and ck["step"] == 6 and len(ck["rng"]) == 2
    assert lines[0]["ema_sha256"] == lines[1]["ema_sha256"]


def test_flow_bounds_bracket_the_entropy_of_x_tm():
    """bound = entropy of the noise alone; gauss = entropy of a Gaussian with x(T_m)'s covariance. For constant
    data they coincide; for Gaussian data gauss is the exact entropy of x(T_m)."""
    import math

    from dinof_train.sde import make_sde
    from dinof_train.train import flow_bounds

    sde = make_sde("vp", n=1000)
    g = torch.Generator().manual_seed(0)
    sd = torch.tensor([0.1, 0.5, 1.0, 2.0])
    x = torch.randn(200_000, 1, 2, 2, generator=g) * sd.reshape(1, 1, 2, 2)
    b = flow_bounds(sde, x, [0.3, 0.6])
    for t in (0.3, 0.6):
        lmc = float(sde.log_mean_coeff(torch.tensor(t, dtype=torch.float64)))
        a2, s2 = math.exp(2 * lmc), 1 - math.exp(2 * lmc)
        exact = float(np.mean([0.5 * math.log2(2 * math.pi * math.e * (a2 * v * v + s2)) for v in sd.tolist()]))
        # `gauss` uses the sample covariance of 200,000 draws: log(a²v̂² + s²) has se sqrt(2/n) = 0.0032 nats times
        # a²v²/(a²v² + s²) ≤ 0.72 (t = 0.3, v = 2), i.e. ≤ 0.0017 bits per pixel and ~0.0005 averaged over the
        # 4 pixels: 2e-3 is ~4 se. `bound` has no sampling in it: 1e-9 is float64 rounding.
        assert b[str(t)]["gauss"] == pytest.approx(exact, abs=2e-3)
        assert b[str(t)]["bound"] == pytest.approx(0.5 * math.log2(2 * math.pi * math.e * s2), abs=1e-9)
    const = flow_bounds(sde, torch.full((50, 1, 2, 2), 0.7), [0.4])["0.4"]
    assert const["gauss"] == pytest.approx(const["bound"], abs=1e-9)


def test_flows_only_run_logs_flow_quality_and_learns(tiny_cfg, tmp_path):
    """Flows-only: the score is untouched (no loss recorded), the flows' NLL drops, and the log carries the
    entropy bounds once and the EMA flows' bits/dim on the fixed evaluation set every flow_eval_every steps."""
    cfg = dataclasses.replace(tiny_cfg, flows_only=True, iterations=60, flow_eval_every=20, log_every=20,
                              flow_lr=3e-3, t_ms=[0.3], ckpt_every=-1.0)
    train(cfg, tmp_path, quiet=True)
    c = load_checkpoint(tmp_path / "checkpoint.pt")
    assert c["history"]["score_loss"] == [] and c["opt"]["score"] is None
    bpd = c["history"]["bpd"][0]
    assert np.mean(bpd[-10:]) < np.mean(bpd[:10])
    recs = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert "flow_bounds_bpd" in recs[0] and recs[0]["flow_bounds_bpd"]["0.3"]["bound"] > 0
    evals = [r["eval_bpd_ema"]["0.3"] for r in recs if "eval_bpd_ema" in r]
    assert len(evals) == 3 and all(e > recs[0]["flow_bounds_bpd"]["0.3"]["bound"] for e in evals)
