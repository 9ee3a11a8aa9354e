"""Reference sampler over a bundle's ONNX files (onnxruntime), with the official score_sde / DiNof semantics.

Flow start: z ~ N(0, τ²I) -> flow -> x(T_m) (Gaussian start: the fitted Gaussian's graph in the flow's place), then the PC loop on linspace(T_m, eps, steps) (default int(N·T_m));
prior start: x(1) from the SDE prior on linspace(1, eps, steps) (default N). Step sizes come from the grid, as in
the Rust runtime (src/sde.rs); the probability-flow ODE (Euler or Heun, Tweedie denoise) is there too. Each step runs the corrector, then the predictor; the returned image is
the noise-free mean of the last step (denoise). Differences from the official code, on purpose: seeded, and the
Langevin step size uses per-sample norms (the official batch-averaged norms make samples depend on batch-mates).
This is the behaviour the Rust runtime reproduces; it is a reference, not a fast path.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from .data import unpremultiply
from .sde import SDE, sde_from_manifest


class Bundle:
    def __init__(self, path: str | Path, threads: int = 0):
        import onnxruntime as ort

        self.path = Path(path)
        self.manifest = json.loads((self.path / "dinof.json").read_text())
        if self.manifest.get("format") != "dinof-bundle" or self.manifest.get("format_version") != 1:
            raise ValueError(f"{self.path}: not a dinof bundle v1")
        self.sde: SDE = sde_from_manifest(self.manifest["sde"])
        img = self.manifest["image"]
        self.shape = (img["channels"], img["height"], img["width"])
        self.classes = int(self.manifest.get("classes", 0))
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self._ort, self._opts = ort, opts
        self.score_sess = ort.InferenceSession(str(self.path / self.manifest["score"]["file"]), opts,
                                               providers=["CPUExecutionProvider"])
        self.flows = {float(f["t_m"]): f for f in self.manifest.get("flows", [])}
        # The Gaussian starts: the fitted Gaussian of x(T_m), with the flows' schema and contract (z -> x graph).
        self.gaussians = {float(f["t_m"]): f for f in self.manifest.get("gaussians", [])}
        self._flow_sess = {}

    def _session(self, file):
        if file not in self._flow_sess:
            self._flow_sess[file] = self._ort.InferenceSession(str(self.path / file), self._opts,
                                                               providers=["CPUExecutionProvider"])
        return self._flow_sess[file]

    def score(self, x: torch.Tensor, t: torch.Tensor, y=None) -> torch.Tensor:
        feed = {"x": x.float().numpy(), "t": t.float().numpy()}
        if self.classes > 0:
            feed["y"] = y.numpy().astype(np.int64)
        return torch.from_numpy(self.score_sess.run(["score"], feed)[0])

    def start_nets(self, start: str) -> dict:
        """T_m -> manifest entry of a start's networks: 'flow' or 'gaussian' (empty for the prior)."""
        return {"flow": self.flows, "gaussian": self.gaussians}.get(start, {})

    def flow(self, t_m: float, z: torch.Tensor, y=None, start: str = "flow") -> torch.Tensor:
        f = self._flow_entry(t_m, start)
        feed = {"z": z.float().numpy()}
        if f.get("conditional"):
            feed["y"] = y.numpy().astype(np.int64)
        return torch.from_numpy(self._session(f["file"]).run(["x"], feed)[0])

    def flow_density(self, t_m: float, x: torch.Tensor, y=None):
        f = self._flow_entry(t_m)
        if "density_file" not in f:
            raise ValueError(f"flow t_m={t_m} has no density_file")
        feed = {"x": x.float().numpy()}
        if f.get("conditional"):
            feed["y"] = y.numpy().astype(np.int64)
        z, logdet = self._session(f["density_file"]).run(["z", "logdet"], feed)
        return torch.from_numpy(z), torch.from_numpy(logdet)

    def _flow_entry(self, t_m: float, start: str = "flow") -> dict:
        nets = self.start_nets(start)
        for k, f in nets.items():
            if abs(k - t_m) < 1e-9:
                return f
        raise ValueError(f"bundle has no {start} start at t_m={t_m} (has {sorted(nets)})")

    def to_pixels(self, x: torch.Tensor) -> torch.Tensor:
        """SDE space -> pixels in [0, 1], straight alpha (as the runtime, src/model/run.rs `to_pixels`)."""
        img = self.manifest["image"]
        p = (x * img["pixel_scale"] + img["pixel_offset"]).clamp(0.0, 1.0)
        return unpremultiply(p) if img.get("alpha") == "premultiplied" else p


