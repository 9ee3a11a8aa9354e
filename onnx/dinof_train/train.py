"""Joint DiNof training: one score network (denoising score matching on (0, t_max]) and one Glow per T_m
(maximum likelihood on fresh forward-marginal samples x(T_m) drawn from each batch).

Each network has its own Adam, warm-up, gradient clip and EMA (the official code clips both jointly, which only
couples their step sizes). Runs single-process or under torchrun (DDP; gloo on CPU, NCCL on GPU). Checkpoints are
atomic, `--resume` continues from the last one, and `time_budget` stops cleanly after that many seconds.
"""
from __future__ import annotations

import copy
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from .config import Config, from_dict, to_dict
from .data import load_dataset, to_model_space
from .models.glow import Glow
from .models.unet import UNet
from .score import ScoreModel
from .sde import make_sde

CKPT = "checkpoint.pt"


def build_models(cfg: Config):
    sde = make_sde(cfg.sde, n=cfg.n, eps=cfg.eps, beta_min=cfg.beta_min, beta_max=cfg.beta_max,
                   sigma_min=cfg.sigma_min, sigma_max=cfg.sigma_max)
    net = UNet(channels=cfg.channels, resolution=cfg.resolution, nf=cfg.nf, ch_mult=tuple(cfg.ch_mult),
               num_res_blocks=cfg.num_res_blocks, attn_resolutions=tuple(cfg.attn_resolutions),
               dropout=cfg.dropout, embedding="fourier" if cfg.sde == "ve" else "positional",
               classes=cfg.classes, null_label=cfg.classes > 0 and cfg.label_dropout > 0)
    score = ScoreModel(net, sde, cfg.t_max)
    flows = [Glow(channels=cfg.channels, resolution=cfg.resolution, levels=cfg.flow_levels,
                  steps=cfg.flow_steps, hidden=cfg.flow_hidden, classes=cfg.classes) for _ in cfg.t_ms]
    for t_m in cfg.t_ms:
        if not (sde.eps < t_m <= cfg.t_max):
            raise ValueError(f"T_m {t_m} outside (eps, t_max]")
    return sde, score, flows


def to_sde_space(x01: torch.Tensor, sde) -> torch.Tensor:
    """Pixels in [0,1] -> SDE data space ([-1,1] for VP/sub-VP, [0,1] for VE)."""
    return x01 * 2.0 - 1.0 if sde.centered else x01


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class EMA:
    """Exponential moving average of a module's parameters (buffers copied), with the usual warm-up
    min(decay, (1+n)/(10+n)) so short runs are not dominated by the random initialisation."""

    def __init__(self, module: torch.nn.Module, decay: float):
        self.module = copy.deepcopy(module).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay, self.n = decay, 0

    @torch.no_grad()
    def update(self, module):
        self.n += 1
        d = min(self.decay, (1 + self.n) / (10 + self.n))
        for e, p in zip(self.module.parameters(), module.parameters()):
            e.mul_(d).add_(p.detach(), alpha=1 - d)
        for e, b in zip(self.module.buffers(), module.buffers()):
            e.copy_(b)

    def state_dict(self):
        return {"module": self.module.state_dict(), "n": self.n}

    def load_state_dict(self, s):
        self.module.load_state_dict(s["module"])
        self.n = s["n"]


