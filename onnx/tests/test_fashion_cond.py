"""Issue 11's training path at tiny size: the fashion-cond preset's settings, the train/test split, σ_max by Song &
Ermon's technique 1, and a conditional VE run with label dropout exported to a bundle whose score takes the null
label (classifier-free guidance) and whose manifest carries the class names."""
import json
import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch

from dinof_train.config import make_config
from dinof_train.data import CLASS_NAMES, split_indices
from dinof_train.export import build_manifest, export_bundle
from dinof_train.sigma import flow_room, max_pairwise_distance
from dinof_train.train import train


def test_preset_meets_the_issue():
    cfg = make_config("fashion-cond")
    assert (cfg.sde, cfg.sigma_min, cfg.classes, cfg.dataset) == ("ve", 0.01, 10, "fashion-mnist:train")
    assert cfg.label_dropout > 0 and len(cfg.t_ms) == 2 and 0 < cfg.time_budget <= 7200
    # Technique 1: σ_max at least the largest distance between two training images (measured: 22.4561).
    assert cfg.sigma_max >= 22.4561


def test_split_takes_the_first_images_of_each_class_for_training():
    y = np.repeat(np.arange(3), 7)[np.random.default_rng(0).permutation(21)]
    train_idx, test_idx = split_indices(y, 5, "train"), split_indices(y, 5, "test")
    assert len(train_idx) == 15 and len(test_idx) == 6 and not set(train_idx) & set(test_idx)
    for c in range(3):
        members = np.flatnonzero(y == c)
        assert list(members[:5]) == sorted(i for i in train_idx if y[i] == c)


def test_max_pairwise_distance_is_exact():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(300, 1, 5, 5, generator=g)
    x[17] += 2.0  # one far outlier, and a cluster the pruning must skip
    brute = float(torch.cdist(x.flatten(1).double(), x.flatten(1).double()).max())
    r = max_pairwise_distance(x, chunk=7)
    assert abs(r["max_distance"] - brute) < 1e-9 and 17 in r["pair"]  # the same float64 sums in another order
    rows = flow_room(x, 0.01, brute, [0.3, 0.6])
    assert all(row["room"] > 0 for row in rows) and rows[0]["room"] > rows[1]["room"]


@pytest.fixture(scope="module")
def cond_ve_bundle(toy_npz, tmp_path_factory):
    cfg = make_config("fashion-cond", dataset=str(toy_npz), classes=4, resolution=8, nf=8, ch_mult=[1, 2],
                      num_res_blocks=1, attn_resolutions=[4], flow_levels=2, flow_steps=2, flow_hidden=8, batch=16,
                      warmup=5, iterations=3, ckpt_every=-1.0, time_budget=0.0, threads=1, flow_eval_every=0,
                      log_every=5, label_dropout=0.5)
    run = tmp_path_factory.mktemp("run")
    train(cfg, run, quiet=True)
    out = tmp_path_factory.mktemp("bundle")
    export_bundle(run / "checkpoint.pt", out, guidance=0.5, sampler_steps=40)
    return cfg, out