def _bc(v, x):
    return v.reshape((-1,) + (1,) * (x.dim() - 1))


def time_grid(sde: SDE, t_start: float, steps: int) -> list[float]:
    """The SDE sampler's times, as the Rust runtime (src/sde.rs): linspace(t_start, eps, steps) as in score_sde,
    plus the end of the last step (one more uniform step, clamped at 0); step k goes from grid[k] to grid[k+1].
    Every step's size comes from this grid, whatever `steps` is (a fixed dt = 1/N would cover only part of
    [eps, t_start] when steps != int(N·t_start))."""
    if steps < 1:
        raise ValueError("steps must be >= 1")
    h = t_start if steps == 1 else (t_start - sde.eps) / (steps - 1)
    grid = [t_start] if steps == 1 else [sde.eps if k == steps - 1 else t_start - h * k for k in range(steps)]
    return grid + [max(sde.eps - h, 0.0)]


def ode_grid(sde: SDE, t_start: float, steps: int) -> list[float]:
    """The probability-flow ODE's grid: `steps` uniform intervals from t_start to eps (steps + 1 points)."""
    if steps < 1:
        raise ValueError("steps must be >= 1")
    h = (t_start - sde.eps) / steps
    return [sde.eps if k == steps else t_start - h * k for k in range(steps + 1)]


# Each ODE solver's grid when neither the caller nor the bundle (for its own solver) names one: the runtime's
# `Solver::default_schedule` (src/sampler/options.rs) for the solvers this reference sampler has.
DEFAULT_SCHEDULE = {"euler": "logsnr", "heun": "edm", "dpmpp_2m": "logsnr", "dpmpp_2m_sde": "logsnr"}
# The runtime's Solver::default_steps (src/sampler/options.rs): measured on the exact-score bundles.
DEFAULT_STEPS = {"euler": 135, "heun": 45, "dpmpp_2m": 20, "dpmpp_2m_sde": 35}


def log_snr(sde: SDE, t: float) -> float:
    """λ(t) = log(α/σ) of the marginal x(t) = α·x(0) + σ·ε (the runtime's Sde::log_snr)."""
    one = torch.ones(1, dtype=torch.float64)
    std = _scalar(sde.marginal_prob(one, torch.tensor([t], dtype=torch.float64))[1])
    return _log_mean_coeff(sde, t) - math.log(std)


def t_of_log_snr(sde: SDE, lam: float) -> float:
    """The inverse of `log_snr`, in the runtime's closed forms (Sde::t_of_log_snr)."""
    if sde.kind == "ve":
        return (-lam - math.log(sde.sigma_min)) / math.log(sde.sigma_max / sde.sigma_min)
    if sde.kind == "vp":  # L = −log α: α² = 1/(1 + e^(−2λ))
        big_l = 0.5 * math.log1p(math.exp(-2.0 * lam))
    else:  # sub-VP: α/(1 − α²) = r = e^λ, the positive root of rα² + α − r = 0
        r = math.exp(lam)
        q = math.hypot(1.0, 2.0 * r)
        big_l = math.log1p((1.0 + 1.0 / (q + 2.0 * r)) / (2.0 * r))
    a, b = 0.25 * (sde.beta_1 - sde.beta_0), 0.5 * sde.beta_0  # ¼Δβ·t² + ½β0·t = L, the root ≥ 0
    return 2.0 * big_l / (b + math.sqrt(b * b + 4.0 * a * big_l))


