"""Forward SDEs (VE, VP, sub-VP) with the score_sde conventions, in torch.

Continuous time t in [0, 1]; N discretisation steps for the samplers. Everything is a function of a batch of
times `t: [B]` and broadcasts over images `x: [B, C, H, W]`.
"""
from __future__ import annotations

import abc
import math

import torch


def _bc(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Broadcast a per-sample vector [B] against x [B, ...]."""
    return v.reshape((-1,) + (1,) * (x.dim() - 1))


class SDE(abc.ABC):
    kind: str
    eps: float
    centered: bool  # True when data live in [-1, 1] (VP/sub-VP), False for [0, 1] (VE)

    def __init__(self, n: int = 1000):
        self.N = n

    @abc.abstractmethod
    def marginal_prob(self, x0, t):  # -> mean, std
        ...

    @abc.abstractmethod
    def sde(self, x, t):  # -> drift, diffusion
        ...

    def discretize(self, x, t):  # -> f, G (discrete-time sampler form)
        drift, diffusion = self.sde(x, t)
        return drift / self.N, diffusion * math.sqrt(1.0 / self.N)

    def prior_sampling(self, shape, generator=None):
        return torch.randn(shape, generator=generator)

    @abc.abstractmethod
    def manifest(self) -> dict:
        ...


class VESDE(SDE):
    kind = "ve"
    centered = False

    def __init__(self, sigma_min=0.01, sigma_max=50.0, n=1000, eps=1e-5):
        super().__init__(n)
        self.sigma_min, self.sigma_max, self.eps = sigma_min, sigma_max, eps
        self.discrete_sigmas = torch.exp(torch.linspace(math.log(sigma_min), math.log(sigma_max), n))

    def sigma(self, t):
        return torch.exp(math.log(self.sigma_min) + t * math.log(self.sigma_max / self.sigma_min))

    def std(self, t):
        return self.sigma(t)

    def marginal_prob(self, x0, t):
        return x0, self.sigma(t)

    def sde(self, x, t):
        g = self.sigma(t) * math.sqrt(2 * (math.log(self.sigma_max) - math.log(self.sigma_min)))
        return torch.zeros_like(x), g

    def discretize(self, x, t):
        i = (t * (self.N - 1)).long()
        sig = self.discrete_sigmas.to(t.device)[i]
        prev = torch.where(i == 0, torch.zeros_like(t), self.discrete_sigmas.to(t.device)[(i - 1).clamp(min=0)])
        return torch.zeros_like(x), torch.sqrt(sig ** 2 - prev ** 2)

    def prior_sampling(self, shape, generator=None):
        return torch.randn(shape, generator=generator) * self.sigma_max

    def manifest(self):
        return {"kind": "ve", "sigma_min": self.sigma_min, "sigma_max": self.sigma_max, "n": self.N, "eps": self.eps}


class VPSDE(SDE):
    kind = "vp"
    centered = True

    def __init__(self, beta_min=0.1, beta_max=20.0, n=1000, eps=1e-3):
        super().__init__(n)
        self.beta_0, self.beta_1, self.eps = beta_min, beta_max, eps
        self.discrete_betas = torch.linspace(beta_min / n, beta_max / n, n)
        self.alphas = 1.0 - self.discrete_betas

    def log_mean_coeff(self, t):
        return -0.25 * t ** 2 * (self.beta_1 - self.beta_0) - 0.5 * t * self.beta_0

    def beta(self, t):
        return self.beta_0 + t * (self.beta_1 - self.beta_0)

    @staticmethod
    def _one_minus_exp2(lmc):
        """1 − e^{2m} without cancellation at small t (std(eps) ≈ 0.01): Taylor series of −expm1 for |2m| < 0.1.
        expm1/sinh have no ONNX export, and Where keeps the graph free of control flow."""
        u = 2.0 * lmc
        series = -u * (1.0 + u * (1.0 / 2 + u * (1.0 / 6 + u * (1.0 / 24 + u * (1.0 / 120 + u / 720)))))
        return torch.where(u.abs() < 0.1, series, 1.0 - torch.exp(u))

    def std(self, t):
        return torch.sqrt(self._one_minus_exp2(self.log_mean_coeff(t)))

    def marginal_prob(self, x0, t):
        lmc = self.log_mean_coeff(t)
        return _bc(torch.exp(lmc), x0) * x0, self.std(t)

    def sde(self, x, t):
        b = self.beta(t)
        return -0.5 * _bc(b, x) * x, torch.sqrt(b)

    def discretize(self, x, t):
        i = (t * (self.N - 1)).long()
        beta = self.discrete_betas.to(x.device)[i]
        alpha = self.alphas.to(x.device)[i]
        return _bc(torch.sqrt(alpha), x) * x - x, torch.sqrt(beta)

    def manifest(self):
        return {"kind": "vp", "beta_min": self.beta_0, "beta_max": self.beta_1, "n": self.N, "eps": self.eps}


class SubVPSDE(VPSDE):
    kind = "subvp"

    def std(self, t):
        return self._one_minus_exp2(self.log_mean_coeff(t))

    def sde(self, x, t):
        b = self.beta(t)
        discount = 1.0 - torch.exp(-2.0 * self.beta_0 * t - (self.beta_1 - self.beta_0) * t ** 2)
        return -0.5 * _bc(b, x) * x, torch.sqrt(b * discount)

    def discretize(self, x, t):  # plain Euler-Maruyama, as score_sde's base class
        return SDE.discretize(self, x, t)

    def manifest(self):
        d = super().manifest()
        d["kind"] = "subvp"
        return d


def make_sde(kind: str, n: int = 1000, eps: float | None = None, **kw) -> SDE:
    if kind == "ve":
        s = VESDE(sigma_min=kw.get("sigma_min", 0.01), sigma_max=kw.get("sigma_max", 50.0), n=n,
                  eps=1e-5 if eps is None else eps)
    elif kind in ("vp", "subvp"):
        cls = VPSDE if kind == "vp" else SubVPSDE
        s = cls(beta_min=kw.get("beta_min", 0.1), beta_max=kw.get("beta_max", 20.0), n=n,
                eps=1e-3 if eps is None else eps)
    else:
        raise ValueError(f"unknown SDE kind {kind!r} (ve, vp, subvp)")
    return s


def sde_from_manifest(d: dict) -> SDE:
    return make_sde(d["kind"], n=d.get("n", 1000), eps=d.get("eps"),
                    **{k: v for k, v in d.items() if k in ("sigma_min", "sigma_max", "beta_min", "beta_max")})