def test_conditional_ve_bundle_takes_the_null_label(cond_ve_bundle):
    cfg, out = cond_ve_bundle
    m = json.loads((out / "dinof.json").read_text())
    assert m["sde"]["kind"] == "ve" and m["sde"]["sigma_max"] == cfg.sigma_max and m["classes"] == 4
    assert m["score"]["null_label"] == 4 and m["sampler"]["guidance"] == 0.5 and m["sampler"]["steps"] == 40
    assert (m["sampler"]["predictor"], m["sampler"]["corrector"], m["sampler"]["snr"]) == \
        ("reverse_diffusion", "langevin", 0.16)
    assert all(f["conditional"] for f in m["flows"]) and "labels" not in m  # the toy data have no names
    # The null label is a real input of the graph: it gives its own (unconditional) score.
    sess = ort.InferenceSession(str(out / "score.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    t = np.full(2, 0.5, np.float32)
    s_null = sess.run(["score"], {"x": x, "t": t, "y": np.array([4, 4])})[0]
    s_zero = sess.run(["score"], {"x": x, "t": t, "y": np.array([0, 0])})[0]
    assert np.isfinite(s_null).all() and np.abs(s_null - s_zero).max() > 0
    # Parity covered the null label too (labels drawn from [0, classes]).
    assert m["provenance"]["export_parity"]["score.onnx"]["max_abs"] <= 1e-4  # per-call bound, test_eager.py


def test_manifest_names_the_fashion_classes(cond_ve_bundle):
    cfg, out = cond_ve_bundle
    import dataclasses

    fashion = dataclasses.replace(cfg, dataset="fashion-mnist:train", classes=10)
    parts = {"flows": [], "files": []}
    m = build_manifest(fashion, type("S", (), {"centered": False, "kind": "ve", "manifest": lambda self: {}})(),
                       parts, out, "x", "d", {})
    assert m["labels"] == CLASS_NAMES["fashion-mnist"] and len(m["labels"]) == 10
    assert m["labels"][0] == "T-shirt/top" and m["labels"][9] == "Ankle boot"
    assert m["score"]["null_label"] == 10
    with pytest.raises(ValueError, match="label dropout"):
        build_manifest(dataclasses.replace(fashion, label_dropout=0.0), type("S", (), {
            "centered": False, "kind": "ve", "manifest": lambda self: {}})(), parts, out, "x", "d", {}, guidance=1.0)


def test_class_accuracy_counts_hits_per_requested_class():
    from dinof_train.classacc import class_accuracy

    class Brightness(torch.nn.Module):  # class 1 for bright images, 0 for dark ones (input is 2x - 1)
        def forward(self, x):
            m = x.flatten(1).mean(1)
            return torch.stack([-m, m], 1)

    samples = np.stack([np.full((1, 4, 4), v, np.float32) for v in (0.1, 0.2, 0.9, 0.3)])
    r = class_accuracy(samples, np.array([0, 0, 1, 1]), Brightness(), names=["Dark", "Bright"])
    assert r == {"n": 4, "accuracy": 0.75, "per_class": {"Dark": 1.0, "Bright": 0.5}}


def test_label_dropout_trains_the_null_class(toy_npz, tmp_path):
    """With dropout 1 every label becomes the null label: only its embedding row may move (Adam leaves rows with
    zero gradient exactly where they were)."""
    from dinof_train.train import build_models, load_checkpoint, seed_all

    cfg = make_config("tiny", dataset=str(toy_npz), classes=4, label_dropout=1.0, iterations=3, ckpt_every=-1.0,
                      threads=1)
    seed_all(cfg.seed)  # as train() does before building the models: the same initial weights
    _, score0, _ = build_models(cfg)
    train(cfg, tmp_path, quiet=True)
    w = load_checkpoint(tmp_path / "checkpoint.pt")["model"]["score"]["net.label.weight"]
    w0 = score0.net.label.weight.detach()
    assert w.shape == (5, w0.shape[1])
    assert torch.equal(w[:4], w0[:4]) and not torch.equal(w[4], w0[4])


def test_cli_sampling_of_a_conditional_bundle_asks_for_every_class(tmp_path):
    """quality/sweep sample through `dinof sample`, which refuses a conditional model without labels: the helper
    asks for every class equally often (and keeps labels the caller gave)."""
    from dinof_train.quality import sample_with_cli

    bundle = tmp_path / "b"
    bundle.mkdir()
    (bundle / "dinof.json").write_text(json.dumps({"classes": 4}))
    fake = tmp_path / "dinof"  # records its arguments and writes the .npy it was asked for
    fake.write_text(f"#!{sys.executable}\nimport sys, numpy as np\nargs = sys.argv[1:]\n"
                    "open(sys.argv[0] + '.args', 'a').write(' '.join(args) + '\\n')\n"
                    "np.save(args[args.index('--out') + 1], np.zeros((1, 1, 2, 2), np.float32))\n")
    fake.chmod(0o755)
    sample_with_cli(str(bundle), 8, tmp_path / "x.npy", dinof_bin=str(fake))
    sample_with_cli(str(bundle), 2, tmp_path / "x.npy", dinof_bin=str(fake), extra=["--labels", "3"])
    first, second = (tmp_path / "dinof.args").read_text().splitlines()
    assert first.endswith("--labels all --per-label 2") and second.endswith("--labels 3")
    with pytest.raises(ValueError, match="multiple"):
        sample_with_cli(str(bundle), 6, tmp_path / "x.npy", dinof_bin=str(fake))
