"""Issue 19: the whitened, identity-initialised flow IS the fitted Gaussian before training, training keeps the best
held-out NLL (never worse than the Gaussian), and the exported flows / Gaussian starts are plain ONNX that match
their closed forms."""
import json
import math
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
import pytest
import torch

from dinof_train import flowprior as fp
from dinof_train.export import sha256
from dinof_train.models.glow import Coupling
from dinof_train.sde import make_sde

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "bundles"
# 1e-4 bits/dim is issue 19's requirement. The arithmetic allows far less: the flow runs in float32 (relative
# error ~1e-7 per operation, a few hundred operations deep), the closed form in float64, and the NLL per dimension
# is O(1): the two agree to ~1e-6 bits/dim, so 1e-4 is no loose fit. The official coupling scale sigmoid(2) = 0.881
# per layer alone moves the NLL by ~0.18 bits/dim per coupling (log2(1/0.881) on half the dimensions).
TOL_BPD = 1e-4


@pytest.fixture(scope="module")
def toy4(tmp_path_factory):
    """200 structured 4x4 images (two classes, correlated pixels, a constant pixel), as the fixture bundles' size."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    base = np.where(y[:, None, None] == 0, np.eye(4)[None], np.fliplr(np.eye(4))[None])
    x = np.clip(0.2 + 0.6 * base + 0.15 * rng.standard_normal((200, 4, 4)) + 0.1 * rng.standard_normal((200, 1, 1)),
                0, 1)
    x[:, 0, 0] = 0.0  # a zero-variance direction: the covariance is singular, a²Σ0 + s²I is not
    path = tmp_path_factory.mktemp("data") / "toy4.npz"
    np.savez(path, x=(x * 255).astype(np.uint8), y=y)
    return path


def _data(path):
    d = np.load(path)
    x = torch.from_numpy(d["x"]).float()[:, None] / 255.0 * 2 - 1
    return x, torch.from_numpy(d["y"])


@pytest.mark.parametrize("classes", [0, 2])
@pytest.mark.parametrize("t_m", [0.2, 0.6])
def test_untrained_flow_is_the_fitted_gaussian(toy4, classes, t_m):
    sde = make_sde("vp")
    x0, y0 = _data(toy4)
    mom = fp.moments(x0[:150], y0[:150], classes)
    cfg = fp.FlowPriorConfig(classes=classes, levels=2, steps=3, hidden=8)
    flow = fp.build_flow(cfg, mom, sde, t_m).eval()
    xt = fp.noisy(sde, x0[150:], t_m, 4, seed=3)  # held-out images, fresh noise
    yt = y0[150:].repeat_interleave(4) if classes else None
    a, s = fp.marginal_coeffs(sde, t_m)
    # the Gaussian the whitening represents: a²Σ0 + s²I in its low-rank form (test_lowrank_* check that form)
    cov = fp.covariance_at(mom, sde, t_m, flow.whitening.rank)
    closed = fp.gaussian_nll_bpd(xt, a * mom.mean, cov, yt)
    assert abs(fp.bpd(flow, xt, yt) - closed) <= TOL_BPD
    assert abs(fp.bpd(fp.gaussian_at(mom, sde, t_m), xt, yt) - closed) <= TOL_BPD
    # at full rank the same flow is the full-rank Gaussian
    full = fp.WhitenedGlow(fp.gaussian_at(mom, sde, t_m, rank=16), flow.glow).eval()
    closed_full = fp.gaussian_nll_bpd(xt, a * mom.mean, fp.covariance_at(mom, sde, t_m), yt)
    assert abs(fp.bpd(full, xt, yt) - closed_full) <= TOL_BPD
    # the guard can fail: the official scale sigmoid(raw + 2) is 0.881 at zero, not the identity
    for m in flow.modules():
        if isinstance(m, Coupling):
            m.centered = False
    assert abs(fp.bpd(flow, xt, yt) - closed) > 100 * TOL_BPD


def test_room_is_the_entropy_gap():
    """room = h(Gaussian of x(T_m)) − h(s·ε), from the eigenvalues, against a direct log-determinant."""
    sde = make_sde("vp")
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(500, 1, 4, 4, generator=g) * torch.linspace(0.05, 0.8, 16).reshape(1, 1, 4, 4)
    mom = fp.moments(x0)
    a, s = fp.marginal_coeffs(sde, 0.3)
    cov = a * a * mom.cov + s * s * torch.eye(16, dtype=torch.float64)
    want = (0.5 * torch.linalg.slogdet(cov)[1] - 16 * math.log(s)) / (16 * math.log(2))
    assert abs(fp.room_bpd(mom, sde, 0.3) - float(want)) < 1e-12


def _spectrum(d=16, decades=3.0):
    """A moments object with eigenvalues spread over `decades` and a random orthogonal basis."""
    g = torch.Generator().manual_seed(5)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    eig = 4.0 * 10.0 ** (-decades * torch.arange(d, dtype=torch.float64) / (d - 1))
    return fp.Moments(torch.zeros(1, d, dtype=torch.float64), eig, q, (1, 4, 4), 1000)


@pytest.mark.parametrize("t_m", [0.2, 0.6])
def test_lowrank_cost_is_the_kl_and_rank_is_the_smallest_under_it(t_m):
    """lowrank_loss_bpd = KL(N(0, C) || N(0, C_k)) / (D ln 2), against slogdet and trace in float64, for every k;
    lowrank_rank is the smallest k under the bound (so dropping one more direction goes over it)."""
    sde = make_sde("vp")
    mom = _spectrum()
    full = fp.covariance_at(mom, sde, t_m)
    for k in range(17):
        ck = fp.covariance_at(mom, sde, t_m, k)
        kl = 0.5 * (torch.trace(torch.linalg.solve(ck, full)) - 16 + torch.linalg.slogdet(ck)[1]
                    - torch.linalg.slogdet(full)[1])
        # float64 arithmetic on O(1)-conditioned 16x16 matrices: 1e-12 is 10^4 ulps of the O(1) terms
        assert abs(fp.lowrank_cost_bpd(mom, sde, t_m, k) - float(kl) / (16 * math.log(2))) < 1e-12
    k = fp.gaussian_at(mom, sde, t_m).rank
    assert fp.lowrank_cost_bpd(mom, sde, t_m, k) <= fp.LOWRANK_LOSS_BPD
    assert k == 0 or fp.lowrank_cost_bpd(mom, sde, t_m, k - 1) > fp.LOWRANK_LOSS_BPD
    assert fp.lowrank_cost_bpd(mom, sde, t_m, 16) == 0.0


@pytest.mark.parametrize("rank", [0, 3, 16])
def test_lowrank_graph_is_its_covariance(rank):
    """GaussianPrior's maps in float32: A·Aᵀ = C_k (read back from generate on the unit vectors), density ∘ generate
    = identity, logdet = −½ log det C_k. Float32 entries of O(1) with 16-term sums: 1e-5 is ~100 ulps."""
    sde = make_sde("vp")
    mom = _spectrum()
    g = fp.gaussian_at(mom, sde, 0.3, rank=rank)
    ck = fp.covariance_at(mom, sde, 0.3, rank).numpy()
    with torch.no_grad():
        ell = g.generate(torch.eye(16)).reshape(16, 16).double().numpy().T
        assert np.allclose(ell @ ell.T, ck, atol=1e-5)
        z = torch.randn(5, 16, generator=torch.Generator().manual_seed(1))
        zb, logdet = g.density(g.generate(z))
    assert torch.allclose(zb, z, atol=1e-5)
    assert np.allclose(logdet.numpy(), -0.5 * np.linalg.slogdet(ck)[1], atol=1e-5 * 16)


def _train(toy4, run, classes, max_steps=60):
    cfg = fp.FlowPriorConfig(dataset=str(toy4), classes=classes, t_ms=[0.2, 0.6], levels=2, steps=2, hidden=8,
                             batch=32, lr=3e-3, warmup=5, eval_every=10, patience=100, max_steps=max_steps,
                             val_images=40, test_images=40, val_draws=2)
    return fp.train_flows(cfg, make_sde("vp"), run, quiet=True)


@pytest.fixture(scope="module", params=[0, 2], ids=["uncond", "cond"])
def run(request, toy4, tmp_path_factory):
    d = tmp_path_factory.mktemp("fprun")
    return request.param, d, _train(toy4, d, request.param)


def test_training_keeps_the_best_and_never_worse_than_gaussian(run):
    classes, d, res = run
    cfg, sde, mom, flows, st = fp.load_flows(d)
    for key, r in res.items():
        # the untrained model is the first candidate, so the kept one is at or below the Gaussian on validation
        assert r["val_bpd"] <= r["gauss_val_bpd"] + TOL_BPD
        hist = st["flows"][key]["history"]
        assert hist[0]["step"] == 0 and abs(hist[0]["val_bpd"] - r["gauss_val_bpd"]) <= TOL_BPD
        assert r["val_bpd"] == min(h["val_bpd"] for h in hist)
        # the kept weights are the ones that scored it (same validation set, same arithmetic: equal to float noise)
        x0, labels = fp.load_data(cfg, sde)
        sp = fp.splits(len(x0), cfg.val_images, cfg.test_images)
        t_m = float(key)
        vx = fp.noisy(sde, x0[sp["val"]], t_m, cfg.val_draws, seed=1 + int(round(t_m * 1000)))
        vy = labels[sp["val"]].repeat_interleave(cfg.val_draws) if classes else None
        assert abs(fp.bpd(flows[t_m], vx, vy) - r["val_bpd"]) < 1e-9


def test_splits_are_disjoint():
    sp = fp.splits(1000, 100, 200)
    idx = torch.cat([sp["train"], sp["val"], sp["test"]])
    assert len(sp["test"]) == 200 and len(sp["val"]) == 100 and len(sp["train"]) == 700
    assert len(torch.unique(idx)) == 1000


GAUSS_OPS = {"MatMul", "Add", "Reshape", "Gather", "Mul", "ReduceSum", "Sub", "Constant", "Transpose"}


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    classes, d, _ = run
    src = FIXTURES / ("gauss-vp-class" if classes else "gauss-vp")
    out = tmp_path_factory.mktemp("fpbundle")
    man = fp.export_flow_prior(d, src, out)
    return classes, d, src, out, man


def test_export_manifest_gaussians_mirror_flows(exported):
    classes, _, src, out, man = exported
    disk = json.loads((out / "dinof.json").read_text())
    assert disk == man
    assert [g["t_m"] for g in man["gaussians"]] == [f["t_m"] for f in man["flows"]] == [0.2, 0.6]
    for f, g in zip(man["flows"], man["gaussians"]):
        assert set(f) == set(g) == {"file", "t_m", "conditional", "density_file"}
        assert g["conditional"] == f["conditional"] == (classes > 0)
        assert g["file"] == f"gaussian_t{g['t_m']:g}.onnx" and g["density_file"] == f"gaussian_density_t{g['t_m']:g}.onnx"
    assert (out / "score.onnx").read_bytes() == (src / "score.onnx").read_bytes()  # score byte-identical
    assert sorted(man["checksums"]) == sorted(p.name for p in out.glob("*.onnx"))
    assert all(man["checksums"][f] == sha256(out / f) for f in man["checksums"])
    src_man = json.loads((src / "dinof.json").read_text())
    assert man["sampler"] == src_man["sampler"] and man["sde"] == src_man["sde"]


def test_gaussian_graphs_are_plain_and_exact(exported):
    classes, d, _, out, man = exported
    cfg, sde, mom, flows, _ = fp.load_flows(d)
    for g in man["gaussians"]:
        for fn in (g["file"], g["density_file"]):
            model = onnx.load(str(out / fn))
            onnx.checker.check_model(model, full_check=True)
            assert model.opset_import[0].version == 17
            assert {n.op_type for n in model.graph.node} <= GAUSS_OPS
            # U is stored once: Uᵀ is a Transpose node of it (export._share_transposes), not a second initializer
            mats = [a for a in map(numpy_helper.to_array, model.graph.initializer) if a.ndim == 2 and a.size > 0]
            assert not any(a.shape == b.shape[::-1] and np.array_equal(a.T, b) for a in mats for b in mats)
            if g["t_m"] == 0.2:  # rank > 0 there: U exists and its transpose is made in the graph
                assert sum(n.op_type == "Transpose" for n in model.graph.node) == 1
            assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
        a, s = fp.marginal_coeffs(sde, g["t_m"])
        rank = man["provenance"]["gaussians"]["t_m"][f"{g['t_m']:g}"]["rank"]
        cov = fp.covariance_at(mom, sde, g["t_m"], rank).numpy()
        sess = ort.InferenceSession(str(out / g["file"]), providers=["CPUExecutionProvider"])
        # read the affine map back: x(0) = the mean (of class y), x(e_j) - x(0) = column j of L
        for k in range(max(classes, 1)):
            z = np.vstack([np.zeros(16), np.eye(16)]).astype(np.float32)
            feed = {"z": z, **({"y": np.full(17, k, np.int64)} if classes else {})}
            cols = sess.run(["x"], feed)[0].reshape(17, 16).astype(np.float64)
            assert np.allclose(cols[0], a * mom.mean[k].numpy(), atol=1e-6)
            ell = (cols[1:] - cols[0]).T
            assert np.allclose(ell @ ell.T, cov, atol=1e-6)  # float32 entries of O(1), 16-term sums
        dens = ort.InferenceSession(str(out / g["density_file"]), providers=["CPUExecutionProvider"])
        zr = np.random.default_rng(0).standard_normal((5, 16)).astype(np.float32)
        yr = np.arange(5, dtype=np.int64) % max(classes, 1)
        x = sess.run(["x"], {"z": zr, **({"y": yr} if classes else {})})[0]
        zb, logdet = dens.run(["z", "logdet"], {"x": x, **({"y": yr} if classes else {})})
        assert np.allclose(zb, zr, atol=1e-4)
        assert np.allclose(logdet, -0.5 * np.linalg.slogdet(cov)[1], atol=1e-5 * 16)


def test_flow_graphs_match_torch_and_table_agrees(exported, toy4):
    classes, d, _, out, man = exported
    parity = man["provenance"]["export_parity"]
    assert all(f in parity for e in man["flows"] + man["gaussians"] for f in (e["file"], e["density_file"]))
    cfg, sde, mom, flows, _ = fp.load_flows(d)
    t = fp.heldout_table({"new": str(out)}, dataset=str(toy4), val=40, test=40, draws=3)
    x0, labels = fp.load_data(cfg, sde)
    sp = fp.splits(len(x0), 40, 40)
    for row in t["rows"]:
        x = fp.noisy(sde, x0[sp["test"]], row["t_m"], 3, seed=7 * 1000 + int(round(row["t_m"] * 1000)))
        y = labels[sp["test"]].repeat_interleave(3) if classes else None
        # the Gaussian start's density graph IS the closed form of its covariance (fitted on the same train split)
        a, _ = fp.marginal_coeffs(sde, row["t_m"])
        rank = man["provenance"]["gaussians"]["t_m"][f"{row['t_m']:g}"]["rank"]
        closed = fp.gaussian_nll_bpd(x, a * mom.mean, fp.covariance_at(mom, sde, row["t_m"], rank), y)
        assert abs(row["models"]["new:gaussian"]["bpd"] - closed) <= TOL_BPD
        assert row["room_bpd"] > 0 and row["bound_bpd"] < row["gauss_bpd"]
        # the flow's exported density graph agrees with the torch model on the same points
        assert abs(row["models"]["new:flow"]["bpd"] - fp.bpd(flows[row["t_m"]], x, y)) <= TOL_BPD


def test_gaussians_as_flows_copy(exported, tmp_path):
    _, _, _, out, man = exported
    m = fp.gaussians_as_flows(out, tmp_path / "g")
    assert "gaussians" not in m and m["flows"] == man["gaussians"]
    for e in m["flows"]:
        assert (tmp_path / "g" / e["file"]).read_bytes() == (out / e["file"]).read_bytes()
    assert (tmp_path / "g" / "score.onnx").read_bytes() == (out / "score.onnx").read_bytes()
