"""Multiscale Glow as in the DiNof code (Kingma & Dhariwal 2018), used as the prior of x(T_m).

Generative direction of one step: affine coupling -> invertible 1x1 conv (LU) -> ActNorm, so the density
direction (x -> z) is ActNorm -> 1x1 conv -> coupling. Levels: squeeze, K steps, split half the channels off
(except at the last level). Each level's latent has a learnable per-channel Gaussian base (mean, log-scale;
optionally shifted per class). `density` returns the standardised latent z ~ N(0, I) flattened to [B, D]
(level order), so `generate` takes the same z: the base mean/scale are part of the bijection.
All shapes are static (known at construction) so the ONNX graphs contain constant reshapes only.

Issue 19: `Glow(identity_init=True)` starts as an exact orthogonal map (ActNorm at the identity without the
data-dependent init, couplings whose zero-initialised last layer gives shift 0 and scale exactly 1, base N(0, I)),
so a `WhitenedGlow` (a fixed affine whitening by the exact covariance of x(T_m), then such a Glow) *is* the fitted
Gaussian before training. `GaussianPrior` is that affine map on its own: the Gaussian start's graphs.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def squeeze(x, c, h, w):
    x = x.reshape(-1, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(-1, 4 * c, h // 2, w // 2)


def unsqueeze(x, c, h, w):  # inverse of squeeze; (c, h, w) = shape *before* squeezing
    x = x.reshape(-1, c, 2, 2, h // 2, w // 2).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(-1, c, h, w)


class ActNorm(nn.Module):
    """Generative x = z·exp(logs) + bias; initialised from the first density batch to zero mean, unit var
    unless `data_init` is False (then it stays at the identity until trained)."""

    def __init__(self, c: int, hw: int, data_init: bool = True):
        super().__init__()
        self.hw = hw  # static spatial size: the log-det needs no Shape op
        self.bias = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.logs = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.register_buffer("initialized", torch.tensor(0 if data_init else 1, dtype=torch.uint8))

    @torch.no_grad()
    def data_init(self, x):
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        std = x.std(dim=(0, 2, 3), keepdim=True)
        self.bias.copy_(mean)
        self.logs.copy_(torch.log(std + 1e-6))
        self.initialized.fill_(1)

    def density(self, x):
        if self.training and not bool(self.initialized):
            self.data_init(x)
        return (x - self.bias) * torch.exp(-self.logs), -self.logs.sum() * self.hw

    def generate(self, z):
        return z * torch.exp(self.logs) + self.bias


class InvConv1x1(nn.Module):
    """W = P·(L + I)·(U + diag(sign_s·exp(log_s))), initialised from a random rotation."""

    def __init__(self, c: int, hw: int):
        super().__init__()
        self.hw = hw
        w = torch.linalg.qr(torch.randn(c, c))[0]
        p, l, u = torch.linalg.lu(w)
        s = torch.diagonal(u)
        self.register_buffer("p", p)
        self.register_buffer("sign_s", torch.sign(s))
        self.register_buffer("l_mask", torch.tril(torch.ones(c, c), -1))
        self.register_buffer("eye", torch.eye(c))
        self.l = nn.Parameter(l)
        self.u = nn.Parameter(torch.triu(u, 1))
        self.log_s = nn.Parameter(torch.log(torch.abs(s)))
        self.c = c

    def weight(self):
        l = self.l * self.l_mask + self.eye
        u = self.u * self.l_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.p @ l @ u

    def density(self, x, w=None):
        if w is None:
            w = self.weight()
        return F.conv2d(x, w.reshape(self.c, self.c, 1, 1)), self.log_s.sum() * self.hw

    def generate(self, z, w_inv=None):
        if w_inv is None:
            w_inv = torch.inverse(self.weight())
        return F.conv2d(z, w_inv.reshape(self.c, self.c, 1, 1))


SIGMOID2 = 1.0 / (1.0 + math.exp(-2.0))  # sigmoid(2) = 0.8808: the official scale at a zero raw output


class Coupling(nn.Module):
    """Affine coupling. scale = sigmoid(raw + 2) as the official code (`centered` False: 0.881 at raw 0, so a
    zero-initialised coupling is not the identity), or that divided by sigmoid(2) (`centered`: exactly 1 at raw 0,
    and still bounded, in (0, 1.135))."""

    def __init__(self, c: int, hidden: int, centered: bool = False):
        super().__init__()
        self.centered = centered
        self.ca = c // 2
        self.net = nn.Sequential(
            nn.Conv2d(self.ca, hidden, 3, padding=1), nn.ReLU(),
            nn.Conv2d(hidden, hidden, 1), nn.ReLU(),
            nn.Conv2d(hidden, 2 * (c - self.ca), 3, padding=1))
        nn.init.zeros_(self.net[-1].weight)  # identity at init
        nn.init.zeros_(self.net[-1].bias)

    def _shift_scale(self, xa):
        h = self.net(xa)
        shift, raw = h[:, 0::2], h[:, 1::2]  # interleaved, as the official code
        if self.centered:  # log scale = logsigmoid(raw + 2) - log sigmoid(2): exactly 0 at raw = 0
            return shift, torch.sigmoid(raw + 2.0) * (1.0 / SIGMOID2)
        return shift, torch.sigmoid(raw + 2.0)

    def density(self, x):
        xa, xb = x[:, : self.ca], x[:, self.ca:]
        shift, scale = self._shift_scale(xa)
        zb = (xb - shift) * scale
        return torch.cat([xa, zb], dim=1), torch.log(scale).flatten(1).sum(1)

    def generate(self, z):
        za, zb = z[:, : self.ca], z[:, self.ca:]
        shift, scale = self._shift_scale(za)
        return torch.cat([za, zb / scale + shift], dim=1)


class FlowStep(nn.Module):
    def __init__(self, c: int, hidden: int, hw: int, identity_init: bool = False):
        super().__init__()
        self.actnorm = ActNorm(c, hw, data_init=not identity_init)
        self.invconv = InvConv1x1(c, hw)
        self.coupling = Coupling(c, hidden, centered=identity_init)

    def density(self, x, w=None):
        x, ld0 = self.actnorm.density(x)
        x, ld1 = self.invconv.density(x, w)
        x, ld2 = self.coupling.density(x)
        return x, ld2 + ld1 + ld0

    def generate(self, z, w_inv=None):
        z = self.coupling.generate(z)
        z = self.invconv.generate(z, w_inv)
        return self.actnorm.generate(z)


class Glow(nn.Module):
    def __init__(self, channels: int = 1, resolution: int = 28, levels: int = 2, steps: int = 8,
                 hidden: int = 64, classes: int = 0, identity_init: bool = False):
        super().__init__()
        self.channels, self.resolution, self.levels, self.classes = channels, resolution, levels, classes
        self.shapes = []  # per level: (c, h, w) before squeeze
        self.z_shapes = []  # per level: shape of the latent leaving the level
        c, h = channels, resolution
        self.blocks = nn.ModuleList()
        for lvl in range(levels):
            if h % 2:
                raise ValueError(f"resolution {resolution} does not squeeze {levels} times")
            self.shapes.append((c, h, h))
            c, h = 4 * c, h // 2
            self.blocks.append(nn.ModuleList([FlowStep(c, hidden, h * h, identity_init) for _ in range(steps)]))
            if lvl != levels - 1:
                self.z_shapes.append((c // 2, h, h))
                c = c - c // 2
            else:
                self.z_shapes.append((c, h, h))
        self.dim = channels * resolution * resolution
        assert sum(a * b * d for a, b, d in self.z_shapes) == self.dim
        self.base_mean = nn.ParameterList([nn.Parameter(torch.zeros(1, s[0], 1, 1)) for s in self.z_shapes])
        self.base_logs = nn.ParameterList([nn.Parameter(torch.zeros(1, s[0], 1, 1)) for s in self.z_shapes])
        if classes > 0:  # class-conditional base: per-class shift of the per-channel mean/log-scale
            self.class_base = nn.Embedding(classes, 2 * sum(s[0] for s in self.z_shapes))
            nn.init.zeros_(self.class_base.weight)
        else:
            self.class_base = None

    def _base(self, y):
        """Per level (mean, logs), each [1 or B, c, 1, 1]."""
        out = []
        off = 0
        emb = self.class_base(y) if self.class_base is not None else None
        for lvl, s in enumerate(self.z_shapes):
            m, ls = self.base_mean[lvl], self.base_logs[lvl]
            if emb is not None:
                m = m + emb[:, off: off + s[0], None, None]
                ls = ls + emb[:, off + s[0]: off + 2 * s[0], None, None]
                off += 2 * s[0]
            out.append((m, ls))
        return out

    def density(self, x, y=None, ws=None):
        """x [B,C,H,W] -> (z [B, D] standard normal under the model, logdet [B] = log|det dz/dx|).
        ws: optional precomputed 1x1 weights (export: constants instead of the LU product)."""
        logdet = 0.0  # becomes [B] at the first coupling; no Shape-dependent zeros in the graph
        zs = []
        base = self._base(y)
        h = x
        k = 0
        for lvl, steps in enumerate(self.blocks):
            h = squeeze(h, *self.shapes[lvl])
            for step in steps:
                h, ld = step.density(h, None if ws is None else ws[k])
                k += 1
                logdet = logdet + ld
            if lvl != self.levels - 1:
                c = self.z_shapes[lvl][0]
                z, h = h[:, :c], h[:, c:]
            else:
                z = h
            m, ls = base[lvl]
            zs.append(((z - m) * torch.exp(-ls)).flatten(1))
            hw = self.z_shapes[lvl][1] * self.z_shapes[lvl][2]
            logdet = logdet - ls.flatten(1).sum(1) * hw  # [1] or [B] (class-conditional), broadcasts
        return torch.cat(zs, dim=1), logdet

    def log_prob(self, x, y=None):
        z, logdet = self.density(x, y)
        return -0.5 * (z ** 2).sum(1) - 0.5 * self.dim * math.log(2 * math.pi) + logdet

    def forward(self, x, y=None):  # log-likelihood, so that DDP's forward hooks see the training pass
        return self.log_prob(x, y)

    def generate(self, z, y=None, w_invs=None):
        """z [B, D] standard normal -> x [B,C,H,W]. w_invs: optional precomputed inverse 1x1 weights."""
        base = self._base(y)
        parts = []
        off = 0
        for lvl, (c, hh, ww) in enumerate(self.z_shapes):
            n = c * hh * ww
            m, ls = base[lvl]
            parts.append(z[:, off: off + n].reshape(-1, c, hh, ww) * torch.exp(ls) + m)
            off += n
        h = parts[-1]
        k = sum(len(s) for s in self.blocks)
        for lvl in reversed(range(self.levels)):
            if lvl != self.levels - 1:
                h = torch.cat([parts[lvl], h], dim=1)
            for step in reversed(self.blocks[lvl]):
                k -= 1
                h = step.generate(h, None if w_invs is None else w_invs[k])
            h = unsqueeze(h, *self.shapes[lvl])
        return h

    def forward_weights(self):
        with torch.no_grad():
            return [s.invconv.weight() for blk in self.blocks for s in blk]

    def inverse_weights(self):
        """Precomputed W^-1 for every 1x1 conv (float64 inverse), in step order."""
        with torch.no_grad():
            return [torch.inverse(s.invconv.weight().double()).float() for blk in self.blocks for s in blk]


# Largest expected cost of the low-rank form (below), bits/dim against the full-rank Gaussian: the rank is the
# smallest that stays under it. 1e-4 is 10x under the "negligible" 1e-3 of issue 19 and 30x under the smallest room a
# flow has at a shipped T_m (MNIST 0.6: 0.0048), so the Gaussian start is the Gaussian level for every comparison.
LOWRANK_LOSS_BPD = 1e-4


def lowrank_loss_bpd(c: torch.Tensor, k: int) -> float:
    """Expected NLL cost (bits/dim, on data from N(m, C)) of replacing C's eigenvalues `c` (descending) past the
    first k by their mean s̄²: KL(N(m, C) || N(m, C_k)) / (D ln 2) = ½·Σ_{i≥k} (ln s̄² − ln c_i) / (D ln 2)
    (the trace term Σ c_i / s̄² equals D − k exactly because s̄² is their mean). Jensen: ≥ 0, 0 iff the tail is flat."""
    c = c.double()
    tail = c[k:]
    if tail.numel() == 0:
        return 0.0
    return float(0.5 * (torch.log(tail.mean()) - torch.log(tail)).sum() / (c.numel() * math.log(2.0)))


def lowrank_rank(c: torch.Tensor, max_loss_bpd: float = LOWRANK_LOSS_BPD) -> int:
    """The smallest k with lowrank_loss_bpd(c, k) <= max_loss_bpd (the loss falls as k grows: each kept direction
    removes its own term and flattens the rest)."""
    return next(k for k in range(c.numel() + 1) if lowrank_loss_bpd(c, k) <= max_loss_bpd)


def lowrank_eigenvalues(c: torch.Tensor, k: int) -> torch.Tensor:
    """The covariance the low-rank form represents, in the same eigenbasis: c_0..c_{k-1}, then their tail mean."""
    c = c.double().clone()
    if k < c.numel():
        c[k:] = c[k:].mean()
    return c


class GaussianPrior(nn.Module):
    """x = reshape(m[y] + A·z), A = U·diag(√c_k)·Uᵀ + s̄·(I − U·Uᵀ): an affine bijection between N(0, I) and
    N(m[y], C_k), C_k = A² = U·diag(c_k)·Uᵀ + s̄²·(I − U·Uᵀ), the covariance C = a²Σ0 + s²I kept on its top-k
    principal directions U [D, k] (eigenvalues c_k) and isotropic on the rest (s̄² = the mean of C's other
    eigenvalues, which minimises KL(N(m, C) || ·) among isotropic tails). A is C_k's symmetric square root, so z stays
    an image (what a convolutional Glow after the whitening needs). Stored as U, Uᵀ and two k-vectors instead of
    D×D matrices, so bundles stay small:

        x = m + ((z·U)·(√c_k − s̄))·Uᵀ + s̄·z            (MatMul, Mul, MatMul, Mul, Add)
        z = ((h·U)·(1/√c_k − 1/s̄))·Uᵀ + h/s̄,  h = x − m,  log|det ∂z/∂x| = −½·Σ ln c_k − (D − k)·ln s̄ (a constant)

    With k = D (U square) the tail is empty and A = U·diag(√c)·Uᵀ: the exact Gaussian. Buffers float32 (built in
    float64); in ONNX: MatMul, Mul, Add (+ Gather on y), no Shape ops."""

    def __init__(self, mean: torch.Tensor, u: torch.Tensor, c_k: torch.Tensor, s_bar: float, shape: tuple):
        super().__init__()
        u, c_k = u.double(), c_k.double()
        d, k = u.shape
        mean = mean.double().reshape(-1, d)
        self.shape, self.dim, self.rank, self.classes = tuple(shape), d, k, mean.shape[0] if mean.shape[0] > 1 else 0
        self.s_bar = float(s_bar) if k < d else 1.0  # with an empty tail s̄ multiplies I − U·Uᵀ = 0: any value
        sd = torch.sqrt(c_k)
        self.register_buffer("mean", mean.float())
        self.register_buffer("u", u.contiguous().float())
        self.register_buffer("u_t", u.T.contiguous().float())
        self.register_buffer("gen_scale", (sd - self.s_bar).float())
        self.register_buffer("inv_scale", (1.0 / sd - 1.0 / self.s_bar).float())
        self.logdet = -float(torch.log(sd).sum()) - (d - k) * math.log(self.s_bar)

    @classmethod
    def fit(cls, mean: torch.Tensor, eig: torch.Tensor, vec: torch.Tensor, a: float, s: float, shape: tuple,
            rank: int | None = None, max_loss_bpd: float = LOWRANK_LOSS_BPD):
        """The Gaussian of x(T_m) = a·x0 + s·ε for clean data with (class) mean(s) `mean` and covariance
        vec·diag(eig)·vecᵀ (eig descending): mean a·mean, covariance C = a²Σ0 + s²I (eigenvalues a²λ + s²), in the
        low-rank form of `rank` directions (default: the smallest whose expected cost is <= max_loss_bpd)."""
        c = a * a * eig.double().clamp(min=0.0) + s * s
        k = lowrank_rank(c, max_loss_bpd) if rank is None else int(rank)
        s_bar = math.sqrt(float(c[k:].mean())) if k < c.numel() else 1.0
        return cls(a * mean.double(), vec.double()[:, :k], c[:k], s_bar, shape)

    def _m(self, y):
        return self.mean if self.classes == 0 else self.mean[y]

    def generate(self, z, y=None, w_invs=None):  # w_invs / ws: the flows' export interface, unused
        x = ((z @ self.u) * self.gen_scale) @ self.u_t + z * self.s_bar + self._m(y)
        return x.reshape(-1, *self.shape)

    def density(self, x, y=None, ws=None):
        h = x.reshape(-1, self.dim) - self._m(y)
        z = ((h @ self.u) * self.inv_scale) @ self.u_t + h * (1.0 / self.s_bar)
        return z, (z * 0.0).sum(1) + self.logdet  # [B] from the input: no Shape-driven zeros in the graph

    def log_prob(self, x, y=None):
        z, logdet = self.density(x, y)
        return -0.5 * (z ** 2).sum(1) - 0.5 * self.dim * math.log(2 * math.pi) + logdet

    def forward(self, x, y=None):
        return self.log_prob(x, y)

    def forward_weights(self):  # the export graphs' interface (FlowGenerateGraph / FlowDensityGraph)
        return []

    def inverse_weights(self):
        return []


class WhitenedGlow(nn.Module):
    """x(T_m) = W⁻¹(glow(z)): a fixed affine whitening W (GaussianPrior: the symmetric square root of the
    covariance a²Σ0 + s²I in its low-rank form, per-class mean for a conditional model) followed by an identity-initialised Glow. Before
    training glow is orthogonal, so the model is exactly the fitted Gaussian; training can only move it from there
    (and early stopping on held-out NLL keeps it there when nothing better is found)."""

    def __init__(self, whitening: GaussianPrior, glow: Glow):
        super().__init__()
        if glow.dim != whitening.dim:
            raise ValueError(f"Glow dim {glow.dim} != whitening dim {whitening.dim}")
        self.whitening, self.glow = whitening, glow
        self.classes, self.dim = glow.classes, glow.dim

    def density(self, x, y=None, ws=None):
        h, ld0 = self.whitening.density(x, y)
        z, ld1 = self.glow.density(h.reshape(-1, *self.whitening.shape), y, ws=ws)
        return z, ld1 + ld0

    def log_prob(self, x, y=None):
        z, logdet = self.density(x, y)
        return -0.5 * (z ** 2).sum(1) - 0.5 * self.dim * math.log(2 * math.pi) + logdet

    def forward(self, x, y=None):
        return self.log_prob(x, y)

    def generate(self, z, y=None, w_invs=None):
        return self.whitening.generate(self.glow.generate(z, y, w_invs=w_invs).flatten(1), y)

    def forward_weights(self):
        return self.glow.forward_weights()

    def inverse_weights(self):
        return self.glow.inverse_weights()