def atomic_save(obj, path: Path) -> None:
    """torch.save to a temp file in the same directory, fsync, os.replace, fsync the directory: a crash or
    kill -9 at any moment leaves either the old or the new checkpoint, never a torn one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_checkpoint(path: Path):
    return torch.load(path, map_location="cpu", weights_only=False)


def compact_checkpoint(src: Path, dst: Path) -> dict:
    """The part of a checkpoint worth keeping when the machine is not: the EMA weights in float16 (they also seed the
    live weights on resume), step, time and config, no optimiser state: ~1/6 of the size. A training longer than one
    machine's life (the sprite score: ~19 CPU-hours) resumes from it on the next machine (`train --resume` with it
    as the run's checkpoint); Adam restarts with a fresh warm-up. Lossy by design: the float16 rounding
    (relative 4.9e-4) is a perturbation of the size of one optimiser step, once per hand-over."""
    ck = load_checkpoint(src)

    def half(sd):
        return {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}

    ema = ck["ema"]
    out = {"compact": True, "config": ck["config"], "step": ck["step"], "elapsed": ck["elapsed"],
           "dataset": ck["dataset"], "world_size": 1, "history": ck["history"],
           "ema": {"score": None if ema["score"] is None else {"module": half(ema["score"]["module"]),
                                                               "n": ema["score"]["n"]},
                   "flows": [{"module": half(e["module"]), "n": e["n"]} for e in ema["flows"]]}}
    atomic_save(out, Path(dst))
    return out


def ema_models_from_checkpoint(ckpt: dict):
    """(cfg, sde, score, flows) with EMA weights loaded, in eval mode; score is None for a flows-only run."""
    cfg = from_dict(ckpt["config"])
    sde, score, flows = build_models(cfg)
    if ckpt["ema"]["score"] is None:
        score = None
    else:
        score.load_state_dict(ckpt["ema"]["score"]["module"])
        score.eval()
    for f, s in zip(flows, ckpt["ema"]["flows"]):
        f.load_state_dict(s["module"])
    return cfg, sde, score, [f.eval() for f in flows]


def flow_bounds(sde, data: torch.Tensor, t_ms) -> dict:
    """Per T_m, in bits/dim, the interval that holds the true entropy of x(T_m) = a·x0 + s·ε:
    `bound` = h(s·ε) (noise alone, a lower bound: h(x_t) = h(s·ε) + I(x0; x_t)) and `gauss` = the entropy of a
    Gaussian with x_t's covariance a²Σ0 + s²I (the maximum for that covariance, an upper bound). A flow whose
    NLL is not below `gauss` has learnt nothing a Gaussian would not; the room to improve is NLL − bound."""
    x = data.flatten(1).double()
    D = x.shape[1]
    cov = torch.cov(x.T)
    eig = torch.linalg.eigvalsh(cov).clamp(min=0.0)
    out = {}
    for t_m in t_ms:
        m, s = sde.marginal_prob(torch.ones(1, 1, dtype=torch.float64), torch.tensor([float(t_m)], dtype=torch.float64))
        a, var = float(m.reshape(-1)[0]), float(s.reshape(-1)[0]) ** 2  # mean coefficient, noise variance
        c = math.log2(2 * math.pi * math.e)
        out[str(t_m)] = {"bound": 0.5 * (c + math.log2(var)),
                         "gauss": 0.5 * (c + float(torch.log2(a * a * eig + var).mean()))}
    return out


@torch.no_grad()
def flow_eval_bpd(flows, t_ms, sde, data, labels, classes: int, n: int = 1000, seed: int = 12345) -> dict:
    """Bits/dim of (EMA) flows on a fixed set of x(T_m): fixed images and noise from their own generator, so the
    figure is comparable across steps and the training RNG streams are untouched."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data), generator=g)[:n]
    x0 = data[idx]
    y = labels[idx] if classes else None
    D = x0[0].numel()
    out = {}
    for f, t_m in zip(flows, t_ms):
        mean, std = sde.marginal_prob(x0, torch.full((len(x0),), t_m))
        xt = mean + std[:, None, None, None] * torch.randn(x0.shape, generator=g)
        dev = next(f.parameters()).device  # noise drawn on the CPU: the same set on any device
        xt, yd = xt.to(dev), None if y is None else y.to(dev)
        was = f.training
        f.eval()
        lp = torch.cat([f.log_prob(xt[k:k + 250], None if yd is None else yd[k:k + 250]).double()
                        for k in range(0, len(xt), 250)])
        f.train(was)
        out[str(t_m)] = float(-lp.mean() / (D * math.log(2.0)))
    return out


def _dist_setup():
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _auto_threads(current: int) -> int:
    """On a CPU shared with other jobs, oversubscribed intra-op threads are slower than one thread (measured:
    2.0 s/it with 1 thread vs 5.0 s/it with 2 while two compilers ran). Use all cores only when the load
    that is not ours leaves them idle."""
    ncpu = os.cpu_count() or 1
    others = os.getloadavg()[0] - current
    return max(1, min(ncpu, int(ncpu - others + 0.5)))