# The cosine grid's σ_d (the runtime's COSINE_SIGMA_DATA, src/sde.rs): EDM's σ_data.
COSINE_SIGMA_DATA = 0.5


def schedule_grid(sde: SDE, schedule: str, t_start: float, steps: int) -> list[float]:
    """The ODE solvers' grid, as the runtime's Sde::schedule_grid: `steps` intervals from t_start to eps, uniform in
    t ('time'), in λ ('logsnr'), in σ̃^(1/7) with σ̃ = e^(−λ) ('edm') or in atan(σ̃/σ_d) ('cosine'), mapped back to
    t; both ends exact."""
    if schedule == "time":
        return ode_grid(sde, t_start, steps)
    if steps < 1:
        raise ValueError("steps must be >= 1")
    l0, l1 = log_snr(sde, t_start), log_snr(sde, sde.eps)
    if schedule == "logsnr":
        grid = [t_of_log_snr(sde, l0 + k / steps * (l1 - l0)) for k in range(steps + 1)]
    elif schedule == "edm":
        rho = 7.0
        hi, lo = math.exp(-l0 / rho), math.exp(-l1 / rho)
        grid = [t_of_log_snr(sde, -rho * math.log(hi + k / steps * (lo - hi))) for k in range(steps + 1)]
    elif schedule == "cosine":
        u0, u1 = (math.atan2(math.exp(-lam), COSINE_SIGMA_DATA) for lam in (l0, l1))
        grid = [t_of_log_snr(sde, -math.log(COSINE_SIGMA_DATA * math.tan(u0 + k / steps * (u1 - u0))))
                for k in range(steps + 1)]
    else:
        raise ValueError(f"unknown schedule {schedule!r} (time, logsnr, edm, cosine)")
    grid[0], grid[steps] = t_start, sde.eps
    return grid


def default_steps(sde: SDE, t_start: float) -> int:
    """score_sde's int(N·t_start)."""
    return max(1, int(math.floor(sde.N * t_start + 1e-9)))


def _log_mean_coeff(sde: SDE, t: float) -> float:
    return 0.0 if sde.kind == "ve" else float(sde.log_mean_coeff(torch.tensor(t, dtype=torch.float64)))


def _scalar(v) -> float:
    return float(torch.as_tensor(v).reshape(-1)[0])


def _drift_diffusion(sde: SDE, t: float):
    """(f, g): the linear drift coefficient f(t) (drift = f·x) and the diffusion g(t)."""
    one = torch.ones(1, dtype=torch.float64)
    f, g = sde.sde(one, torch.tensor([t], dtype=torch.float64))
    return _scalar(f), _scalar(g)


def _predictor(name, b: Bundle, x, t, t_next, y, gen):
    """One reverse step from t to t_next (< t) with the update rules of src/sampler/steps.rs."""
    sde = b.sde
    if name == "none":
        return x, x
    vt = torch.full((len(x),), t, dtype=torch.float64)
    s = b.score(x, vt, y).double()
    z = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    if name == "euler_maruyama":
        h = t - t_next
        f, g = _drift_diffusion(sde, t)
        x_mean = x * (1.0 - f * h) + (g * g * h) * s
        return x_mean + g * math.sqrt(h) * z, x_mean
    if name == "reverse_diffusion":
        if sde.kind == "ve":
            s2 = _scalar(sde.sigma(torch.tensor(t, dtype=torch.float64))) ** 2
            s2n = 0.0 if t_next <= 0 else _scalar(sde.sigma(torch.tensor(t_next, dtype=torch.float64))) ** 2
            fc, G = 0.0, math.sqrt(max(s2 - s2n, 0.0))
        elif sde.kind == "vp":
            beta = -math.expm1(2.0 * (_log_mean_coeff(sde, t) - _log_mean_coeff(sde, max(t_next, 0.0))))
            fc, G = math.sqrt(1.0 - beta) - 1.0, math.sqrt(beta)
        else:  # sub-VP: Euler-Maruyama form of the continuous SDE
            f, g = _drift_diffusion(sde, t)
            fc, G = f * (t - t_next), g * math.sqrt(t - t_next)
        x_mean = x * (1.0 - fc) + (G * G) * s
        return x_mean + G * z, x_mean
    if name == "ancestral":
        if sde.kind == "vp":
            beta = -math.expm1(2.0 * (_log_mean_coeff(sde, t) - _log_mean_coeff(sde, max(t_next, 0.0))))
            x_mean = (x + beta * s) / math.sqrt(1.0 - beta)
            return x_mean + math.sqrt(beta) * z, x_mean
        if sde.kind == "ve":
            s2 = _scalar(sde.sigma(torch.tensor(t, dtype=torch.float64))) ** 2
            s2n = 0.0 if t_next <= 0 else _scalar(sde.sigma(torch.tensor(t_next, dtype=torch.float64))) ** 2
            x_mean = x + (s2 - s2n) * s
            return x_mean + math.sqrt(max(s2n * (s2 - s2n) / s2, 0.0)) * z, x_mean
        raise ValueError("ancestral sampling is defined for VE and VP only")
    raise ValueError(f"unknown predictor {name!r}")


