"""The SDE-space score contract score(x, t[, y]) around the raw U-Net, with the official conventions.

VP / sub-VP: the net sees 999·t and predicts ε, score = −ε̂ / std(t).
VE: the net sees log σ(t) and 2x − 1 (data in [0, 1]), its output divided by σ(t) is the score.
The same module is used for training (denoising score matching) and for export, so the convention lives here once.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .models.unet import UNet
from .sde import SDE


class ScoreModel(nn.Module):
    def __init__(self, net: UNet, sde: SDE, t_max: float = 1.0):
        super().__init__()
        self.net, self.sde, self.t_max = net, sde, t_max
        self.kind = sde.kind

    def forward(self, x, t, y=None):
        if self.kind == "ve":
            sigma = self.sde.sigma(t)
            return self.net(2.0 * x - 1.0, torch.log(sigma), y) / sigma[:, None, None, None]
        eps = self.net(x, t * 999.0, y)
        return -eps / self.sde.std(t)[:, None, None, None]

    def dsm_loss(self, x0, y=None, generator=None, model=None):
        """Denoising score matching, t ~ U(eps, 1)·t_max (as the method doc), mean over all elements of
        ‖std·s(x_t, t) + z‖² (score_sde's unweighted loss, averaged instead of summed)."""
        b = x0.shape[0]
        u = torch.rand(b, generator=generator).to(x0.device)  # CPU generator: same stream on any device
        t = (self.sde.eps + u * (1.0 - self.sde.eps)) * self.t_max
        z = torch.randn(x0.shape, generator=generator).to(x0.device)
        mean, std = self.sde.marginal_prob(x0, t)
        xt = mean + std[:, None, None, None] * z
        s = (model if model is not None else self)(xt, t, y)
        return ((s * std[:, None, None, None] + z) ** 2).mean()
