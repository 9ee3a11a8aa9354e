"""Forward-SDE marginals: a fine Euler-Maruyama simulation of each SDE matches marginal_prob."""
import math

import pytest
import torch

from dinof_train.sde import make_sde


@pytest.mark.parametrize("kind", ["ve", "vp", "subvp"])
def test_marginals_match_simulation(kind):
    sde = make_sde(kind, sigma_max=5.0) if kind == "ve" else make_sde(kind)
    g = torch.Generator().manual_seed(0)
    n, steps, t_end = 20000, 500, 0.6
    x0 = torch.full((n, 1, 1, 1), 0.7, dtype=torch.float64)
    x = x0.clone()
    dt = t_end / steps
    for k in range(steps):
        t = torch.full((n,), k * dt, dtype=torch.float64)
        f, gdiff = sde.sde(x, t)
        x = x + f * dt + gdiff.reshape(-1, 1, 1, 1) * math.sqrt(dt) * torch.randn(x.shape, generator=g,
                                                                                  dtype=torch.float64)
    tt = torch.full((n,), t_end, dtype=torch.float64)
    mean, std = sde.marginal_prob(x0, tt)
    if kind == "ve":  # VE's marginal std is sigma(t); the simulation starts with sigma(0)=sigma_min already 0
        std = torch.sqrt(std ** 2 - sde.sigma_min ** 2)
    # 4 standard errors of the mean (n = 20000) plus 2e-3 for Euler-Maruyama's weak-order-1 bias (dt = 1.2e-3,
    # times drifts of order 1); the std's relative se is 1/sqrt(2n) = 0.005, so 3% is 6 of them or the EM bias
    # on the variance (~dt·β ≈ 1.4% at β ≈ 12), whichever dominates. A wrong drift sign or g is ≥ 10% off.
    assert abs(float(x.mean()) - float(mean.mean())) < 4 * float(std[0]) / math.sqrt(n) + 2e-3
    assert abs(float(x.std()) / float(std[0]) - 1) < 0.03


def test_vp_std_is_accurate_at_small_t():
    sde = make_sde("vp")
    t = torch.tensor([1e-3, 2e-3, 0.01, 0.05, 0.2, 0.6, 1.0], dtype=torch.float32)
    exact = torch.sqrt(-torch.expm1(2 * sde.log_mean_coeff(t.double())))
    # float32 std against float64: ≤ 17 ulp (2e-6 relative), on a formula that keeps relative accuracy at small t
    # (expm1); the naive sqrt(1 - exp(..)) in float32 is ~3e-4 off at t = 1e-3 (σ² ≈ 1e-4) and fails
    assert torch.allclose(sde.std(t).double(), exact, rtol=2e-6)
    sub = make_sde("subvp")
    assert torch.allclose(sub.std(t).double(), -torch.expm1(2 * sub.log_mean_coeff(t.double())), rtol=2e-6)


def test_discretisations():
    vp = make_sde("vp")
    x = torch.ones(2, 1, 2, 2)
    t = torch.tensor([0.0, 1.0])
    f, G = vp.discretize(x, t)
    assert torch.allclose(G ** 2, torch.tensor([0.1 / 1000, 20.0 / 1000]))
    assert torch.allclose(f[1], (math.sqrt(1 - 0.02) - 1) * torch.ones(1, 2, 2))
    ve = make_sde("ve")
    _, G = ve.discretize(x, torch.tensor([0.0, 1.0]))
    assert abs(float(G[0]) - 0.01) < 1e-6  # sigma_{-1} = 0
    s = ve.discrete_sigmas
    # float32 σ² ≈ 2500 rounds at 1.5e-4, so the difference of squares (~42) carries ~4e-6 relative: 1e-3 is loose
    assert abs(float(G[1]) - math.sqrt(float(s[-1] ** 2 - s[-2] ** 2))) < 1e-3
