"""Multiscale Glow as in the DiNof code (Kingma & Dhariwal 2018), used as the prior of x(T_m).

Generative direction of one step: affine coupling -> invertible 1x1 conv (LU) -> ActNorm, so the density
direction (x -> z) is ActNorm -> 1x1 conv -> coupling. Levels: squeeze, K steps, split half the channels off
(except at the last level). Each level's latent has a learnable per-channel Gaussian base (mean, log-scale;
optionally shifted per class). `density` returns the standardised latent z ~ N(0, I) flattened to [B, D]
(level order), so `generate` takes the same z: the base mean/scale are part of the bijection.
All shapes are static (known at construction) so the ONNX graphs contain constant reshapes only.
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
    """Generative x = z·exp(logs) + bias; initialised from the first density batch to zero mean, unit var."""

    def __init__(self, c: int, hw: int):
        super().__init__()
        self.hw = hw  # static spatial size: the log-det needs no Shape op
        self.bias = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.logs = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.register_buffer("initialized", torch.tensor(0, dtype=torch.uint8))

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


class Coupling(nn.Module):
    def __init__(self, c: int, hidden: int):
        super().__init__()
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
    def __init__(self, c: int, hidden: int, hw: int):
        super().__init__()
        self.actnorm = ActNorm(c, hw)
        self.invconv = InvConv1x1(c, hw)
        self.coupling = Coupling(c, hidden)

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
                 hidden: int = 64, classes: int = 0):
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
            self.blocks.append(nn.ModuleList([FlowStep(c, hidden, h * h) for _ in range(steps)]))
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
