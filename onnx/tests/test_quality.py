"""Quality metric: the Fréchet formula against closed forms, k-NN precision/recall on known geometry, and the
whole scorer on a synthetic labelled dataset (real ≈ real ≪ degraded ≪ noise), deterministic classifier, input
checks, the `fid` command."""
import json

import numpy as np
import pytest
import torch

from dinof_train.quality import (Scorer, frechet_distance, gaussian_stats, precision_recall, split,
                                 train_classifier)


def test_frechet_matches_closed_form_for_commuting_covariances():
    # S1 = Q diag(a) Qᵀ, S2 = Q diag(b) Qᵀ commute: FD = |Δμ|² + Σ (√a − √b)²
    rng = np.random.default_rng(0)
    q = np.linalg.qr(rng.standard_normal((6, 6)))[0]
    a, b = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    got = frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T)
    want = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert got == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_frechet_general_case_is_symmetric_and_zero_on_equal():
    # non-commuting covariances: the 1-D closed form per axis does not apply, but FD(P,P)=0 and FD is symmetric
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((5, 5)), rng.standard_normal((5, 5))
    s1, s2 = a @ a.T + 0.1 * np.eye(5), b @ b.T + 0.1 * np.eye(5)
    mu = rng.standard_normal(5)
    assert frechet_distance(mu, s1, mu, s1) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(mu, s1, 0 * mu, s2) == pytest.approx(frechet_distance(0 * mu, s2, mu, s1), rel=1e-9)
    # 1-D: (μ1−μ2)² + (σ1−σ2)²
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([0.0]), np.array([[1.0]])) == \
        pytest.approx(1.0 + 1.0)


def test_precision_recall_on_known_geometry():
    rng = np.random.default_rng(2)
    real = rng.standard_normal((300, 4))
    same = rng.standard_normal((300, 4))
    far = rng.standard_normal((300, 4)) + 20.0
    collapsed = real[:5].repeat(60, axis=0) + 1e-6 * rng.standard_normal((300, 4))  # mode collapse
    p = precision_recall(real, same)
    assert p["precision"] > 0.8 and p["recall"] > 0.8
    p = precision_recall(real, far)
    assert p["precision"] == 0.0 and p["recall"] == 0.0
    p = precision_recall(real, collapsed)
    assert p["precision"] == 1.0 and p["recall"] < 0.1  # high fidelity, no diversity


def _shapes_dataset(path, n=800, seed=0):
    """8x8 images of four shapes at random offsets, with jitter; labels = shape."""
    rng = np.random.default_rng(seed)
    protos = np.zeros((4, 8, 8), np.float32)
    protos[0, 1:7, 3:5] = 1
    protos[1, 3:5, 1:7] = 1
    protos[2, 1:7, 1:7] = 1
    protos[2, 2:6, 2:6] = 0
    protos[3][np.arange(1, 7), np.arange(1, 7)] = 1
    y = rng.integers(0, 4, n)
    x = np.stack([np.roll(protos[c], tuple(rng.integers(-1, 2, 2)), axis=(0, 1)) for c in y])
    x = np.clip(x * rng.uniform(0.7, 1.0, (n, 1, 1)) + 0.08 * rng.standard_normal(x.shape), 0, 1)
    np.savez(path, x=(x * 255).astype(np.uint8), y=y)
    return path


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
    import os

    d = tmp_path_factory.mktemp("quality")
    old = os.environ.get("DINOF_CACHE")
    os.environ["DINOF_CACHE"] = str(d / "cache")
    try:
        yield Scorer(str(_shapes_dataset(d / "shapes.npz")))
    finally:
        if old is None:
            del os.environ["DINOF_CACHE"]
        else:
            os.environ["DINOF_CACHE"] = old


def test_scorer_orders_real_degraded_noise(scorer):
    assert scorer.accuracy > 0.9
    n = 120
    real = scorer.images[scorer.split.pool[:n]].numpy()
    blurred = (real + np.roll(real, 1, 3) + np.roll(real, -1, 3) + np.roll(real, 1, 2) + np.roll(real, -1, 2)) / 5
    one_class = scorer.images[scorer.split.pool][scorer.labels[scorer.split.pool] == 0][:n].numpy()
    noise = np.random.default_rng(0).random(real.shape).astype(np.float32)
    r = {k: scorer.score(v, bootstrap=10, real_level=(k == "real"))
         for k, v in [("real", real), ("blurred", blurred), ("one_class", one_class), ("noise", noise)]}
    rr = r["real"]["real_vs_real"]["fd"]
    # real samples score at the real-vs-real level (within its spread), everything degraded clearly worse
    assert abs(r["real"]["fd"] - rr["mean"]) < 4 * rr["std"] + 1e-9
    assert r["blurred"]["fd"] > rr["mean"] + 4 * rr["std"]
    assert r["noise"]["fd"] > 2 * r["blurred"]["fd"]
    assert r["real"]["precision"] > 0.7 and r["real"]["recall"] > 0.7
    assert r["noise"]["precision"] < 0.05
    # a single class: the histogram and recall show it (precision stays high: each image is realistic)
    assert r["one_class"]["class_tv"] > 0.6 and r["real"]["class_tv"] < 0.15
    assert r["one_class"]["recall"] < r["real"]["recall"] - 0.3
    assert r["real"]["fd_bootstrap_std"] > 0


def test_classifier_training_is_deterministic(scorer):
    idx = scorer.split.train[:200]
    a = train_classifier(scorer.images[idx], scorer.labels[idx], epochs=1)
    b = train_classifier(scorer.images[idx], scorer.labels[idx], epochs=1)
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(v, w), k


def test_split_is_disjoint_and_fixed():
    s = split(10000)
    assert (len(s.train), len(s.reference), len(s.pool)) == (5000, 3000, 2000)
    assert len(set(torch.cat([s.train, s.reference, s.pool]).tolist())) == 10000
    assert torch.equal(split(10000).pool, s.pool)


def test_bad_samples_are_refused(scorer):
    ok = scorer.images[:4].numpy()
    for bad, msg in [(ok[:, :, :4], "shape"), (np.full_like(ok, np.nan), "NaN"), (ok * 255, r"\[0, 1\]"),
                     (ok[:1], "at least 2")]:
        with pytest.raises(ValueError, match=msg):
            scorer.score(bad)


def test_fid_command_on_npy(scorer, tmp_path, capsys):
    from dinof_train.__main__ import main

    npy = tmp_path / "s.npy"
    np.save(npy, scorer.images[scorer.split.pool[:50]].numpy())
    assert main(["fid", str(npy), "--dataset", scorer.dataset, "--bootstrap", "3", "--json",
                 str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "Fréchet distance" in out and "real vs real" in out
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["n"] == 50 and len(r["class_histogram"]) == 4 and r["fd"] >= 0