def _lr(base: float, step: int, warmup: int) -> float:
    return base * min(1.0, (step + 1) / max(1, warmup))


def _clip(params, max_norm: float) -> float:
    return float(torch.nn.utils.clip_grad_norm_(params, max_norm))


def train(cfg: Config, out: str | Path, resume: bool = False, quiet: bool = False) -> dict:
    out = Path(out)
    rank, world = _dist_setup()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    elif cfg.threads < 0:
        torch.set_num_threads(1)
    ckpt_path = out / CKPT
    ckpt = None
    if resume and ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path)
        saved = from_dict(ckpt["config"])
        # The run-length knobs may change on resume; the model and SDE may not.
        cfg = Config(**{**to_dict(saved), **{k: getattr(cfg, k) for k in
                                             ("iterations", "time_budget", "ckpt_every", "log_every", "threads",
                                              "flow_eval_every")}})
    elif resume and rank == 0 and not quiet:
        print(f"no checkpoint at {ckpt_path}; starting fresh", flush=True)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob(f".{CKPT}.tmp.*"):  # left by a run killed mid-save; the checkpoint itself is intact
            stale.unlink()

    seed_all(cfg.seed)  # same initial weights on every rank
    images, labels, tag = load_dataset(cfg.dataset, cfg.resolution, cfg.channels)
    if tuple(images.shape[1:]) != (cfg.channels, cfg.resolution, cfg.resolution):
        raise ValueError(f"dataset images {tuple(images.shape[1:])} != config "
                         f"{(cfg.channels, cfg.resolution, cfg.resolution)}")
    if cfg.classes > 0 and int(labels.min()) < 0:
        raise ValueError("class-conditional training needs labelled data")
    sde, score, flows = build_models(cfg)
    seed_all(cfg.seed + rank)  # from here on: per-rank dropout etc.
    data = to_sde_space(to_model_space(images, cfg.alpha), sde)
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + rank)  # batch sampling + noise, per rank

    step, elapsed = 0, 0.0
    score.to(device)
    for f in flows:
        f.to(device)
    if ckpt is None:
        # ActNorm data-dependent init on the first batch of x(T_m); DDP then broadcasts rank 0's values.
        idx = torch.randint(0, len(data), (min(len(data), max(cfg.batch, 256)),), generator=gen)
        x0 = data[idx].to(device)
        with torch.no_grad():
            for f, t_m in zip(flows, cfg.t_ms):
                f.train()
                mean, std = sde.marginal_prob(x0, torch.full((len(x0),), t_m, device=device))
                f.density(mean + std[:, None, None, None] * torch.randn(x0.shape, generator=gen).to(device),
                          labels[idx].to(device) if cfg.classes else None)
    # DDP broadcasts rank 0's parameters and buffers (incl. the ActNorm init) before the EMAs copy them.
    score_m = DDP(score) if world > 1 else score
    flow_ms = [DDP(f) if world > 1 else f for f in flows]
    ema_score = None if cfg.flows_only else EMA(score, cfg.ema)
    ema_flows = [EMA(f, cfg.ema) for f in flows]
    opt_score = None if cfg.flows_only else torch.optim.Adam(score.parameters(), lr=cfg.lr)
    opt_flows = [torch.optim.Adam(f.parameters(), lr=cfg.flow_lr) for f in flows]
    history = {"score_loss": [], "bpd": [[] for _ in flows]}
    warm_from = 0  # the step the learning-rate warm-up counts from
    if ckpt is not None and ckpt.get("compact"):
        # compact_checkpoint: live weights and EMA from the float16 EMA, fresh Adam with a fresh warm-up.
        def full(e):
            return {"module": {k: v.float() if v.is_floating_point() else v for k, v in e["module"].items()},
                    "n": e["n"]}
        if not cfg.flows_only:
            ema_score.load_state_dict(full(ckpt["ema"]["score"]))
            score.load_state_dict(ema_score.module.state_dict())
        for f, e, s in zip(flows, ema_flows, ckpt["ema"]["flows"]):
            e.load_state_dict(full(s))
            f.load_state_dict(e.module.state_dict())
        step, elapsed, history = ckpt["step"], ckpt["elapsed"], ckpt["history"]
        warm_from = step
        seed_all(cfg.seed + 7919 * step + rank)  # a new stream: the saved one is not kept
        gen.manual_seed(cfg.seed * 1000 + rank + 7919 * step)
    elif ckpt is not None:
        if not cfg.flows_only:
            score.load_state_dict(ckpt["model"]["score"])
            ema_score.load_state_dict(ckpt["ema"]["score"])
            opt_score.load_state_dict(ckpt["opt"]["score"])
        for f, s in zip(flows, ckpt["model"]["flows"]):
            f.load_state_dict(s)
        for e, s in zip(ema_flows, ckpt["ema"]["flows"]):
            e.load_state_dict(s)
        for o, s in zip(opt_flows, ckpt["opt"]["flows"]):
            o.load_state_dict(s)
        step, elapsed, history = ckpt["step"], ckpt["elapsed"], ckpt["history"]
        warm_from = ckpt.get("warm_from", 0)
        rng = ckpt["rng"][rank] if rank < len(ckpt["rng"]) else ckpt["rng"][0]
        gen.set_state(rng["gen"])
        torch.set_rng_state(rng["torch"])
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])

    score.train()
    for f in flows:
        f.train()
    D = cfg.channels * cfg.resolution * cfg.resolution

    def save():
        rngs = [{"gen": gen.get_state(), "torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                 "python": random.getstate()}]
        if world > 1:
            gathered = [None] * world
            dist.all_gather_object(gathered, rngs[0])
            rngs = gathered
        if rank == 0:
            atomic_save({"config": to_dict(cfg), "step": step, "elapsed": elapsed, "history": history,
                         "warm_from": warm_from,
                         "dataset": tag, "world_size": world,
                         "model": {"score": None if cfg.flows_only else score.state_dict(),
                                   "flows": [f.state_dict() for f in flows]},
                         "ema": {"score": None if cfg.flows_only else ema_score.state_dict(),
                                 "flows": [e.state_dict() for e in ema_flows]},
                         "opt": {"score": None if cfg.flows_only else opt_score.state_dict(),
                                 "flows": [o.state_dict() for o in opt_flows]},
                         "rng": rngs}, ckpt_path)

    pbar = None
    if rank == 0 and not quiet:
        from tqdm import tqdm
        total = cfg.iterations if cfg.iterations < 1_000_000 else None
        pbar = tqdm(total=total, initial=step, dynamic_ncols=True, mininterval=5.0, file=sys.stderr)
    log = open(out / "train_log.jsonl", "a") if rank == 0 else None
    if rank == 0 and cfg.flow_eval_every > 0:
        bounds = flow_bounds(sde, data, cfg.t_ms)
        history["flow_bounds"] = bounds
        log.write(json.dumps({"step": step, "flow_bounds_bpd": bounds}) + "\n")
        log.flush()
    last_ckpt = time.time()
    t_start = time.time() - elapsed
    flags = torch.zeros(2)
    while True:
        elapsed = time.time() - t_start
        flags[0] = float(step >= cfg.iterations or (cfg.time_budget > 0 and elapsed >= cfg.time_budget))
        flags[1] = float(cfg.ckpt_every >= 0 and time.time() - last_ckpt >= cfg.ckpt_every)
        if world > 1:
            dist.broadcast(flags, 0)  # rank 0's clock decides stop/checkpoint for all ranks (collectives agree)
        if flags[0] > 0:
            break
        if flags[1] > 0 and step > 0:
            save()
            last_ckpt = time.time()
        idx = torch.randint(0, len(data), (cfg.batch,), generator=gen)
        x0 = data[idx].to(device)
        y = labels[idx].to(device) if cfg.classes else None

        gnorm = None
        if not cfg.flows_only:
            for g in opt_score.param_groups:
                g["lr"] = _lr(cfg.lr, step - warm_from, cfg.warmup)
            ys = y
            if y is not None and cfg.label_dropout > 0:  # classifier-free guidance: train s(x) as the null class
                drop = torch.rand(len(y), generator=gen).to(device) < cfg.label_dropout
                ys = torch.where(drop, torch.full_like(y, cfg.classes), y)
            loss = score.dsm_loss(x0, ys, gen, model=score_m)
            opt_score.zero_grad(set_to_none=True)
            loss.backward()
            gnorm = _clip(score.parameters(), cfg.grad_clip)
            opt_score.step()
            ema_score.update(score)
            history["score_loss"].append(loss.item())

        if step % cfg.flow_every == 0:
            for i, (f, fm, o, e, t_m) in enumerate(zip(flows, flow_ms, opt_flows, ema_flows, cfg.t_ms)):
                mean, std = sde.marginal_prob(x0, torch.full((len(x0),), t_m, device=device))
                xt = mean + std[:, None, None, None] * torch.randn(x0.shape, generator=gen).to(device)
                nll = -fm(xt, y).mean()
                if not torch.isfinite(nll):  # one bad batch must not poison hours of training: skip it
                    history.setdefault("skipped_nonfinite", []).append(step)
                    continue
                for g in o.param_groups:
                    g["lr"] = _lr(cfg.flow_lr, (step - warm_from) // cfg.flow_every, cfg.warmup)
                o.zero_grad(set_to_none=True)
                nll.backward()
                _clip(f.parameters(), cfg.flow_grad_clip)
                o.step()
                e.update(f)
                history["bpd"][i].append(nll.item() / (D * math.log(2.0)))
        step += 1
        if cfg.threads < 0 and step % 50 == 0:
            torch.set_num_threads(_auto_threads(torch.get_num_threads()))
        if pbar is not None:
            pbar.update(1)
        if rank == 0 and step % cfg.log_every == 0:
            rec = {"step": step, "elapsed": round(time.time() - t_start, 1), "threads": torch.get_num_threads(),
                   "score_loss": float(np.mean(history["score_loss"][-cfg.log_every:]))
                   if history["score_loss"] else None, "grad_norm": gnorm,
                   "bpd": {str(t): float(np.mean(b[-max(1, cfg.log_every // cfg.flow_every):])) if b else None
                           for t, b in zip(cfg.t_ms, history["bpd"])}}
            if cfg.flow_eval_every > 0 and step % cfg.flow_eval_every == 0:
                rec["eval_bpd_ema"] = flow_eval_bpd([e.module for e in ema_flows], cfg.t_ms, sde, data, labels,
                                                    cfg.classes)
                history.setdefault("eval_bpd_ema", []).append({"step": step, **rec["eval_bpd_ema"]})
            log.write(json.dumps(rec) + "\n")
            log.flush()
            if pbar is not None:
                pbar.set_postfix(loss=f"{rec['score_loss']:.4f}" if rec["score_loss"] is not None else "-",
                                 bpd=",".join(f"{v:.3f}" for v in rec["bpd"].values() if v is not None))
    elapsed = time.time() - t_start
    save()
    if pbar is not None:
        pbar.close()
    if log is not None:
        log.close()
    if dist.is_initialized():
        dist.barrier()
    return {"step": step, "elapsed": elapsed, "checkpoint": str(ckpt_path), "rank": rank, "world": world,
            "params_sha256": params_digest(([] if cfg.flows_only else [score]) + flows),
            "ema_sha256": params_digest(([] if cfg.flows_only else [ema_score.module]) +
                                        [e.module for e in ema_flows])}


def params_digest(modules) -> str:
    """sha256 over all parameters and buffers: equal on every DDP rank when the ranks are in sync."""
    import hashlib

    h = hashlib.sha256()
    for m in modules:
        for k, v in m.state_dict().items():
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def summarize(ckpt: dict, window: int = 200) -> dict:
    """Final-loss figures for provenance: means over the last `window` recorded values."""
    h = ckpt["history"]
    cfg = from_dict(ckpt["config"])
    return {"train_steps": ckpt["step"], "train_seconds": round(ckpt["elapsed"], 1),
            "score_loss_final": float(np.mean(h["score_loss"][-window:])) if h["score_loss"] else None,
            "flow_bits_per_dim_final": {str(t): float(np.mean(b[-window:])) if b else None
                                        for t, b in zip(cfg.t_ms, h["bpd"])}}