def _langevin(b: Bundle, x, t, y, snr, gen):
    sde = b.sde
    vt = torch.full((len(x),), t, dtype=torch.float64)
    if sde.kind in ("vp", "subvp"):
        alpha = sde.alphas.double()[(vt * (sde.N - 1)).long()]
    else:
        alpha = torch.ones_like(vt)
    s = b.score(x, vt, y).double()
    noise = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    g_norm = s.flatten(1).norm(dim=1)  # per sample (official: batch mean)
    n_norm = noise.flatten(1).norm(dim=1)
    step = (snr * n_norm / g_norm) ** 2 * 2 * alpha
    x_mean = x + _bc(step, x) * s
    return x_mean + _bc(torch.sqrt(2 * step), x) * noise, x_mean


def _ode_derivative(b: Bundle, x, t, y):
    f, g = _drift_diffusion(b.sde, t)
    s = b.score(x, torch.full((len(x),), t, dtype=torch.float64), y).double()
    return f * x - 0.5 * g * g * s


def _run_ode(b: Bundle, x, y, t0, steps, solver, denoise, schedule):
    grid = schedule_grid(b.sde, schedule or DEFAULT_SCHEDULE.get(solver, "time"), t0, steps)
    for t, t_next in zip(grid[:-1], grid[1:]):
        h = t_next - t
        if solver == "euler":
            # k-diffusion's Euler (= DDIM), as the runtime: in x̃ = x/α, σ̃ = σ/α, x̃' = x̃ + (σ̃' − σ̃)·(x̃ − x̂0)/σ̃.
            (a, std), (an, stdn) = _marginal(b.sde, t), _marginal(b.sde, t_next)
            s = b.score(x, torch.full((len(x),), t, dtype=torch.float64), y).double()
            x = an * (x / a - (stdn / an - std / a) * std * s)
        elif solver == "heun":
            d = _ode_derivative(b, x, t, y)
            x2 = x + h * d
            x = x + 0.5 * h * (d + _ode_derivative(b, x2, t_next, y))
        else:
            raise ValueError(f"unknown ODE solver {solver!r}")
    return _tweedie(b, x, y, grid[-1]) if denoise else x


def _marginal(sde: SDE, t: float) -> tuple[float, float]:
    """(α, σ) of x(t) = α·x(0) + σ·ε."""
    std = _scalar(sde.marginal_prob(torch.ones(1, dtype=torch.float64), torch.tensor([t], dtype=torch.float64))[1])
    return math.exp(_log_mean_coeff(sde, t)), std


def _tweedie(b: Bundle, x, y, t: float):
    """The final noise-free evaluation: E[x(0) | x(t)] = (x + σ²·s) / α."""
    s = b.score(x, torch.full((len(x),), t, dtype=torch.float64), y).double()
    a, std = _marginal(b.sde, t)
    return (x + std * std * s) / a


