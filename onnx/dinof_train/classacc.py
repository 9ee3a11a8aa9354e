"""Does a class-conditional model draw the class it is asked for? (issue 11's acceptance: ≥ 80% of 1000
conditional samples assigned to their requested class). A classifier (quality.py's DigitNet, same recipe) is
trained on the *training* split only, its accuracy is measured on the test split, and the model's samples — K per
class from the Rust CLI (`--labels all --per-label K`, so image k asked for class k // K) — are classified.

`python -m dinof_train class-accuracy --bundle models/fashion-cond --per-class 100 --dinof-bin PATH`
"""
from __future__ import annotations

import json
import shlex
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def classifier_for(dataset: str, n_train: int = 20000, quiet: bool = True):
    """(classifier, test accuracy) for `dataset` (e.g. fashion-mnist): trained on n_train images of its ':train'
    split (fixed seed), cached under DINOF_CACHE/quality."""
    from .data import cache_dir, load_dataset
    from .quality import CLASSIFIER_VERSION, DigitNet, train_classifier

    base = dataset.split(":")[0]
    path = cache_dir() / "quality" / f"{base}-train-split-classifier-v{CLASSIFIER_VERSION}-{n_train}.pt"
    xt, yt, _ = load_dataset(f"{base}:test")
    net = DigitNet(xt.shape[1], xt.shape[2], int(yt.max()) + 1)
    if path.exists():
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state["net"])
        return net.eval(), float(state["accuracy"])
    x, y, _ = load_dataset(f"{base}:train")
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:n_train]
    t0 = time.time()
    net = train_classifier(x[idx], y[idx], quiet=quiet)
    acc = float((predict(net, xt) == yt).float().mean())
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"net": net.state_dict(), "accuracy": acc, "seconds": time.time() - t0}, path)
    return net, acc


@torch.no_grad()
def predict(net, x01: torch.Tensor) -> torch.Tensor:
    return torch.cat([net(x01[k:k + 500] * 2 - 1).argmax(1) for k in range(0, len(x01), 500)])


def class_accuracy(samples: np.ndarray, requested: np.ndarray, net, names=None) -> dict:
    pred = predict(net, torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))).numpy()
    hit = pred == requested
    per = {}
    for c in np.unique(requested):
        key = names[c] if names is not None else str(int(c))
        per[key] = float(hit[requested == c].mean())
    return {"n": int(len(hit)), "accuracy": float(hit.mean()), "per_class": per}


def main_class_accuracy(a) -> int:
    from .quality import sample_with_cli

    man = json.loads((Path(a.bundle) / "dinof.json").read_text())
    classes, names = int(man["classes"]), man.get("labels")
    if classes == 0:
        raise SystemExit(f"{a.bundle} is unconditional")
    dataset = a.dataset or man.get("provenance", {}).get("dataset_source", "fashion-mnist")
    net, test_acc = classifier_for(dataset, quiet=False)
    with tempfile.TemporaryDirectory() as tmp:
        extra = ["--labels", "all", "--per-label", str(a.per_class)] + shlex.split(a.cli_args or "")
        x = sample_with_cli(a.bundle, classes * a.per_class, Path(tmp) / "s.npy", a.dinof_bin, a.seed, extra)
    requested = np.repeat(np.arange(classes), a.per_class)
    r = {"bundle": str(a.bundle), "cli_args": a.cli_args, "classifier_test_accuracy": test_acc,
         **class_accuracy(x, requested, net, names)}
    print(json.dumps(r, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(r, indent=1) + "\n")
    return 0
