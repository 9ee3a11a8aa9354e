"""Flow priors that start at the Gaussian level (issue 19, items 2-4): fit, train, export, measure.

The room a flow has over the fitted Gaussian of x(T_m) = a·x0 + s·ε is at most ½·Σᵢ log₂(1 + a²λᵢ/s²)/D bits/dim
(λᵢ the clean-data covariance eigenvalues): the Gaussian's entropy minus the noise's. A Glow with an isotropic
base spends its budget learning that covariance; here the covariance is exact and free:

- `moments`: mean(s) and covariance Σ̂0 of the clean training images in SDE space (float64 eigendecomposition; for a
  class-conditional model the per-class means and the pooled within-class covariance);
- `gaussian_at`: the fitted Gaussian N(a·μ̂0[y], a²Σ̂0 + s²I) at T_m as a `GaussianPrior` (the Gaussian start's
  graphs, and the whitening of the flow), in its low-rank form: exact on the top-k principal directions, isotropic
  on the rest, k the smallest whose expected cost is <= LOWRANK_LOSS_BPD (models/glow.py), so graphs hold D×k
  matrices instead of D×D (784×784 float32 is 2.5 MB per matrix, a 48 MB MNIST bundle);
- `train_flows`: per T_m a `WhitenedGlow` (whitening + identity-initialised Glow: before training it IS the
  Gaussian), maximum likelihood on fresh x(T_m) of the training images, early stopping on the NLL of a fixed
  validation set (images never trained on): the kept weights are the best evaluated, and the first evaluation is
  the untrained model, so the result is never worse than the Gaussian on validation data;
- `export_flow_prior`: a bundle with the score graph of an existing bundle byte for byte, the new flows and a
  Gaussian start per T_m (manifest array `gaussians`, docs/bundle-format.md);
- `add_gaussians`: a Gaussian start per flow T_m added to an existing bundle in place (every other file untouched);
- `heldout_table`: bits/dim of every flow and Gaussian of bundles on ≥ 10,000 held-out x(T_m) (test images never
  used for fitting or early stopping, several noise draws each) against the closed-form Gaussian and the bound.

Splits of a dataset (fixed permutation `SPLIT_SEED`): train (fit + flow training), val (early stopping), test
(the table). The score network of a shipped bundle saw all images; the flows here do not see val/test.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .models.glow import LOWRANK_LOSS_BPD, GaussianPrior, Glow, WhitenedGlow, lowrank_eigenvalues, lowrank_loss_bpd

SPLIT_SEED = 19
LOG2 = math.log(2.0)


# ----------------------------------------------------------------------------- closed forms
def marginal_coeffs(sde, t: float) -> tuple[float, float]:
    """(a, s): x(t) = a·x0 + s·ε under the SDE, in float64."""
    m, s = sde.marginal_prob(torch.ones(1, 1, dtype=torch.float64), torch.tensor([float(t)], dtype=torch.float64))
    return float(m.reshape(-1)[0]), float(torch.as_tensor(s).reshape(-1)[0])


@dataclass
class Moments:
    mean: torch.Tensor  # [K, D] float64 (K = 1 unconditional)
    eig: torch.Tensor  # [D] descending
    vec: torch.Tensor  # [D, D] columns = eigenvectors
    shape: tuple
    n: int

    @property
    def cov(self) -> torch.Tensor:
        return (self.vec * self.eig) @ self.vec.T

    def state(self) -> dict:
        return {"mean": self.mean, "eig": self.eig, "vec": self.vec, "shape": list(self.shape), "n": self.n}

    @classmethod
    def from_state(cls, d: dict) -> "Moments":
        return cls(d["mean"], d["eig"], d["vec"], tuple(d["shape"]), int(d["n"]))


def moments(x0: torch.Tensor, labels: torch.Tensor | None = None, classes: int = 0) -> Moments:
    """Mean(s) and covariance of clean data x0 [N, C, H, W] (SDE space), float64. With classes > 0: per-class means
    and the pooled within-class covariance (each image centred on its class mean, divided by N − K)."""
    x = x0.flatten(1).double()
    if classes > 0:
        mean = torch.stack([x[labels == k].mean(0) for k in range(classes)])
        xc = x - mean[labels]
        dof = len(x) - classes
    else:
        mean = x.mean(0, keepdim=True)
        xc = x - mean
        dof = len(x) - 1
    cov = xc.T @ xc / dof
    eig, vec = torch.linalg.eigh((cov + cov.T) / 2)
    order = torch.argsort(eig, descending=True)
    return Moments(mean, eig[order].clamp(min=0.0), vec[:, order], tuple(x0.shape[1:]), len(x))


def gaussian_at(mom: Moments, sde, t_m: float, rank: int | None = None) -> GaussianPrior:
    """The fitted Gaussian at T_m in its low-rank form (rank None: the smallest within LOWRANK_LOSS_BPD)."""
    a, s = marginal_coeffs(sde, t_m)
    return GaussianPrior.fit(mom.mean, mom.eig, mom.vec, a, s, mom.shape, rank=rank)


def covariance_at(mom: Moments, sde, t_m: float, rank: int | None = None) -> torch.Tensor:
    """float64 covariance of x(T_m): a²Σ̂0 + s²I (rank None), or what the rank-`rank` form represents."""
    a, s = marginal_coeffs(sde, t_m)
    c = a * a * mom.eig + s * s
    if rank is not None:
        c = lowrank_eigenvalues(c, rank)
    return (mom.vec * c) @ mom.vec.T


def lowrank_cost_bpd(mom: Moments, sde, t_m: float, rank: int) -> float:
    """Expected bits/dim the rank-`rank` form costs against the full-rank Gaussian (closed form, glow.py)."""
    a, s = marginal_coeffs(sde, t_m)
    return lowrank_loss_bpd(a * a * mom.eig + s * s, rank)


def room_bpd(mom: Moments, sde, t_m: float) -> float:
    """½·Σᵢ log₂(1 + a²λᵢ/s²)/D: the most any model of x(T_m) can gain over the fitted Gaussian (bits/dim)."""
    a, s = marginal_coeffs(sde, t_m)
    return float(0.5 * torch.log2(1.0 + a * a * mom.eig / (s * s)).sum() / mom.eig.numel())


def gaussian_nll_bpd(x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor, y: torch.Tensor | None = None) -> float:
    """Mean NLL in bits/dim of x [N, ...] under N(mean[y], cov), float64 (Cholesky): an instrument independent of
    GaussianPrior's graph arithmetic."""
    xf = x.flatten(1).double()
    d = xf.shape[1]
    m = mean[y] if y is not None and mean.shape[0] > 1 else mean[:1]
    chol = torch.linalg.cholesky(cov.double())
    r = torch.linalg.solve_triangular(chol, (xf - m).T, upper=False)  # [D, N]
    nll = 0.5 * (r ** 2).sum(0) + torch.log(torch.diagonal(chol)).sum() + 0.5 * d * math.log(2 * math.pi)
    return float(nll.mean() / (d * LOG2))


