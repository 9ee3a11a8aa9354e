"""Reference sampler over a bundle's ONNX files (onnxruntime), with the official score_sde / DiNof semantics.

Flow start: z ~ N(0, τ²I) -> flow -> x(T_m), then the PC loop on linspace(T_m, eps, int(N·T_m)); prior start: x(1)
from the SDE prior on linspace(1, eps, N). Each step runs the corrector, then the predictor; the returned image is
the noise-free mean of the last step (denoise). Differences from the official code, on purpose: seeded, and the
Langevin step size uses per-sample norms (the official batch-averaged norms make samples depend on batch-mates).
This is the behaviour the Rust runtime reproduces; it is a reference, not a fast path.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from .sde import SDE, sde_from_manifest


class Bundle:
    def __init__(self, path: str | Path, threads: int = 0):
        import onnxruntime as ort

        self.path = Path(path)
        self.manifest = json.loads((self.path / "dinof.json").read_text())
        if self.manifest.get("format") != "dinof-bundle" or self.manifest.get("format_version") != 1:
            raise ValueError(f"{self.path}: not a dinof bundle v1")
        self.sde: SDE = sde_from_manifest(self.manifest["sde"])
        img = self.manifest["image"]
        self.shape = (img["channels"], img["height"], img["width"])
        self.classes = int(self.manifest.get("classes", 0))
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self._ort, self._opts = ort, opts
        self.score_sess = ort.InferenceSession(str(self.path / self.manifest["score"]["file"]), opts,
                                               providers=["CPUExecutionProvider"])
        self.flows = {float(f["t_m"]): f for f in self.manifest.get("flows", [])}
        self._flow_sess = {}

    def _session(self, file):
        if file not in self._flow_sess:
            self._flow_sess[file] = self._ort.InferenceSession(str(self.path / file), self._opts,
                                                               providers=["CPUExecutionProvider"])
        return self._flow_sess[file]

    def score(self, x: torch.Tensor, t: torch.Tensor, y=None) -> torch.Tensor:
        feed = {"x": x.float().numpy(), "t": t.float().numpy()}
        if self.classes > 0:
            feed["y"] = y.numpy().astype(np.int64)
        return torch.from_numpy(self.score_sess.run(["score"], feed)[0])

    def flow(self, t_m: float, z: torch.Tensor, y=None) -> torch.Tensor:
        f = self._flow_entry(t_m)
        feed = {"z": z.float().numpy()}
        if f.get("conditional"):
            feed["y"] = y.numpy().astype(np.int64)
        return torch.from_numpy(self._session(f["file"]).run(["x"], feed)[0])

    def flow_density(self, t_m: float, x: torch.Tensor, y=None):
        f = self._flow_entry(t_m)
        if "density_file" not in f:
            raise ValueError(f"flow t_m={t_m} has no density_file")
        feed = {"x": x.float().numpy()}
        if f.get("conditional"):
            feed["y"] = y.numpy().astype(np.int64)
        z, logdet = self._session(f["density_file"]).run(["z", "logdet"], feed)
        return torch.from_numpy(z), torch.from_numpy(logdet)

    def _flow_entry(self, t_m: float) -> dict:
        for k, f in self.flows.items():
            if abs(k - t_m) < 1e-9:
                return f
        raise ValueError(f"bundle has no flow at t_m={t_m} (has {sorted(self.flows)})")

    def to_pixels(self, x: torch.Tensor) -> torch.Tensor:
        img = self.manifest["image"]
        return (x * img["pixel_scale"] + img["pixel_offset"]).clamp(0.0, 1.0)


def _bc(v, x):
    return v.reshape((-1,) + (1,) * (x.dim() - 1))


def _predictor(name, b: Bundle, x, t, y, gen):
    sde, N = b.sde, b.sde.N
    if name == "none":
        return x, x
    s = b.score(x, t, y).double()
    z = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    if name == "euler_maruyama":
        dt = -1.0 / N
        f, g = sde.sde(x, t)
        drift = f - _bc(g ** 2, x) * s
        x_mean = x + drift * dt
        return x_mean + _bc(g, x) * math.sqrt(-dt) * z, x_mean
    if name == "reverse_diffusion":
        f, G = sde.discretize(x, t)
        x_mean = x - (f - _bc(G ** 2, x) * s)
        return x_mean + _bc(G, x) * z, x_mean
    if name == "ancestral":
        i = (t * (N - 1)).long()
        if sde.kind == "vp":
            beta = sde.discrete_betas.double()[i]
            x_mean = (x + _bc(beta, x) * s) / _bc(torch.sqrt(1.0 - beta), x)
            return x_mean + _bc(torch.sqrt(beta), x) * z, x_mean
        if sde.kind == "ve":
            sig = sde.discrete_sigmas.double()[i]
            adj = torch.where(i == 0, torch.zeros_like(sig), sde.discrete_sigmas.double()[(i - 1).clamp(min=0)])
            x_mean = x + _bc(sig ** 2 - adj ** 2, x) * s
            std = torch.sqrt(adj ** 2 * (sig ** 2 - adj ** 2) / sig ** 2)
            return x_mean + _bc(std, x) * z, x_mean
        raise ValueError("ancestral sampling is defined for VE and VP only")
    raise ValueError(f"unknown predictor {name!r}")


def _langevin(b: Bundle, x, t, y, snr, gen):
    sde = b.sde
    if sde.kind in ("vp", "subvp"):
        alpha = sde.alphas.double()[(t * (sde.N - 1)).long()]
    else:
        alpha = torch.ones_like(t)
    s = b.score(x, t, y).double()
    noise = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    g_norm = s.flatten(1).norm(dim=1)  # per sample (official: batch mean)
    n_norm = noise.flatten(1).norm(dim=1)
    step = (snr * n_norm / g_norm) ** 2 * 2 * alpha
    x_mean = x + _bc(step, x) * s
    return x_mean + _bc(torch.sqrt(2 * step), x) * noise, x_mean


def pc_sample(b: Bundle, n: int, seed: int = 0, start: str = "flow", t_m: float | None = None,
              predictor: str = "euler_maruyama", corrector: str = "none", snr: float = 0.16,
              corrector_steps: int = 1, steps: int | None = None, denoise: bool = True, temperature: float = 1.0,
              label: int | None = None, gen: torch.Generator | None = None) -> torch.Tensor:
    """n samples in SDE space (float64 [n, C, H, W]); the SDE math runs in float64, the networks in float32."""
    sde = b.sde
    gen = gen or torch.Generator().manual_seed(seed)
    y = None
    if b.classes > 0:
        y = (torch.full((n,), label, dtype=torch.int64) if label is not None
             else torch.randint(0, b.classes, (n,), generator=gen))
    D = int(np.prod(b.shape))
    if start == "flow":
        z = torch.randn(n, D, generator=gen) * temperature
        x = b.flow(t_m, z, y).double()
        t0 = t_m
    elif start == "prior":
        if b.manifest["score"]["t_max"] < 1.0:
            raise ValueError("prior start needs a score trained up to t_max = 1")
        x = sde.prior_sampling((n,) + b.shape, generator=gen).double()
        t0 = 1.0
    else:
        raise ValueError(f"unknown start {start!r}")
    steps = steps or int(sde.N * t0)
    x_mean = x
    for t in torch.linspace(t0, sde.eps, steps, dtype=torch.float64):
        vt = torch.full((n,), float(t), dtype=torch.float64)
        if corrector == "langevin":
            for _ in range(corrector_steps):
                x, x_mean = _langevin(b, x, vt, y, snr, gen)
        elif corrector != "none":
            raise ValueError(f"unknown corrector {corrector!r}")
        x, x_mean = _predictor(predictor, b, x, vt, y, gen)
    return x_mean if denoise else x


def save_grid(pixels: torch.Tensor, path: str | Path, nrow: int | None = None, pad: int = 2) -> None:
    from PIL import Image

    n, c, h, w = pixels.shape
    nrow = nrow or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / nrow))
    grid = np.ones((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), dtype=np.float32) * 0.5
    for k in range(n):
        r, q = divmod(k, nrow)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = \
            pixels[k].numpy()
    a = (grid * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(a[0], "L") if c == 1 else Image.fromarray(a.transpose(1, 2, 0), "RGB")
    img.save(path)


def sample_bundle(bundle, n=64, batch=64, seed=0, png=None, npy=None, start=None, t_m=None, predictor=None,
                  corrector=None, snr=None, steps=None, temperature=None, label=None, quiet=False):
    b = Bundle(bundle)
    d = b.manifest.get("sampler", {})
    start = start or d.get("start", "flow" if b.flows else "prior")
    t_m = t_m if t_m is not None else d.get("t_m", max(b.flows) if b.flows else None)
    opts = dict(start=start, t_m=t_m, predictor=predictor or d.get("predictor", "euler_maruyama"),
                corrector=corrector or d.get("corrector", "none"), snr=snr or d.get("snr", 0.16),
                corrector_steps=d.get("corrector_steps", 1), steps=steps or d.get("steps"),
                denoise=d.get("denoise", True), temperature=temperature or d.get("temperature", 1.0), label=label)
    gen = torch.Generator().manual_seed(seed)
    out, t0 = [], time.time()
    for k in range(0, n, batch):
        out.append(b.to_pixels(pc_sample(b, min(batch, n - k), gen=gen, **opts)).float())
    pix = torch.cat(out)
    secs = time.time() - t0
    if png:
        save_grid(pix, png)
    if npy:
        np.save(npy, pix.numpy().astype(np.float32))
    if not quiet:
        print(json.dumps({"n": n, "seconds": round(secs, 2), "png": png, "npy": npy,
                          **{k: v for k, v in opts.items() if v is not None}}))
    return pix


def evaluate_bundle(bundle, dataset=None, n=1000, seed=0, samples=16) -> dict:
    """Flow bits/dim on real x(T_m) (forward-marginal samples of the dataset) through the density graphs, and
    first/second moments of a few flow-started samples against the data."""
    from .data import load_dataset

    b = Bundle(bundle)
    prov = b.manifest.get("provenance", {})
    dataset = dataset or prov.get("dataset_source", prov.get("dataset", "mnist"))
    images, labels, _ = load_dataset(dataset)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(images), generator=g)[:n]
    x01 = images[idx]
    x0 = x01 * 2 - 1 if b.sde.centered else x01
    y = labels[idx] if b.classes > 0 else None
    D = int(np.prod(b.shape))
    res = {"dataset": dataset, "n": len(idx), "flows": {}}
    for t_m, f in sorted(b.flows.items()):
        if "density_file" not in f:
            continue
        mean, std = b.sde.marginal_prob(x0, torch.full((len(x0),), t_m))
        xt = mean + std[:, None, None, None] * torch.randn(x0.shape, generator=g)
        lp = []
        for k in range(0, len(xt), 250):
            z, logdet = b.flow_density(t_m, xt[k:k + 250], None if y is None else y[k:k + 250])
            lp.append(-0.5 * (z.double() ** 2).sum(1) - 0.5 * D * math.log(2 * math.pi) + logdet.double())
        lp = torch.cat(lp)
        res["flows"][str(t_m)] = {"bits_per_dim": float(-lp.mean() / (D * math.log(2)))}
    if b.flows and samples > 0:
        pix = sample_bundle(bundle, n=samples, seed=seed, quiet=True)
        res["samples"] = {"n": len(pix), "pixel_mean": float(pix.mean()), "data_pixel_mean": float(x01.mean()),
                          "pixel_std": float(pix.std()), "data_pixel_std": float(x01.std())}
    return res
