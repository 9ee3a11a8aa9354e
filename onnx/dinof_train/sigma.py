"""σ_max for the VE SDE by Song & Ermon (2020), technique 1: as large as the maximum Euclidean distance between
any two training images, so that the prior N(0, σ_max² I) covers the data and the reverse process can move any
image to any other. Also the flows' room at candidate T_m (docs/evaluation.md, "Flow quality against the entropy
bounds"), which is how the preset's T_m values were chosen.

`python -m dinof_train sigma-max --dataset fashion-mnist:train` prints both.

The maximum over all N²/2 pairs is exact but cheap: a far pair found by farthest-point iterations gives a lower
bound L, and a pair (i, j) can only beat it when r_i + r_j ≥ L (r = distance to the mean, triangle inequality), so
only the few images far from the mean are compared with everything.
"""
from __future__ import annotations

import math

import torch


def _farthest_from(x: torch.Tensor, i: int) -> tuple[int, float]:
    d = torch.cdist(x[i:i + 1], x)[0]
    j = int(d.argmax())
    return j, float(d[j])


def max_pairwise_distance(x: torch.Tensor, chunk: int = 512) -> dict:
    """Exact max_{i<j} ‖x_i − x_j‖ of x [N, ...] (float64), with the pair and how many rows the triangle bound
    left as candidates (the loop stops as soon as the remaining ones cannot beat the best pair)."""
    x = x.flatten(1).double()
    r = (x - x.mean(0)).norm(dim=1)
    # Lower bound: farthest-point iterations from the image farthest from the mean.
    i = int(r.argmax())
    best, pair = 0.0, (i, i)
    for _ in range(4):
        j, d = _farthest_from(x, i)
        if d <= best:
            break
        best, pair, i = d, (i, j), j
    # Only rows with r_i ≥ best − max(r) can be in a longer pair; compare each with the rows that could complete one.
    cand = torch.nonzero(r >= best - float(r.max())).flatten()
    cand = cand[r[cand].argsort(descending=True)]
    for k in range(0, len(cand), chunk):
        rows = cand[k:k + chunk]
        if float(r[rows[0]]) + float(r.max()) < best:
            break
        partners = torch.nonzero(r >= best - float(r[rows[0]])).flatten()
        d = torch.cdist(x[rows], x[partners])
        m = float(d.max())
        if m > best:
            a, b = divmod(int(d.argmax()), d.shape[1])
            best, pair = m, (int(rows[a]), int(partners[b]))
    return {"max_distance": best, "pair": pair, "candidates": int(len(cand)), "n": int(len(x))}


def flow_room(data: torch.Tensor, sigma_min: float, sigma_max: float, t_ms) -> list[dict]:
    """Per T_m under the VE SDE (x(T_m) = x0 + σ(T_m) z): σ, the noise-entropy bound and the Gaussian level in
    bits/dim, and the room between them (what a flow can gain over a Gaussian at most)."""
    x = data.flatten(1).double()
    eig = torch.linalg.eigvalsh(torch.cov(x.T)).clamp(min=0.0)
    c = math.log2(2 * math.pi * math.e)
    rows = []
    for t in t_ms:
        s = sigma_min * (sigma_max / sigma_min) ** t
        bound = 0.5 * (c + math.log2(s * s))
        gauss = 0.5 * (c + float(torch.log2(eig + s * s).mean()))
        rows.append({"t_m": t, "sigma": s, "bound": bound, "gauss": gauss, "room": gauss - bound,
                     "signal_to_noise": float(eig.sum().sqrt()) / (s * math.sqrt(x.shape[1]))})
    return rows


def main_sigma(a) -> int:
    from .data import load_dataset

    x, _, _ = load_dataset(a.dataset)
    r = max_pairwise_distance(x)
    print(f"{a.dataset}: {r['n']} images in [0, 1]; max pairwise Euclidean distance {r['max_distance']:.4f} "
          f"(images {r['pair'][0]} and {r['pair'][1]}; {r['candidates']} candidate rows after the triangle bound)")
    smax = a.sigma_max if a.sigma_max else r["max_distance"]
    print(f"flow room under VE (sigma_min {a.sigma_min}, sigma_max {smax:.4g}), bits/dim:")
    print("| T_m | σ(T_m) | noise bound | Gaussian level | room |")
    print("|---|---|---|---|---|")
    for row in flow_room(x, a.sigma_min, smax, [0.3, 0.4, 0.5, 0.6, 0.7, 0.8]):
        print(f"| {row['t_m']} | {row['sigma']:.4f} | {row['bound']:.4f} | {row['gauss']:.4f} | {row['room']:.4f} |")
    return 0