# ----------------------------------------------------------------------------- data
def splits(n: int, val: int, test: int) -> dict:
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    return {"test": perm[:test], "val": perm[test:test + val], "train": perm[test + val:]}


def noisy(sde, x0: torch.Tensor, t_m: float, draws: int, seed: int) -> torch.Tensor:
    """`draws` fresh x(T_m) per image (image-major), from their own generator."""
    g = torch.Generator().manual_seed(seed)
    x = x0.repeat_interleave(draws, 0)
    a, s = marginal_coeffs(sde, t_m)
    return (a * x.double() + s * torch.randn(x.shape, generator=g, dtype=torch.float64)).float()


@torch.no_grad()
def bpd(model, x: torch.Tensor, y: torch.Tensor | None = None, chunk: int = 500) -> float:
    d = x[0].numel()
    lp = torch.cat([model.log_prob(x[k:k + chunk], None if y is None else y[k:k + chunk]).double()
                    for k in range(0, len(x), chunk)])
    return float(-lp.mean() / (d * LOG2))


# ----------------------------------------------------------------------------- training
@dataclass
class FlowPriorConfig:
    dataset: str = "mnist"
    classes: int = 0
    t_ms: list = field(default_factory=lambda: [0.2, 0.3, 0.4, 0.6])
    levels: int = 2
    steps: int = 8
    hidden: int = 64
    batch: int = 64
    lr: float = 5e-4
    warmup: int = 200
    grad_clip: float = 50.0
    ema: float = 0.999
    eval_every: int = 250
    patience: int = 6  # evaluations without a new best before a flow stops
    max_steps: int = 100_000
    time_budget: float = 0.0  # seconds per flow (0: none)
    val_images: int = 1000
    test_images: int = 2000
    val_draws: int = 2
    seed: int = 0
    threads: int = 1


