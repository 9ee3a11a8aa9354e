"""Sample quality for the bundled datasets: a Fréchet distance on the features of a small digit classifier
trained here (Inception weights cannot be downloaded on the build machines), k-NN precision/recall
(Kynkäänniemi et al. 2019) and the predicted-class histogram, each against real images, with the real-vs-real
level at the same n and a bootstrap spread. docs/evaluation.md explains how this differs from FID.

Data split (fixed seed, the npm packages hold 10,000 images and no test split): the classifier trains on 5,000
images; the 5,000 it never saw are split into the reference set (3,000, the statistics every set is compared
against) and a pool (2,000) from which the real-vs-real level draws n images. Model samples are as unseen by the
classifier as both, so real-vs-real is the level a perfect sampler reaches at that n.
"""
from __future__ import annotations

import hashlib
import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CLASSIFIER_VERSION = 1  # bump when the network, the split or the training recipe changes (invalidates caches)
SPLIT_SEED = 2024
N_CLASSIFIER, N_REFERENCE = 5000, 3000


class DigitNet(nn.Module):
    """Two conv blocks and a 128-d penultimate layer: the features the Fréchet distance uses."""

    def __init__(self, channels: int = 1, resolution: int = 28, classes: int = 10, features: int = 128):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * (resolution // 4) ** 2, features)
        self.fc2 = nn.Linear(features, classes)

    def features(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.fc1(x.flatten(1)))

    def forward(self, x):
        return self.fc2(self.features(x))


@dataclass
class Split:
    train: torch.Tensor  # indices
    reference: torch.Tensor
    pool: torch.Tensor


def split(n: int) -> Split:
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    a = min(N_CLASSIFIER, n // 2)
    b = a + min(N_REFERENCE, (n - a) * 3 // 5)
    return Split(perm[:a], perm[a:b], perm[b:])


def _cache_path(dataset: str, images: torch.Tensor) -> Path:
    from .data import cache_dir

    h = hashlib.sha256(images.numpy().tobytes()).hexdigest()[:16]
    return cache_dir() / "quality" / f"{Path(dataset).name}-classifier-v{CLASSIFIER_VERSION}-{h}.pt"


def train_classifier(images: torch.Tensor, labels: torch.Tensor, epochs: int = 4, seed: int = 0,
                     quiet: bool = True, net: nn.Module | None = None) -> nn.Module:
    """Deterministic (fixed seed, one thread): the same data gives the same weights. `net`: train this network
    (initialised by the caller) instead of a DigitNet initialised from `seed` (judge.py's extractors)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        if net is None:
            net = DigitNet(images.shape[1], images.shape[2], int(labels.max()) + 1)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x = images * 2 - 1
        for ep in range(epochs):
            perm = torch.randperm(len(x), generator=g)
            for k in range(0, len(x), 64):
                i = perm[k:k + 64]
                # small random shifts: features that do not hinge on exact pixel positions
                xb = torch.roll(x[i], shifts=tuple(torch.randint(-2, 3, (2,), generator=g).tolist()), dims=(2, 3))
                loss = F.cross_entropy(net(xb), labels[i])
                opt.zero_grad()
                loss.backward()
                opt.step()
            if not quiet:
                print(f"classifier epoch {ep + 1}/{epochs}: loss {loss.item():.4f}", flush=True)
    finally:
        torch.set_num_threads(threads)
    return net.eval()


class Scorer:
    """Classifier + real reference statistics for one dataset (trained once, cached under DINOF_CACHE)."""

    def __init__(self, dataset: str = "mnist", quiet: bool = True):
        from .data import load_dataset

        images, labels, _ = load_dataset(dataset)
        if int(labels.min()) < 0:
            raise ValueError(f"{dataset}: the quality metric needs labelled data")
        self.dataset, self.images, self.labels = dataset, images, labels
        self.shape = tuple(images.shape[1:])
        self.split = split(len(images))
        path = _cache_path(dataset, images)
        self.net = DigitNet(self.shape[0], self.shape[1], int(labels.max()) + 1)
        if path.exists():
            state = torch.load(path, map_location="cpu", weights_only=True)
            self.net.load_state_dict(state["net"])
            self.accuracy = float(state["accuracy"])
        else:
            t0 = time.time()
            if not quiet:
                print(f"training the {dataset} feature classifier (once; cached at {path})", flush=True)
            self.net = train_classifier(images[self.split.train], labels[self.split.train], quiet=quiet)
            held = torch.cat([self.split.reference, self.split.pool])
            self.accuracy = float((self.predict(images[held]) == labels[held]).float().mean())
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save({"net": self.net.state_dict(), "accuracy": self.accuracy,
                        "seconds": time.time() - t0}, tmp)
            tmp.replace(path)
        self.net.eval()
        self.ref_feats = self.features(images[self.split.reference])
        self.ref_stats = gaussian_stats(self.ref_feats)
        self._ref_radii = {}
        self.ref_hist = np.bincount(labels[self.split.reference].numpy(), minlength=self.num_classes) \
            / len(self.split.reference)

    def ref_radii(self, k: int) -> torch.Tensor:
        if k not in self._ref_radii:
            self._ref_radii[k] = knn_radii(self.ref_feats, k)
        return self._ref_radii[k]

    @property
    def num_classes(self) -> int:
        return self.net.fc2.out_features

    @torch.no_grad()
    def _run(self, x01: torch.Tensor, head: bool):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one thread: features identical whatever the machine
        try:
            outs = []
            for k in range(0, len(x01), 500):
                xb = x01[k:k + 500].float() * 2 - 1
                outs.append(self.net(xb) if head else self.net.features(xb))
            return torch.cat(outs).double().numpy()
        finally:
            torch.set_num_threads(threads)

    def features(self, x01: torch.Tensor) -> np.ndarray:
        return self._run(x01, head=False)

    def predict(self, x01: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self._run(x01, head=True).argmax(1))

    def check_images(self, x: np.ndarray) -> torch.Tensor:
        return check_images(x, self.shape)

    def score(self, samples: np.ndarray, bootstrap: int = 50, k: int = 3, seed: int = 0,
              real_level: bool = True) -> dict:
        x = self.check_images(samples)
        n = len(x)
        feats = self.features(x)
        probs = np.bincount(self.predict(x).numpy(), minlength=self.num_classes) / n
        res = {"dataset": self.dataset, "n": n, "fd": frechet_distance(*gaussian_stats(feats), *self.ref_stats),
               **precision_recall(self.ref_feats, feats, k=k, real_radii=self.ref_radii(k)),
               "class_histogram": [round(float(p), 4) for p in probs],
               "class_tv": float(0.5 * np.abs(probs - self.ref_hist).sum()),
               "n_reference": len(self.split.reference), "classifier_accuracy": self.accuracy}
        rng = np.random.default_rng(seed)
        if bootstrap > 0:
            fds = [frechet_distance(*gaussian_stats(feats[rng.integers(0, n, n)]), *self.ref_stats)
                   for _ in range(bootstrap)]
            # Resampling with replacement duplicates points, which biases each resample's FD upward: only
            # the spread is used (docs/evaluation.md), not the resamples' mean or quantiles.
            res["fd_bootstrap_std"] = float(np.std(fds, ddof=1))
        if real_level:
            res["real_vs_real"] = self.real_level(n, repeats=max(5, min(bootstrap, 20)), k=k, seed=seed)
        return res

    def real_level(self, n: int, repeats: int = 10, k: int = 3, seed: int = 0) -> dict:
        """The same figures for n real images the classifier never saw (drawn from the pool, with replacement
        past its size), repeated: what a perfect sampler scores at this n."""
        pool = self.split.pool
        rng = np.random.default_rng(seed + 1)
        feats = self.features(self.images[pool])
        fds, prs = [], []
        for _ in range(repeats):
            idx = rng.choice(len(pool), n, replace=n > len(pool))
            fds.append(frechet_distance(*gaussian_stats(feats[idx]), *self.ref_stats))
            prs.append(precision_recall(self.ref_feats, feats[idx], k=k, real_radii=self.ref_radii(k)))
        return {"fd": _spread(fds), "precision": float(np.mean([p["precision"] for p in prs])),
                "recall": float(np.mean([p["recall"] for p in prs])), "repeats": repeats,
                "with_replacement": n > len(pool)}


def _spread(v) -> dict:
    v = np.asarray(v, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "p05": float(np.quantile(v, 0.05)), "p95": float(np.quantile(v, 0.95))}


def gaussian_stats(feats: np.ndarray):
    f = torch.from_numpy(np.asarray(feats, dtype=np.float64))
    return f.mean(0).numpy(), torch.cov(f.T).numpy()


def _sqrt_psd(a: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh((a + a.T) / 2)
    return (v * w.clamp(min=0.0).sqrt()) @ v.T


def check_images(x, shape: tuple) -> torch.Tensor:
    """Samples as a float tensor [N, *shape] of pixels, refused with a clear message unless N ≥ 2 images of that shape
    with every value finite and in [0, 1] (to 1e-3, then clipped)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(f"samples of shape {x.shape}: expected [N, {', '.join(map(str, shape))}]")
    if not np.isfinite(x).all():
        raise ValueError("samples contain NaN or infinity")
    if x.min() < -1e-3 or x.max() > 1 + 1e-3:
        raise ValueError(f"samples must be pixels in [0, 1], got range [{x.min():.3g}, {x.max():.3g}]")
    if len(x) < 2:
        raise ValueError("need at least 2 samples")
    return torch.from_numpy(np.clip(x, 0.0, 1.0))


def frechet_distance(mu1, s1, mu2, s2) -> float:
    """||mu1 − mu2||² + Tr(S1 + S2 − 2 (S1 S2)^½), the 2-Wasserstein distance² between two Gaussians.
    Tr (S1 S2)^½ = Tr (S1^½ S2 S1^½)^½, whose argument is symmetric PSD: eigh is stable where sqrtm of the
    non-symmetric product is not (and needs no scipy). Linear algebra through torch (single-threaded by the
    caller's setting): numpy's threaded OpenBLAS ran eigh 100x slower on a loaded 2-core machine."""
    s1, s2 = (torch.as_tensor(np.asarray(s, np.float64)) for s in (s1, s2))
    r1 = _sqrt_psd(s1)
    cross = torch.linalg.eigvalsh(r1 @ s2 @ r1).clamp(min=0.0).sqrt().sum()
    d = torch.as_tensor(np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64))
    return float(d @ d + torch.trace(s1) + torch.trace(s2) - 2.0 * cross)


def knn_radii(x: np.ndarray, k: int) -> torch.Tensor:
    x = torch.from_numpy(np.asarray(x, np.float64))
    return torch.cdist(x, x).kthvalue(k + 1, dim=1).values  # k + 1: the point itself is at distance 0


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3, real_radii=None) -> dict:
    """Improved precision/recall (Kynkäänniemi et al. 2019): each set's manifold is the union of balls around
    its points with radius the distance to the k-th nearest neighbour; precision = share of fake points inside
    the real manifold, recall = share of real points inside the fake manifold."""
    r, f = torch.from_numpy(np.asarray(real, np.float64)), torch.from_numpy(np.asarray(fake, np.float64))
    rr = knn_radii(real, k) if real_radii is None else real_radii
    rf = knn_radii(fake, k)
    d = torch.cdist(f, r)  # [n_fake, n_real]
    precision = (d <= rr[None, :]).any(1).double().mean()
    recall = (d.T <= rf[None, :]).any(1).double().mean()
    return {"precision": float(precision), "recall": float(recall), "k": k}


def sample_with_cli(bundle: str, n: int, out: Path, dinof_bin: str | None = None, seed: int = 0,
                    extra: list[str] | None = None, quiet: bool = False) -> np.ndarray:
    """Images from the Rust runtime: `dinof sample --out X.npy` (a given binary, else `cargo run --release`)."""
    import subprocess

    extra = list(extra or [])
    classes = json.loads((Path(bundle) / "dinof.json").read_text()).get("classes", 0)
    if classes > 0 and "--labels" not in extra:
        # A conditional model needs labels: every class equally often (n a multiple of the class count).
        if n % classes:
            raise ValueError(f"{bundle} has {classes} classes: n = {n} must be a multiple (or give --labels)")
        extra += ["--labels", "all", "--per-label", str(n // classes)]
    args = ["sample", "--bundle", str(bundle), "--n", str(n), "--seed", str(seed), "--out", str(out)] \
        + extra + (["--quiet"] if quiet else [])
    root = Path(__file__).resolve().parents[2]
    cmd = [dinof_bin, *args] if dinof_bin else ["cargo", "run", "--quiet", "--release", "--", *args]
    proc = subprocess.run(cmd, cwd=root if not dinof_bin else None)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed with exit status {proc.returncode}")
    return np.load(out)


def format_report(r: dict) -> str:
    rr = r.get("real_vs_real")
    b = r.get("fd_bootstrap_std")
    lines = [f"{r['dataset']}: n = {r['n']} against {r['n_reference']} real reference images "
             f"(feature classifier accuracy {r['classifier_accuracy']:.3f} on held-out images)",
             f"  Fréchet distance  {r['fd']:.3f}" + (f"  (bootstrap std {b:.3f})" if b else "")]
    if rr:
        lines.append(f"  real vs real      {rr['fd']['mean']:.3f} ± {rr['fd']['std']:.3f} at the same n "
                     f"({rr['repeats']} draws)")
    lines.append(f"  precision {r['precision']:.3f}  recall {r['recall']:.3f}  (k = {r['k']}"
                 + (f"; real vs real {rr['precision']:.3f} / {rr['recall']:.3f})" if rr else ")"))
    lines.append("  classes " + " ".join(f"{p:.2f}" for p in r["class_histogram"])
                 + f"  (total variation to real {r['class_tv']:.3f})")
    return "\n".join(lines)


def degraded_sets(scorer: Scorer, n: int, seed: int = 0) -> dict:
    """Known-quality image sets for calibrating the figures: n unseen real images, the same blurred (3x3 box),
    shifted by 2 pixels, a single class, and uniform noise."""
    rng = np.random.default_rng(seed)
    pool = scorer.split.pool
    real = scorer.images[pool[rng.choice(len(pool), n, replace=n > len(pool))]]
    k = torch.ones(1, 1, 3, 3) / 9.0
    blurred = F.conv2d(real.reshape(-1, 1, *real.shape[2:]), k, padding=1).reshape(real.shape)
    shifted = torch.roll(real, shifts=(2, 2), dims=(2, 3))
    one = scorer.images[pool][scorer.labels[pool] == scorer.labels[pool][0]]
    one = one[rng.choice(len(one), n, replace=n > len(one))]
    noise = torch.from_numpy(rng.random(real.shape).astype(np.float32))
    return {"real (unseen)": real, "real, 3x3 blur": blurred, "real, shifted 2 px": shifted,
            "one class only": one, "uniform noise": noise}


def calibrate(scorer: Scorer, n: int, bootstrap: int = 20, seed: int = 0) -> str:
    rows = [f"{scorer.dataset}, n = {n} per set, {len(scorer.split.reference)} reference images, classifier "
            f"accuracy {scorer.accuracy:.3f}", "",
            "| set | Fréchet distance | precision | recall | class TV |", "|---|---|---|---|---|"]
    rr = scorer.real_level(n, repeats=20, seed=seed)
    rows.append(f"| real vs real (20 draws) | {rr['fd']['mean']:.2f} ± {rr['fd']['std']:.2f} | "
                f"{rr['precision']:.3f} | {rr['recall']:.3f} | |")
    for name, x in degraded_sets(scorer, n, seed).items():
        r = scorer.score(x.numpy(), bootstrap=bootstrap, seed=seed, real_level=False)
        rows.append(f"| {name} | {r['fd']:.2f} ± {r['fd_bootstrap_std']:.2f} | {r['precision']:.3f} | "
                    f"{r['recall']:.3f} | {r['class_tv']:.3f} |")
    return "\n".join(rows)


def main_fid(a) -> int:
    scorer = Scorer(a.dataset, quiet=False)
    if a.calibrate:
        print(calibrate(scorer, a.n or 500, bootstrap=a.bootstrap, seed=a.seed), flush=True)
        return 0
    if a.bundle:
        import tempfile

        if not a.n:
            raise SystemExit("--bundle needs --n")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(a.samples) if a.samples else Path(tmp) / "samples.npy"
            x = sample_with_cli(a.bundle, a.n, out, a.dinof_bin, a.seed, shlex.split(a.cli_args or ""))
    elif a.samples:
        x = np.load(a.samples)
    else:
        raise SystemExit("give SAMPLES.npy or --bundle DIR --n N")
    r = scorer.score(x, bootstrap=a.bootstrap, k=a.k, seed=a.seed)
    print(format_report(r), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(r, indent=1) + "\n")
    return 0

