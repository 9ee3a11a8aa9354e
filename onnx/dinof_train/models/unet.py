"""DDPM++/NCSN++-style score U-Net (Song et al. 2021), sized by config.

The raw network maps (x, c_noise, y) to an output of x's shape: for VP/sub-VP it is the ε-prediction with
c_noise = 999·t (sinusoidal embedding), for VE it is the unscaled score with c_noise = log σ(t) (Gaussian
Fourier embedding). `ScoreModel` (score.py) wraps it into the SDE-space contract score(x, t).
Resolutions are static (known at construction), so reshapes bake constants into the ONNX graph.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import GroupNorm


def _gn(c: int) -> GroupNorm:
    return GroupNorm(min(c // 4, 32), c)


def _zero(m: nn.Module, scale: float = 1e-10) -> nn.Module:
    # DDPM++ uses init_scale 0 for the last conv of each residual branch; a tiny scale keeps grads flowing.
    with torch.no_grad():
        m.weight.mul_(scale)
        if m.bias is not None:
            m.bias.zero_()
    return m


class SinusoidalEmbedding(nn.Module):
    def __init__(self, dim: int, max_positions: int = 10000):
        super().__init__()
        half = dim // 2
        freqs = torch.exp(-math.log(max_positions) * torch.arange(half, dtype=torch.float32) / (half - 1))
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, t):
        a = t[:, None] * self.freqs[None, :]
        return torch.cat([torch.sin(a), torch.cos(a)], dim=1)


class FourierEmbedding(nn.Module):
    def __init__(self, dim: int, scale: float = 16.0):
        super().__init__()
        self.register_buffer("W", torch.randn(dim // 2) * scale)  # fixed random features, saved with the model

    def forward(self, t):
        a = t[:, None] * self.W[None, :] * (2 * math.pi)
        return torch.cat([torch.sin(a), torch.cos(a)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, temb_dim: int, dropout: float):
        super().__init__()
        self.norm0 = _gn(cin)
        self.conv0 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(temb_dim, cout)
        self.norm1 = _gn(cout)
        self.drop = nn.Dropout(dropout)
        self.conv1 = _zero(nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None
        nn.init.zeros_(self.temb.bias)

    def forward(self, x, temb):
        h = self.conv0(F.silu(self.norm0(x)))
        h = h + self.temb(F.silu(temb))[:, :, None, None]
        h = self.conv1(self.drop(F.silu(self.norm1(h))))
        if self.skip is not None:
            x = self.skip(x)
        return (x + h) * (1.0 / math.sqrt(2.0))  # skip_rescale, as DDPM++


class AttnBlock(nn.Module):
    def __init__(self, c: int, res: int):
        super().__init__()
        self.c, self.n = c, res * res
        self.res = res
        self.norm = _gn(c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.out = _zero(nn.Conv2d(c, c, 1))

    def forward(self, x):
        q, k, v = self.qkv(self.norm(x)).reshape(-1, 3, self.c, self.n).unbind(1)
        w = torch.softmax(torch.matmul(q.transpose(1, 2), k) * (self.c ** -0.5), dim=-1)  # [B, n, n]
        h = torch.matmul(v, w.transpose(1, 2)).reshape(-1, self.c, self.res, self.res)
        return (x + self.out(h)) * (1.0 / math.sqrt(2.0))


class Downsample(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest ×2 by concatenating each pixel with itself along two new axes (Unsqueeze/Concat/Reshape), then conv3×3.

    Built for a known input resolution so the exported graph needs neither Resize nor Shape. Concat, not a Mul
    against a ones constant: the same values, but tract runs that broadcast Mul slowly (dinof_train/graph_edit.py)."""

    def __init__(self, c: int, res_in: int, res_out: int):
        super().__init__()
        self.c, self.res_in, self.res_out = c, res_in, res_out
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        x = x[:, :, :, None, :, None]
        x = torch.cat([x, x], dim=5)
        x = torch.cat([x, x], dim=3).reshape(-1, self.c, 2 * self.res_in, 2 * self.res_in)
        if self.res_out != 2 * self.res_in:  # odd sizes (e.g. 7 -> 14 is exact, 4 -> 7 crops)
            x = x[:, :, : self.res_out, : self.res_out]
        return self.conv(x)


class UNet(nn.Module):
    def __init__(self, channels: int = 1, resolution: int = 28, nf: int = 32, ch_mult=(1, 2, 2),
                 num_res_blocks: int = 2, attn_resolutions=(7,), dropout: float = 0.1,
                 embedding: str = "positional", classes: int = 0, null_label: bool = False):
        super().__init__()
        self.channels, self.resolution, self.classes = channels, resolution, classes
        temb_dim = 4 * nf
        self.embed = SinusoidalEmbedding(nf) if embedding == "positional" else FourierEmbedding(nf)
        self.temb = nn.Sequential(nn.Linear(nf, temb_dim), nn.SiLU(), nn.Linear(temb_dim, temb_dim))
        # Row `classes` (with null_label) is the null class: s(x) without a condition, for classifier-free guidance.
        self.label = nn.Embedding(classes + int(null_label), temb_dim) if classes > 0 else None
        self.conv_in = nn.Conv2d(channels, nf, 3, padding=1)

        res = resolution
        resolutions = [res]
        hs = [nf]
        c = nf
        self.down = nn.ModuleList()
        for i, m in enumerate(ch_mult):
            for _ in range(num_res_blocks):
                blocks = nn.ModuleList([ResBlock(c, nf * m, temb_dim, dropout)])
                c = nf * m
                if res in attn_resolutions:
                    blocks.append(AttnBlock(c, res))
                self.down.append(blocks)
                hs.append(c)
            if i != len(ch_mult) - 1:
                self.down.append(nn.ModuleList([Downsample(c)]))
                res = (res + 1) // 2
                resolutions.append(res)
                hs.append(c)
        self.mid = nn.ModuleList([ResBlock(c, c, temb_dim, dropout), AttnBlock(c, res),
                                  ResBlock(c, c, temb_dim, dropout)])
        self.up = nn.ModuleList()
        for i, m in reversed(list(enumerate(ch_mult))):
            for _ in range(num_res_blocks + 1):
                blocks = nn.ModuleList([ResBlock(c + hs.pop(), nf * m, temb_dim, dropout)])
                c = nf * m
                if res in attn_resolutions:
                    blocks.append(AttnBlock(c, res))
                self.up.append(blocks)
            if i != 0:
                resolutions.pop()
                self.up.append(nn.ModuleList([Upsample(c, res, resolutions[-1])]))
                res = resolutions[-1]
        assert not hs
        self.norm_out = _gn(c)
        self.conv_out = _zero(nn.Conv2d(c, channels, 3, padding=1))

    def forward(self, x, c_noise, y=None):
        temb = self.temb(self.embed(c_noise))
        if self.label is not None:
            temb = temb + self.label(y)
        h = self.conv_in(x)
        hs = [h]
        for blocks in self.down:
            for b in blocks:
                h = b(h, temb) if isinstance(b, ResBlock) else b(h)
            hs.append(h)
        for b in self.mid:
            h = b(h, temb) if isinstance(b, ResBlock) else b(h)
        for blocks in self.up:
            first = blocks[0]
            if isinstance(first, ResBlock):
                h = first(torch.cat([h, hs.pop()], dim=1), temb)
                for b in blocks[1:]:
                    h = b(h)
            else:
                h = first(h)
        return self.conv_out(F.silu(self.norm_out(h)))