def build_flow(cfg: FlowPriorConfig, mom: Moments, sde, t_m: float) -> WhitenedGlow:
    c, h, _ = mom.shape
    glow = Glow(channels=c, resolution=h, levels=cfg.levels, steps=cfg.steps, hidden=cfg.hidden,
                classes=cfg.classes, identity_init=True)
    return WhitenedGlow(gaussian_at(mom, sde, t_m), glow)


def load_data(cfg: FlowPriorConfig, sde):
    from .data import load_dataset
    from .train import to_sde_space

    images, labels, _ = load_dataset(cfg.dataset)
    return to_sde_space(images, sde), labels


def train_flows(cfg: FlowPriorConfig, sde, out: str | Path, quiet: bool = False) -> dict:
    """Train one WhitenedGlow per T_m (resumable per finished T_m: out/flowprior.pt)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    data, labels = load_data(cfg, sde)
    sp = splits(len(data), cfg.val_images, cfg.test_images)
    train_x, train_y = data[sp["train"]], labels[sp["train"]]
    mom = moments(train_x, train_y, cfg.classes)
    path = out / "flowprior.pt"
    state = torch.load(path, weights_only=False) if path.exists() else {
        "config": dataclasses.asdict(cfg), "sde": sde.manifest(), "moments": mom.state(), "flows": {}}
    log = open(out / "train_log.jsonl", "a")
    for t_m in cfg.t_ms:
        key = f"{t_m:g}"
        if key in state["flows"]:
            continue
        torch.manual_seed(cfg.seed)
        g = torch.Generator().manual_seed(cfg.seed * 1000 + int(round(t_m * 1000)))
        flow = build_flow(cfg, mom, sde, t_m)
        ema = copy.deepcopy(flow).eval()
        vy = labels[sp["val"]].repeat_interleave(cfg.val_draws) if cfg.classes else None
        vx = noisy(sde, data[sp["val"]], t_m, cfg.val_draws, seed=1 + int(round(t_m * 1000)))
        opt = torch.optim.Adam(flow.glow.parameters(), lr=cfg.lr)
        gauss = bpd(flow.whitening, vx, vy)
        best = {"step": 0, "val_bpd": bpd(ema, vx, vy), "state": copy.deepcopy(ema.state_dict())}
        hist = [{"step": 0, "val_bpd": best["val_bpd"]}]
        a, s = marginal_coeffs(sde, t_m)
        t0, step, bad = time.time(), 0, 0
        D = train_x[0].numel()
        def stop():
            return step >= cfg.max_steps or bad >= cfg.patience or bool(cfg.time_budget and
                                                                         time.time() - t0 > cfg.time_budget)

        while not stop():
            idx = torch.randint(0, len(train_x), (cfg.batch,), generator=g)
            x = a * train_x[idx] + s * torch.randn(train_x[idx].shape, generator=g)
            y = train_y[idx] if cfg.classes else None
            for grp in opt.param_groups:
                grp["lr"] = cfg.lr * min(1.0, (step + 1) / cfg.warmup)
            nll = -flow(x, y).mean() / (D * LOG2)
            opt.zero_grad(set_to_none=True)
            if torch.isfinite(nll):
                nll.backward()
                torch.nn.utils.clip_grad_norm_(flow.glow.parameters(), cfg.grad_clip)
                opt.step()
            with torch.no_grad():
                dec = min(cfg.ema, (1 + step) / (10 + step))
                for e, p in zip(ema.parameters(), flow.parameters()):
                    e.mul_(dec).add_(p.detach(), alpha=1 - dec)
            step += 1
            if step % cfg.eval_every == 0 or stop():  # the last steps before a stop are evaluated too
                v = bpd(ema, vx, vy)
                rec = {"t_m": t_m, "step": step, "train_bpd": nll.item(), "val_bpd": v, "gauss_val_bpd": gauss,
                       "elapsed": round(time.time() - t0, 1)}
                hist.append({"step": step, "val_bpd": v})
                log.write(json.dumps(rec) + "\n")
                log.flush()
                if not quiet:
                    print(json.dumps(rec), flush=True)
                if math.isfinite(v) and v < best["val_bpd"]:
                    best = {"step": step, "val_bpd": v, "state": copy.deepcopy(ema.state_dict())}
                    bad = 0
                else:
                    bad += 1
        state["flows"][key] = {"state": best["state"], "best_step": best["step"], "val_bpd": best["val_bpd"],
                               "gauss_val_bpd": gauss, "steps": step, "seconds": round(time.time() - t0, 1),
                               "history": hist}
        torch.save(state, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)
    log.close()
    return {k: {kk: v[kk] for kk in ("best_step", "val_bpd", "gauss_val_bpd", "steps", "seconds")}
            for k, v in state["flows"].items()}


def load_flows(run: str | Path, sde=None):
    """(cfg, sde, moments, {t_m: WhitenedGlow in eval mode}) of a train_flows run."""
    from .sde import sde_from_manifest

    st = torch.load(Path(run) / "flowprior.pt", weights_only=False)
    cfg = FlowPriorConfig(**st["config"])
    sde = sde or sde_from_manifest(st["sde"])
    mom = Moments.from_state(st["moments"])
    flows = {}
    for key, f in sorted(st["flows"].items(), key=lambda kv: float(kv[0])):
        m = build_flow(cfg, mom, sde, float(key))
        m.load_state_dict(f["state"])
        flows[float(key)] = m.eval()
    return cfg, sde, mom, flows, st


# ----------------------------------------------------------------------------- export
def export_gaussians(cfg_like, mom: Moments, sde, t_ms, out: Path, report, ops_used, files, seed: int = 0) -> list:
    """gaussian_t{T_m}.onnx (+ gaussian_density_t{T_m}.onnx) per T_m through the flows' exporter (same contract,
    checker, op scan and onnxruntime parity); entries for the manifest's `gaussians`."""
    from .export import export_flows

    priors = [gaussian_at(mom, sde, t) for t in t_ms]
    entries = export_flows(cfg_like, priors, t_ms, out, True, report, ops_used, files, seed, prefix="gaussian")
    return entries, gaussians_provenance(mom, sde, t_ms, priors)


