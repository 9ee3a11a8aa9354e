"""Training configurations: a dataclass plus named presets; any field can be overridden from the CLI."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class Config:
    dataset: str = "mnist"
    channels: int = 1
    resolution: int = 28
    # RGBA (channels 4): "premultiplied" trains on (RGB·α, α) and samples are un-premultiplied at output (the
    # straight-alpha contract); "straight" trains on (RGB, α) as they are. Written to the manifest (image.alpha).
    alpha: str = "none"
    classes: int = 0  # > 0: class-conditional score (label embedding) and flows (class-shifted base)
    # > 0 (classes > 0): the score's label is replaced by the null label `classes` with this probability, so one
    # network also gives s(x) and sampling can use classifier-free guidance (bundle: score.null_label).
    label_dropout: float = 0.0
    # SDE
    sde: str = "vp"
    beta_min: float = 0.1
    beta_max: float = 20.0
    sigma_min: float = 0.01
    sigma_max: float = 50.0
    n: int = 1000
    eps: float | None = None  # None: the SDE's default (1e-3 VP/sub-VP, 1e-5 VE)
    t_max: float = 1.0
    t_ms: list = field(default_factory=lambda: [0.4, 0.6])
    # score U-Net
    nf: int = 32
    ch_mult: list = field(default_factory=lambda: [1, 2, 2])
    num_res_blocks: int = 1
    attn_resolutions: list = field(default_factory=lambda: [7])
    dropout: float = 0.1
    # Glow
    flow_levels: int = 2
    flow_steps: int = 8
    flow_hidden: int = 64
    # optimisation
    batch: int = 64
    lr: float = 1e-3
    flow_lr: float = 1e-3
    warmup: int = 200
    grad_clip: float = 1.0
    flow_grad_clip: float = 50.0
    ema: float = 0.999
    flow_every: int = 1  # flow update every k-th iteration (flows converge much faster than the score)
    iterations: int = 1_000_000
    time_budget: float = 0.0  # seconds of training (summed over resumes); 0 = no limit
    ckpt_every: float = 120.0  # seconds between checkpoints
    log_every: int = 25
    seed: int = 0
    # Flows only: the score network is neither built into the checkpoint nor trained (it is taken unchanged
    # from an existing bundle at export, `export --score-from`), so flow capacity can be raised on its own.
    flows_only: bool = False
    flow_eval_every: int = 0  # > 0: bits/dim of the EMA flows on a fixed set of x(T_m) every this many steps
    threads: int = 0  # torch intra-op threads; 0 = torch's default; -1 = adapt to the machine's load (below)


PRESETS = {
    # The shipped MNIST model: sized for ~85 min on 2 shared CPU cores.
    "mnist": {"threads": -1, "dropout": 0.0, "lr": 1e-3, "flow_every": 2, "ema": 0.998, "ckpt_every": 300.0},
    "fashion-mnist": {"dataset": "fashion-mnist", "threads": -1, "dropout": 0.0, "lr": 1e-3, "flow_every": 2,
                      "ema": 0.998, "ckpt_every": 300.0},
    "cifar10": {"channels": 3, "resolution": 32, "nf": 64, "ch_mult": [1, 2, 2, 2], "num_res_blocks": 2,
                "attn_resolutions": [16], "flow_levels": 3, "flow_steps": 16, "flow_hidden": 256,
                "batch": 128, "lr": 2e-4, "flow_lr": 2e-4, "warmup": 5000, "ema": 0.9999, "t_ms": [0.6]},
    # Flow retraining for the shipped MNIST bundle (issue 13): Glow with 2 levels (28 = 4·7 squeezes only
    # twice) x 16 steps, hidden 112: three priors (T_m 0.3, 0.4, 0.6), generative + density graphs, fit
    # beside the 5.2 MB score in the 25 MB bundle budget (~3.1 MB per graph).
    "mnist-flows": {"flows_only": True, "t_ms": [0.3, 0.4, 0.6], "flow_levels": 2, "flow_steps": 16,
                    "flow_hidden": 112, "threads": 1, "flow_every": 1, "flow_lr": 1e-3, "warmup": 500,
                    "ema": 0.999, "ckpt_every": 600.0, "log_every": 50, "flow_eval_every": 500},
    # Issue 11: class-conditional Fashion-MNIST on the VE SDE (scripts/train-fashion.sh). σ_max 22.5 ≥ the largest
    # distance between two training images, 22.456 (Song & Ermon's technique 1; `python -m dinof_train sigma-max`).
    # T_m 0.5 / 0.6 (σ 0.48 / 1.03; flow room 0.086 / 0.028 bits/dim, onnx/README.md). Score as the MNIST model
    # (5.2 MB graph), flows 2 levels x 12 steps, hidden 64 (generative + density graphs at two T_m): bundle
    # ≤ 12 MB. Time budget 6600 s (~2 h with start-up and checkpoints on 2 shared cores); resumable.
    "fashion-cond": {"dataset": "fashion-mnist:train", "classes": 10, "label_dropout": 0.1, "sde": "ve",
                     "sigma_min": 0.01, "sigma_max": 22.5, "t_ms": [0.5, 0.6], "threads": -1, "dropout": 0.0,
                     "lr": 1e-3, "flow_every": 2, "flow_steps": 12, "flow_hidden": 64, "ema": 0.998,
                     "ckpt_every": 300.0, "time_budget": 6600.0, "flow_eval_every": 500, "log_every": 50},
    # Issue 21: class-conditional 32×32 RGBA pixel-art sprites (7 categories, sprites.py; training split only).
    # VP SDE: data in [-1,1] with unit-scale noise at t=1 whatever the dimension, where VE would need σ_max ≈ the
    # largest distance between two sprites (tens, in 4096 dims) and so many more sampling steps; the flow-room
    # analysis of issue 19 is for VP too. Alpha premultiplied (onnx/README.md, "Sprites: alpha"). Score U-Net the
    # MNIST model's shape (nf 32, ch_mult 1-2-2: 32/16/8, one res block, attention at 8×8; ≈ 1.1 M parameters),
    # batch 32: the first preset (ch_mult 1-2-2-2, 2 res blocks, batch 64: 19 CPU-hours for 40,000 steps) ran at
    # ≈ 14 s/step on this machine's share of 2 busy cores, i.e. 700 steps a session. This one is ≈ 4× cheaper per
    # step; 20,000 steps. No flows here (t_ms empty): flows are trained later, flows-only, on this score.
    "sprites-cond": {"dataset": "sprites:train", "channels": 4, "resolution": 32, "alpha": "premultiplied",
                     "classes": 7, "label_dropout": 0.1, "sde": "vp", "beta_min": 0.1, "beta_max": 20.0,
                     "t_ms": [], "nf": 32, "ch_mult": [1, 2, 2], "num_res_blocks": 1,
                     "attn_resolutions": [8], "dropout": 0.1, "batch": 32, "lr": 1e-3, "warmup": 500,
                     "ema": 0.999, "iterations": 20000, "threads": -1, "ckpt_every": 300.0, "log_every": 50},
    # Seconds-scale configuration for the test-suite.
    "tiny": {"resolution": 8, "nf": 8, "ch_mult": [1, 2], "num_res_blocks": 1, "attn_resolutions": [4],
             "dropout": 0.0, "flow_levels": 2, "flow_steps": 2, "flow_hidden": 8, "batch": 16, "warmup": 5,
             "ckpt_every": 0.0, "log_every": 5},
}


def make_config(preset: str = "mnist", **overrides) -> Config:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: {sorted(PRESETS)}")
    cfg = Config(**PRESETS[preset])
    return dataclasses.replace(cfg, **{k: v for k, v in overrides.items() if v is not None})


def to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(d: dict) -> Config:
    names = {f.name for f in dataclasses.fields(Config)}
    return Config(**{k: v for k, v in d.items() if k in names})