def _run_dpmpp(b: Bundle, x, y, t0, steps, schedule, stochastic, denoise, gen):
    """DPM-Solver++(2M) (deterministic, method ode) or its SDE variant (stochastic, η = 1), in the runtime's form
    (src/sampler/steps.rs dpmpp_2m / dpmpp_2m_sde): data prediction x̂0 = (x + σ²s)/α, h = λ' − λ, the second-order
    correction D = (1 + 1/2r)·x̂0 − (1/2r)·x̂0_prev with r = h_prev/h, first order on the first step."""
    grid = schedule_grid(b.sde, schedule, t0, steps)
    prev = None
    for t, t_next in zip(grid[:-1], grid[1:]):
        s = b.score(x, torch.full((len(x),), t, dtype=torch.float64), y).double()
        (a, std), (a_n, std_n) = _marginal(b.sde, t), _marginal(b.sde, t_next)
        x0 = (x + std * std * s) / a
        h = log_snr(b.sde, t_next) - log_snr(b.sde, t)
        d = x0 if prev is None else (1 + 0.5 * h / prev[0]) * x0 - 0.5 * h / prev[0] * prev[1]
        if stochastic:
            one_minus = -math.expm1(-2.0 * h)
            z = torch.randn(x.shape, generator=gen, dtype=torch.float64)
            x = std_n / std * math.exp(-h) * x + a_n * one_minus * d + std_n * math.sqrt(one_minus) * z
        else:
            x = std_n / std * x + a_n * -math.expm1(-h) * d
        prev = (h, x0)
    return _tweedie(b, x, y, grid[-1]) if denoise else x


def pc_sample(b: Bundle, n: int, seed: int = 0, start: str = "flow", t_m: float | None = None,
              predictor: str = "euler_maruyama", corrector: str = "none", snr: float = 0.16,
              corrector_steps: int = 1, steps: int | None = None, denoise: bool = True, temperature: float = 1.0,
              label: int | None = None, gen: torch.Generator | None = None, method: str = "sde",
              solver: str = "heun", x_start: torch.Tensor | None = None,
              schedule: str | None = None) -> torch.Tensor:
    """n samples in SDE space (float64 [n, C, H, W]); the SDE math runs in float64, the networks in float32.
    start "given": the reverse process starts at t_m from x_start (SDE space), e.g. an oracle x(T_m) made by
    noising real images, to measure what a perfect prior at T_m would give."""
    sde = b.sde
    gen = gen or torch.Generator().manual_seed(seed)
    y = None
    if b.classes > 0:
        # As the runtime (LabelError::Missing): which class to draw is the caller's choice, never a guess.
        if label is None:
            raise ValueError(f"{b.path}: the model is class-conditional ({b.classes} classes): give a label")
        y = torch.full((n,), label, dtype=torch.int64)
    D = int(np.prod(b.shape))
    if start in ("flow", "gaussian"):
        z = torch.randn(n, D, generator=gen) * temperature
        x = b.flow(t_m, z, y, start).double()
        t0 = t_m
    elif start == "prior":
        if b.manifest["score"]["t_max"] < 1.0:
            raise ValueError("prior start needs a score trained up to t_max = 1")
        x = sde.prior_sampling((n,) + b.shape, generator=gen).double()
        t0 = 1.0
    elif start == "given":
        if x_start is None or tuple(x_start.shape) != (n,) + b.shape or t_m is None:
            raise ValueError(f"start 'given' needs t_m and x_start of shape {(n,) + b.shape}")
        x, t0 = x_start.double(), t_m
    else:
        raise ValueError(f"unknown start {start!r}")
    steps = steps or default_steps(sde, t0)
    if solver in ("dpmpp_2m", "dpmpp_2m_sde") and method == ("ode" if solver == "dpmpp_2m" else "sde"):
        return _run_dpmpp(b, x, y, t0, steps, schedule or DEFAULT_SCHEDULE[solver], solver == "dpmpp_2m_sde",
                          denoise, gen)
    if method == "ode":
        return _run_ode(b, x, y, t0, steps, solver, denoise, schedule)
    if method != "sde":
        raise ValueError(f"unknown method {method!r}")
    x_mean = x
    grid = time_grid(sde, t0, steps)
    for t, t_next in zip(grid[:-1], grid[1:]):
        if corrector == "langevin":
            for _ in range(corrector_steps):
                x, x_mean = _langevin(b, x, t, y, snr, gen)
        elif corrector != "none":
            raise ValueError(f"unknown corrector {corrector!r}")
        x, x_mean = _predictor(predictor, b, x, t, t_next, y, gen)
    return x_mean if denoise else x