def gaussians_provenance(mom: Moments, sde, t_ms, priors) -> dict:
    """What the manifest records of the Gaussian starts: the fit and, per T_m, the rank and its expected cost."""
    return {"moments_n": mom.n, "split_seed": SPLIT_SEED, "max_lowrank_loss_bpd": LOWRANK_LOSS_BPD,
            "t_m": {f"{t:g}": {"rank": p.rank, "lowrank_loss_bpd": lowrank_cost_bpd(mom, sde, t, p.rank)}
                    for t, p in zip(t_ms, priors)}}


def add_gaussians(bundle: str | Path, dataset: str, val: int = 1000, test: int = 2000) -> dict:
    """Adds a Gaussian start per flow T_m (same `conditional`) to an existing bundle in place: new gaussian*.onnx
    files, the manifest's `gaussians`, checksums and provenance; every other file and manifest field is unchanged
    (the score graph byte for byte). The moments come from the train split of `splits` (val and test held out, as
    for flow-prior train), so `heldout_table` measures them on images they never saw."""
    import onnx
    import onnxruntime

    from .export import export_flows, sha256, write_manifest
    from .sample import Bundle

    bundle = Path(bundle)
    b = Bundle(bundle)
    man = json.loads((bundle / "dinof.json").read_text())
    classes = int(man.get("classes", 0))
    cfg = FlowPriorConfig(dataset=dataset, classes=classes, val_images=val, test_images=test)
    data, labels = load_data(cfg, b.sde)
    sp = splits(len(data), val, test)
    mom = moments(data[sp["train"]], labels[sp["train"]], classes)
    if tuple(mom.shape) != (man["image"]["channels"], man["image"]["height"], man["image"]["width"]):
        raise ValueError(f"{dataset} images {mom.shape} != the bundle's {man['image']}")
    if any(bool(f.get("conditional")) != (classes > 0) for f in man["flows"]):
        raise ValueError("a flow's `conditional` differs from the bundle's classes: not handled")
    for e in man.get("gaussians", []):
        for k in ("file", "density_file"):
            if k in e:
                (bundle / e[k]).unlink(missing_ok=True)
    t_ms = [float(f["t_m"]) for f in man["flows"]]
    report, ops, files = {}, {}, []
    cfg_like = _CfgLike(channels=mom.shape[0], resolution=mom.shape[1], classes=classes)
    entries, prov = export_gaussians(cfg_like, mom, b.sde, t_ms, bundle, report, ops, files)
    out = {}
    for k, v in man.items():  # `gaussians` right after `flows`, the rest in its order
        if k != "gaussians":
            out[k] = v
        if k == "flows":
            out["gaussians"] = entries
    prov.update(dataset=dataset, generator="python -m dinof_train flow-prior add-gaussians", export_parity=report,
                onnx_ops=ops, versions={"torch": torch.__version__, "onnx": onnx.__version__,
                                        "onnxruntime": onnxruntime.__version__})
    out.setdefault("provenance", {})["gaussians"] = prov
    old = {f for e in man.get("gaussians", []) for f in (e["file"], e.get("density_file")) if f}
    out["checksums"] = {**{f: h for f, h in man.get("checksums", {}).items() if f not in old},
                        **{f: sha256(bundle / f) for f in files}}
    write_manifest(out, bundle)
    return out


def export_flow_prior(run: str | Path, score_from: str | Path, out: str | Path, name: str | None = None,
                      gaussians_only: bool = False) -> dict:
    """Bundle = score.onnx of `score_from` (byte for byte) + the run's WhitenedGlows + a Gaussian start per T_m.
    The sampler defaults are score_from's (so a comparison at the bundle's defaults changes the prior only)."""
    import onnx
    import onnxruntime

    from .export import TOLERANCE, OPSET, copy_score, export_flows, sha256, write_manifest

    cfgf, sde, mom, flows, st = load_flows(run)
    src = json.loads((Path(score_from) / "dinof.json").read_text())
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for p in out.glob("*.onnx"):
        p.unlink()
    c, h, w = mom.shape
    cfg_like = _CfgLike(channels=c, resolution=h, classes=cfgf.classes)
    score_prov = copy_score(Path(score_from), cfg_like, sde, out)
    t_ms = sorted(flows)
    report, ops, files = {}, {}, ["score.onnx"]
    flow_entries = [] if gaussians_only else export_flows(cfg_like, [flows[t] for t in t_ms], t_ms, out, True,
                                                          report, ops, files)
    gauss_entries, gauss_prov = export_gaussians(cfg_like, mom, sde, t_ms, out, report, ops, files)
    sampler = dict(src["sampler"])
    if gaussians_only:
        sampler.update(start="gaussian")
    man = {k: src[k] for k in ("format", "format_version", "image", "sde", "classes") if k in src}
    if "labels" in src:
        man["labels"] = src["labels"]
    man.update(name=name or f"{src['name']}-flowprior", description=(
        f"{src['name']}'s score network (unchanged) with whitened Glow priors (covariance a²Σ0 + s²I, low-rank, then "
        f"{cfgf.levels} levels x {cfgf.steps} steps, hidden {cfgf.hidden}, identity-initialised, early-stopped on "
        f"held-out NLL) and Gaussian starts at T_m = {', '.join(f'{t:g}' for t in t_ms)}"),
        score=src["score"], flows=flow_entries, gaussians=gauss_entries, sampler=sampler)
    man["provenance"] = {
        "dataset": cfgf.dataset, "generator": "python -m dinof_train flow-prior", "score_from": score_prov,
        "flow_prior": {"config": dataclasses.asdict(cfgf), "moments_n": mom.n,
                       "flows": {k: {kk: v[kk] for kk in ("best_step", "val_bpd", "gauss_val_bpd", "steps", "seconds")}
                                 for k, v in st["flows"].items()},
                       "room_bpd": {f"{t:g}": room_bpd(mom, sde, t) for t in t_ms}},
        "gaussians": gauss_prov,
        "export_parity": report, "export_tolerance_abs": TOLERANCE, "onnx_ops": ops, "opset": OPSET,
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}}
    man["checksums"] = {f: sha256(out / f) for f in files}
    write_manifest(man, out)
    return man