def save_grid(pixels: torch.Tensor, path: str | Path, nrow: int | None = None, pad: int = 2) -> None:
    from PIL import Image

    n, c, h, w = pixels.shape
    nrow = nrow or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / nrow))
    grid = np.ones((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), dtype=np.float32) * 0.5
    for k in range(n):
        r, q = divmod(k, nrow)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = \
            pixels[k].numpy()
    a = (grid * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(a[0], "L") if c == 1 else Image.fromarray(a.transpose(1, 2, 0), "RGB")
    img.save(path)


def sample_bundle(bundle, n=64, batch=64, seed=0, png=None, npy=None, start=None, t_m=None, predictor=None,
                  corrector=None, snr=None, steps=None, temperature=None, label=None, quiet=False, method=None,
                  solver=None, schedule=None):
    b = Bundle(bundle)
    d = b.manifest.get("sampler", {})
    # The runtime's rules (src/bundle/mod.rs default_start, src/sampler/choices.rs resolve): the bundle's start, else
    # flow, Gaussian, prior in that order; the bundle's T_m when this start has a network there, else its largest.
    start = start or d.get("start", "flow" if b.flows else "gaussian" if b.gaussians else "prior")
    nets = b.start_nets(start)
    if t_m is None:
        bundle_t = d.get("t_m")
        t_m = bundle_t if bundle_t is not None and any(abs(k - bundle_t) < 1e-6 for k in nets) else (
            max(nets) if nets else None)
    # The runtime's rules for method, solver, steps and grid (src/sampler/choices.rs, resolve): a solver chosen
    # without a method brings its own; a bundle's SDE solver (dpmpp_2m_sde) gives way to an explicit predictor or
    # corrector or method 'ode', and takes its steps and grid with it; the bundle's grid is for its own solver.
    solver_method = {"dpmpp_2m_sde": "sde"}
    method = method or (solver_method.get(solver, "ode") if solver else None) or d.get("method") or "sde"
    bundle_solver = d.get("solver")
    if bundle_solver and solver_method.get(bundle_solver, "ode") == "sde" and (
            method != "sde" or predictor is not None or corrector is not None):
        bundle_solver = None
    solver = solver or bundle_solver or "heun"

    def sampler_of(m, s):  # the predictor/corrector sampler (None) or the solver itself
        return s if solver_method.get(s, "ode") == m else None

    # The manifest's grid and steps are for the manifest's own sampler only (src/sampler/choices.rs, `own`).
    d_method = d.get("method") or (solver_method.get(d["solver"], "ode") if d.get("solver") else "sde")
    own = sampler_of(method, solver) == sampler_of(d_method, d.get("solver") or "heun")

    def choice(name, given):
        # The caller's value, else the bundle's: never a default of this module's own, which drifted from the
        # runtime's once (the runtime's rule for a bundle that is silent is src/sampler/choices.rs, `resolve`).
        if given is not None:
            return given
        if d.get(name) is None:
            raise ValueError(f"{bundle}: the manifest's sampler section does not set {name!r}; pass {name}=... "
                             "(this reference sampler takes no default of its own)")
        return d[name]

    # Only what the method uses: the predictor/corrector settings for the predictor/corrector sampler, the solver
    # and its grid for the others.
    if method == "sde" and solver != "dpmpp_2m_sde":
        used = dict(predictor=choice("predictor", predictor), corrector=choice("corrector", corrector),
                    snr=choice("snr", snr), corrector_steps=choice("corrector_steps", None))
    else:
        if solver_method.get(solver, "ode") != method:
            raise ValueError(f"solver {solver!r} needs method {solver_method.get(solver, 'ode')!r}, not {method!r}")
        used = dict(solver=solver,
                    schedule=schedule or (d.get("schedule") if own else None) or DEFAULT_SCHEDULE[solver])
    opts = dict(start=start, t_m=t_m, method=method, **used,
                # No steps: the solver's measured default, for the predictor/corrector sampler the bundle format's
                # int(N·t_start) (pc_sample's default_steps), as the runtime.
                steps=steps or (d.get("steps") if own else None) or (
                    DEFAULT_STEPS[solver] if sampler_of(method, solver) else None),
                denoise=choice("denoise", None),
                temperature=choice("temperature", temperature), label=label)
    gen = torch.Generator().manual_seed(seed)
    out, t0 = [], time.time()
    for k in range(0, n, batch):
        out.append(b.to_pixels(pc_sample(b, min(batch, n - k), gen=gen, **opts)).float())
    pix = torch.cat(out)
    secs = time.time() - t0
    if png:
        save_grid(pix, png)
    if npy:
        np.save(npy, pix.numpy().astype(np.float32))
    if not quiet:
        print(json.dumps({"n": n, "seconds": round(secs, 2), "png": png, "npy": npy,
                          **{k: v for k, v in opts.items() if v is not None}}))
    return pix


def evaluate_bundle(bundle, dataset=None, n=1000, seed=0, samples=16) -> dict:
    """Flow bits/dim on real x(T_m) (forward-marginal samples of the dataset) through the density graphs, and
    first/second moments of a few flow-started samples against the data."""
    from .data import load_dataset

    b = Bundle(bundle)
    prov = b.manifest.get("provenance", {})
    dataset = dataset or prov.get("dataset_source", prov.get("dataset", "mnist"))
    if dataset.endswith(":train"):  # held-out images: a model trained on a split is evaluated on its test part
        dataset = dataset[: -len(":train")] + ":test"
    images, labels, _ = load_dataset(dataset)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(images), generator=g)[:n]
    x01 = images[idx]
    x0 = x01 * 2 - 1 if b.sde.centered else x01
    y = labels[idx] if b.classes > 0 else None
    D = int(np.prod(b.shape))
    res = {"dataset": dataset, "n": len(idx), "flows": {}}
    from .train import flow_bounds

    bounds = flow_bounds(b.sde, images * 2 - 1 if b.sde.centered else images, sorted(b.flows))
    for t_m, f in sorted(b.flows.items()):
        if "density_file" not in f:
            continue
        mean, std = b.sde.marginal_prob(x0, torch.full((len(x0),), t_m))
        xt = mean + std[:, None, None, None] * torch.randn(x0.shape, generator=g)
        lp = []
        for k in range(0, len(xt), 250):
            z, logdet = b.flow_density(t_m, xt[k:k + 250], None if y is None else y[k:k + 250])
            lp.append(-0.5 * (z.double() ** 2).sum(1) - 0.5 * D * math.log(2 * math.pi) + logdet.double())
        lp = torch.cat(lp)
        # bound: noise entropy (no model can go below); gauss: a Gaussian with the data's covariance
        res["flows"][str(t_m)] = {"bits_per_dim": float(-lp.mean() / (D * math.log(2))),
                                  "bound": bounds[str(t_m)]["bound"], "gauss": bounds[str(t_m)]["gauss"]}
    if b.flows and samples > 0:
        pix = sample_bundle(bundle, n=samples, seed=seed, quiet=True)
        res["samples"] = {"n": len(pix), "pixel_mean": float(pix.mean()), "data_pixel_mean": float(x01.mean()),
                          "pixel_std": float(pix.std()), "data_pixel_std": float(x01.std())}
    return res