def gaussians_as_flows(src: str | Path, out: str | Path) -> dict:
    """A copy of bundle `src` whose `flows` are its Gaussian starts (same files, same contract) and without
    `gaussians`: the Gaussian start for a runtime that predates `--start gaussian`, under the identical sampler."""
    import shutil

    from .export import sha256, write_manifest

    src, out = Path(src), Path(out)
    man = json.loads((src / "dinof.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    for p in out.glob("*.onnx"):
        p.unlink()
    man["flows"] = man.pop("gaussians")
    files = [man["score"]["file"]] + [e[k] for e in man["flows"] for k in ("file", "density_file") if k in e]
    for f in files:
        shutil.copyfile(src / f, out / f)
    man["name"] = man["name"] + "-gaussian-as-flow"
    man["description"] = f"{src.name}'s Gaussian starts listed as flows (measurement copy): " + man["description"]
    if man["sampler"].get("start") == "gaussian":
        man["sampler"]["start"] = "flow"
    man["checksums"] = {f: sha256(out / f) for f in files}
    write_manifest(man, out)
    return man


@dataclass
class _CfgLike:  # the fields export_flows / copy_score read from a training Config
    channels: int
    resolution: int
    classes: int


# ----------------------------------------------------------------------------- measurement
def heldout_table(bundles: dict, dataset: str = "mnist", val: int = 1000, test: int = 2000, draws: int = 5,
                  seed: int = 7, t_ms=None) -> dict:
    """Bits/dim on test x(T_m) (test images × draws noise samples; fixed seed) of each bundle's flow and Gaussian
    density graphs (onnxruntime), the closed-form Gaussian fitted on the train split, and the bound."""
    from .sample import Bundle

    opened = {k: Bundle(v) for k, v in bundles.items()}
    first = next(iter(opened.values()))
    sde, classes = first.sde, first.classes
    cfg = FlowPriorConfig(dataset=dataset, classes=classes, val_images=val, test_images=test)
    data, labels = load_data(cfg, sde)
    sp = splits(len(data), val, test)
    mom = moments(data[sp["train"]], labels[sp["train"]], classes)
    all_t = t_ms or sorted({float(f["t_m"]) for b in opened.values()
                            for f in b.manifest.get("flows", []) + b.manifest.get("gaussians", [])})
    rows = []
    for t_m in all_t:
        x = noisy(sde, data[sp["test"]], t_m, draws, seed=seed * 1000 + int(round(t_m * 1000)))
        y = labels[sp["test"]].repeat_interleave(draws) if classes else None
        a, s = marginal_coeffs(sde, t_m)
        cov = a * a * mom.cov + s * s * torch.eye(mom.cov.shape[0], dtype=torch.float64)
        g = gaussian_nll_bpd(x, a * mom.mean, cov, y)
        room = room_bpd(mom, sde, t_m)
        row = {"t_m": t_m, "n": len(x), "gauss_bpd": g, "room_bpd": room, "bound_bpd": g - room, "models": {}}
        for name, b in opened.items():
            for kind in ("flows", "gaussians"):
                e = next((f for f in b.manifest.get(kind, []) if abs(f["t_m"] - t_m) < 1e-9), None)
                if e is None or "density_file" not in e:
                    continue
                v = _graph_bpd(b, e, x, y)
                row["models"][f"{name}:{kind[:-1]}"] = {"bpd": v, "room_won": (g - v) / room if room > 0 else None}
        rows.append(row)
    return {"dataset": dataset, "split_seed": SPLIT_SEED, "test_images": test, "draws": draws, "rows": rows}


def _graph_bpd(b, entry, x, y, chunk: int = 500) -> float:
    sess = b._session(entry["density_file"])
    d = x[0].numel()
    tot = 0.0
    for k in range(0, len(x), chunk):
        feed = {"x": x[k:k + chunk].numpy()}
        if entry.get("conditional"):
            feed["y"] = y[k:k + chunk].numpy().astype(np.int64)
        z, logdet = sess.run(["z", "logdet"], feed)
        z = z.astype(np.float64)
        lp = -0.5 * (z ** 2).sum(1) - 0.5 * d * math.log(2 * math.pi) + logdet.astype(np.float64)
        tot += float(lp.sum())
    return -tot / len(x) / (d * LOG2)


def format_table(t: dict) -> str:
    names = sorted({m for r in t["rows"] for m in r["models"]})
    lines = [f"| T_m | bound | Gaussian (closed form) | " + " | ".join(names) + " |",
             "|---|---|---|" + "---|" * len(names)]
    for r in t["rows"]:
        cells = []
        for m in names:
            v = r["models"].get(m)
            cells.append("" if v is None else f"{v['bpd']:.4f} ({100 * v['room_won']:+.1f} %)")
        lines.append(f"| {r['t_m']:g} | {r['bound_bpd']:.4f} (room {r['room_bpd']:.4f}) | {r['gauss_bpd']:.4f} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)
