"""Quality vs score evaluations (issue 13): for each start (plain diffusion from the prior, or a flow at T_m) and
sampler (Euler–Maruyama, probability-flow ODE with Euler or Heun), sample n images at several NFE with the same
seed and score them with `quality.Scorer` (Fréchet distance + bootstrap spread, precision/recall, real-vs-real).

Results are appended to OUT/sweep.json point by point, so an interrupted sweep resumes where it stopped; the
plot (log-NFE axis, one line per start × sampler, the real-vs-real band) and a markdown table are rebuilt from
that file. Samples come from the Rust CLI (`dinof sample`, the shipped runtime) or the Python reference sampler.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

SAMPLERS = {  # name -> (method, solver, steps for a target NFE, NFE of those steps); matches score_evals()
    "em": ("sde", None, lambda nfe: nfe, lambda s: s),
    "ode-euler": ("ode", "euler", lambda nfe: nfe - 1, lambda s: s + 1),  # + 1: the Tweedie denoise
    "ode-heun": ("ode", "heun", lambda nfe: (nfe - 1) // 2, lambda s: 2 * s + 1),
    # few-step solvers (issue 10), Rust runtime only, each on the grid it was designed for
    "dpmpp2m": ("ode", "dpmpp_2m", lambda nfe: nfe - 1, lambda s: s + 1),
    "dpmpp2m-sde": ("sde", "dpmpp_2m_sde", lambda nfe: nfe - 1, lambda s: s + 1),
    "edm-heun": ("ode", "edm_heun", lambda nfe: (nfe - 1) // 2, lambda s: 2 * s + 1),
}
SCHEDULES = {"dpmpp2m": "logsnr", "dpmpp2m-sde": "logsnr", "edm-heun": "edm"}
PYTHON_SAMPLERS = ("em", "ode-euler", "ode-heun")  # what the reference sampler (sample.py) implements
# Starts: prior (t = 1), flow<T_m> (the bundle's flow), and two references at T_m that only the Python reference
# sampler runs: oracle<T_m> = real images the classifier never saw, noised to x(T_m) by the forward SDE (a perfect
# prior: what the flow start would give if the flow were exact), gauss<T_m> = a Gaussian with x(T_m)'s mean and
# covariance (the "Gaussian level" of docs/evaluation.md as a sampler).
STARTS = ("prior", "flow", "oracle", "gauss")


@dataclass(frozen=True)
class Curve:
    start: str  # one of STARTS
    t_m: float | None
    sampler: str
    nfes: tuple[int, ...] | None = None  # this curve's own NFE points (else the sweep's --nfe)

    @property
    def name(self) -> str:
        s = "prior" if self.start == "prior" else f"{self.start}{self.t_m:g}"
        return f"{s}:{self.sampler}"

    @property
    def python_only(self) -> bool:
        return self.start in ("oracle", "gauss")

    @staticmethod
    def parse(text: str) -> "Curve":
        """'prior:em', 'flow0.6:ode-heun', 'oracle0.6:em', with optional NFE points: 'prior:em=10/20/1000'."""
        spec, _, points = text.partition("=")
        start, _, sampler = spec.partition(":")
        if sampler not in SAMPLERS:
            raise ValueError(f"curve {text!r}: sampler must be one of {sorted(SAMPLERS)}")
        try:
            nfes = tuple(int(k) for k in points.split("/")) if points else None
        except ValueError:
            raise ValueError(f"curve {text!r}: NFE points must be integers separated by '/'") from None
        if start == "prior":
            return Curve("prior", None, sampler, nfes)
        for kind in STARTS[1:]:
            if start.startswith(kind):
                try:
                    t_m = float(start[len(kind):])
                except ValueError:
                    break
                if kind != "flow" and sampler not in PYTHON_SAMPLERS:
                    raise ValueError(f"curve {text!r}: {kind} starts run on the Python reference sampler, "
                                     f"which has {', '.join(PYTHON_SAMPLERS)}")
                return Curve(kind, t_m, sampler, nfes)
        raise ValueError(f"curve {text!r}: start must be 'prior', 'flow<T_m>', 'oracle<T_m>' or 'gauss<T_m>' "
                         "(e.g. flow0.6)")


def _reference_start(bundle, curve: Curve, n: int, seed: int, scorer):
    """x(T_m) in SDE space for the oracle and gauss starts (see STARTS)."""
    import torch

    from .sample import Bundle

    b = Bundle(bundle)
    images = scorer.images.double()
    x0_all = images * 2 - 1 if b.sde.centered else images
    g = torch.Generator().manual_seed(seed + 7)
    t = torch.full((n,), curve.t_m, dtype=torch.float64)
    if curve.start == "oracle":  # images unseen by the classifier; with replacement only when n > the pool
        pool = torch.as_tensor(scorer.split.pool)
        pick = torch.randperm(len(pool), generator=g)[:n] if n <= len(pool) else \
            torch.randint(0, len(pool), (n,), generator=g)
        mean, std = b.sde.marginal_prob(x0_all[pool[pick]], t)
        return mean + std.reshape(-1, 1, 1, 1) * torch.randn(mean.shape, generator=g, dtype=torch.float64)
    flat = x0_all.flatten(1)  # gauss: N(a·mu0, a²·Sigma0 + s²·I), fitted on all the dataset's images
    mu0, cov0 = flat.mean(0), torch.cov(flat.T)
    a, s = b.sde.marginal_prob(torch.ones(1, dtype=torch.float64), t[:1])
    a, s = float(a.reshape(-1)[0]), float(s.reshape(-1)[0])
    chol = torch.linalg.cholesky(a * a * cov0 + s * s * torch.eye(flat.shape[1], dtype=torch.float64))
    z = torch.randn(n, flat.shape[1], generator=g, dtype=torch.float64)
    return (a * mu0 + z @ chol.T).reshape((n,) + tuple(images.shape[1:]))


def _sample(bundle, curve: Curve, steps: int, n: int, seed: int, sampler: str, dinof_bin, cli_args, tmp: Path,
            scorer=None):
    method, solver, _, _ = SAMPLERS[curve.sampler]
    if sampler == "python" or curve.python_only:
        from .sample import sample_bundle

        if curve.sampler not in PYTHON_SAMPLERS:
            raise ValueError(f"{curve.name}: the Python reference sampler has {', '.join(PYTHON_SAMPLERS)} only")
        if curve.python_only:
            from .sample import Bundle, pc_sample

            import torch

            b = Bundle(bundle)
            x = pc_sample(b, n, start="given", t_m=curve.t_m, predictor="euler_maruyama", corrector="none",
                          steps=steps, method=method, solver=solver or "heun",
                          x_start=_reference_start(bundle, curve, n, seed, scorer),
                          gen=torch.Generator().manual_seed(seed), schedule=SCHEDULES.get(curve.sampler, "time"))
            return b.to_pixels(x).float().numpy()
        pix = sample_bundle(bundle, n=n, batch=min(n, 250), seed=seed, start=curve.start, t_m=curve.t_m,
                            predictor="euler_maruyama", corrector="none", steps=steps, method=method,
                            solver=solver, schedule=SCHEDULES.get(curve.sampler, "time"), quiet=True)
        return pix.numpy()
    from .quality import sample_with_cli

    extra = ["--start", curve.start, "--steps", str(steps), "--method", method]
    extra += ["--t-m", f"{curve.t_m:g}"] if curve.start == "flow" else []
    extra += ["--solver", solver] if solver else ["--predictor", "euler_maruyama", "--corrector", "none"]
    # every curve names its grid: a bundle's default schedule must not move the uniform-t curves
    extra += ["--schedule", SCHEDULES.get(curve.sampler, "time")]
    return sample_with_cli(bundle, n, tmp / "samples.npy", dinof_bin, seed, extra + list(cli_args), quiet=True)


def run_sweep(bundle, dataset: str, curves: list[Curve], nfes: list[int], n: int, out: Path, seed: int = 0,
              sampler: str = "rust", dinof_bin=None, cli_args=(), bootstrap: int = 30, quiet: bool = False) -> dict:
    import tempfile

    from tqdm import tqdm

    from .quality import Scorer

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "sweep.json"
    meta = {"bundle": str(bundle), "dataset": dataset, "n": n, "seed": seed, "sampler": sampler,
            "cli_args": list(cli_args)}
    state = json.loads(path.read_text()) if path.exists() else {"meta": meta, "points": []}
    if state["meta"] != meta:
        raise ValueError(f"{path} holds a sweep with other settings ({state['meta']}); use another --out")
    scorer = Scorer(dataset, quiet=quiet)
    if "real_vs_real" not in state:
        state["real_vs_real"] = scorer.real_level(n, repeats=20, seed=seed)
        state["classifier_accuracy"] = scorer.accuracy
    done = {(p["curve"], p["steps"]) for p in state["points"]}
    todo = []
    for c in curves:
        _, _, steps_of, nfe_of = SAMPLERS[c.sampler]
        for nfe in c.nfes or nfes:
            steps = steps_of(nfe)
            if steps >= 1 and (c.name, steps) not in done:
                todo.append((c, steps, nfe_of(steps)))
                done.add((c.name, steps))
    bar = tqdm(todo, disable=quiet, dynamic_ncols=True, desc="sweep")
    with tempfile.TemporaryDirectory() as tmp:
        for c, steps, nfe in bar:
            bar.set_postfix_str(f"{c.name} nfe {nfe}")
            t0 = time.time()
            x = _sample(bundle, c, steps, n, seed, sampler, dinof_bin, cli_args, Path(tmp), scorer)
            secs = time.time() - t0
            r = scorer.score(x, bootstrap=bootstrap, seed=seed, real_level=False)
            state["points"].append({"curve": c.name, "start": c.start, "t_m": c.t_m, "sampler": c.sampler,
                                    "runtime": "python" if sampler == "python" or c.python_only else "rust",
                                    "steps": steps, "nfe": nfe, "fd": r["fd"], "fd_std": r["fd_bootstrap_std"],
                                    "precision": r["precision"], "recall": r["recall"], "class_tv": r["class_tv"],
                                    "sample_seconds": round(secs, 2)})
            tmp_path = path.with_suffix(".tmp")
            tmp_path.write_text(json.dumps(state, indent=1) + "\n")
            tmp_path.replace(path)  # one point at a time: a killed sweep resumes from here
    return state


def _by_curve(state: dict) -> dict:
    curves: dict[str, list] = {}
    for p in state["points"]:
        curves.setdefault(p["curve"], []).append(p)
    return {k: sorted(v, key=lambda p: p["nfe"]) for k, v in curves.items()}


def headline(state: dict, ref_curve: str = "prior:em", ref_nfe: int | None = None) -> dict:
    """Reference = `ref_curve` at `ref_nfe` (default: plain diffusion, Euler–Maruyama, at its largest NFE). For
    every curve: the smallest NFE whose FD is within the reference's FD + 2 bootstrap std, and its ratio to the
    reference NFE."""
    curves = _by_curve(state)
    ref = curves.get(ref_curve)
    if not ref:
        return {}
    top = ref[-1] if ref_nfe is None else next((p for p in ref if p["nfe"] == ref_nfe), None)
    if top is None:
        return {}
    level = top["fd"] + 2 * top["fd_std"]
    res = {"reference": {"curve": ref_curve, "nfe": top["nfe"], "fd": top["fd"], "fd_std": top["fd_std"],
                         "level": level}, "curves": {}}
    for name, pts in curves.items():
        hit = next((p for p in pts if p["fd"] <= level), None)
        res["curves"][name] = {"nfe": hit["nfe"] if hit else None,
                               "ratio": hit["nfe"] / top["nfe"] if hit else None,
                               "best_fd": min(p["fd"] for p in pts)}
    return res


def _headline_table(h: dict, what: str) -> list[str]:
    ref = h["reference"]
    lines = ["", f"Reference: {what}, {ref['curve']} at NFE {ref['nfe']}, FD {ref['fd']:.2f} ± {ref['fd_std']:.2f}; "
             f"level = FD + 2 std = {ref['level']:.2f}.", "",
             "| curve | NFE to reach the level | ratio to the reference | best FD |", "|---|---|---|---|"]
    for name, v in h["curves"].items():
        nfe = v["nfe"] if v["nfe"] else "not reached"
        ratio = f"{v['ratio']:.2f}" if v["ratio"] else "-"
        lines.append(f"| {name} | {nfe} | {ratio} | {v['best_fd']:.2f} |")
    return lines


def table(state: dict) -> str:
    curves = _by_curve(state)
    nfes = sorted({p["nfe"] for p in state["points"]})
    rr = state["real_vs_real"]["fd"]
    lines = [f"Fréchet distance (± bootstrap std), n = {state['meta']['n']}; real vs real at the same n: "
             f"{rr['mean']:.2f} ± {rr['std']:.2f}", "",
             "| curve | " + " | ".join(f"NFE {k}" for k in nfes) + " |",
             "|---|" + "---|" * len(nfes)]
    for name, pts in curves.items():
        by = {p["nfe"]: p for p in pts}
        lines.append(f"| {name} | " + " | ".join(f"{by[k]['fd']:.1f} ± {by[k]['fd_std']:.1f}" if k in by else ""
                                               for k in nfes) + " |")
    h = headline(state)
    if h:
        lines += _headline_table(h, "plain diffusion")
    for name in sorted(curves):  # the earlier default sampling (flow start, 600 Euler–Maruyama steps), if swept
        if name.startswith("flow") and name.endswith(":em") and any(p["nfe"] == 600 for p in curves[name]):
            lines += _headline_table(headline(state, name, 600), "the earlier default sampling (600 Euler–Maruyama steps)")
    return "\n".join(lines) + "\n"


def plot(state: dict, path: Path) -> None:
    """Two panels on one log-log scale: the classic samplers (Euler–Maruyama, ODE Euler/Heun) and the few-step
    solvers; colour = start, line style = sampler; the real-vs-real level (mean ± std) drawn in both."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {"em": "-", "ode-euler": "--", "ode-heun": ":", "dpmpp2m": "--", "dpmpp2m-sde": "-",
              "edm-heun": ":"}
    names = {"em": "Euler–Maruyama", "ode-euler": "ODE Euler", "ode-heun": "ODE Heun", "dpmpp2m": "DPM-Solver++ 2M",
             "dpmpp2m-sde": "DPM-Solver++ 2M SDE", "edm-heun": "EDM Heun"}
    starts_text = {"flow": "DiNof flow start", "oracle": "oracle start (noised real images)",
                   "gauss": "Gaussian start"}
    panels = [("Classic samplers", ("em", "ode-euler", "ode-heun")),
              ("Few-step solvers", ("dpmpp2m", "dpmpp2m-sde", "edm-heun"))]
    curves = _by_curve(state)
    used = [(t, s) for t, s in panels if any(k.split(":")[1] in s for k in curves)]
    fig, axes = plt.subplots(1, len(used), figsize=(6.8 * len(used), 6.2), dpi=110, sharey=True, squeeze=False)
    starts = sorted({p["curve"].split(":")[0] for p in state["points"]}, key=lambda s: (s != "prior", s))
    colours = dict(zip(starts, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    rr = state["real_vs_real"]["fd"]
    for ax, (title, samplers) in zip(axes[0], used):
        for name, pts in curves.items():
            start, sampler = name.split(":")
            if sampler not in samplers:
                continue
            kind = start.rstrip("0123456789.")
            label = ("plain diffusion" if start == "prior" else f"{starts_text[kind]}, T_m = {start[len(kind):]}") \
                + ", " + names[sampler]
            ax.errorbar([p["nfe"] for p in pts], [p["fd"] for p in pts], yerr=[p["fd_std"] for p in pts],
                        marker="o", ls=styles[sampler], color=colours[start], ms=3, capsize=2, label=label)
        ax.axhspan(rr["mean"] - rr["std"], rr["mean"] + rr["std"], color="grey", alpha=0.3)
        ax.axhline(rr["mean"], color="grey", lw=1, label=f"real vs real (n = {state['meta']['n']})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("score-network evaluations per image (NFE, log scale)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    axes[0][0].set_ylabel("Fréchet distance, digit-classifier features (lower is better)")
    fig.suptitle(f"{Path(state['meta']['bundle']).name}: quality vs NFE, n = {state['meta']['n']} per point, "
                 "same score network and seed for every curve")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)

def main_sweep(a) -> int:
    curves = [Curve.parse(c) for c in a.curves.split(",")]
    nfes = [int(k) for k in a.nfe.split(",")]
    n, bootstrap = a.n, a.bootstrap
    if a.quick:  # smoke test of the whole pipeline: n = 64, three NFE points, two curves
        n, nfes, bootstrap = 64, nfes[:1] + nfes[len(nfes) // 2: len(nfes) // 2 + 1] + nfes[-1:], 5
        curves = [replace(c, nfes=None) for c in curves[:2]]
    import shlex

    state = run_sweep(a.bundle, a.dataset, curves, nfes, n, Path(a.out), seed=a.seed, sampler=a.sampler,
                      dinof_bin=a.dinof_bin, cli_args=shlex.split(a.cli_args or ""), bootstrap=bootstrap)
    md = table(state)
    (Path(a.out) / "table.md").write_text(md)
    plot(state, Path(a.plot) if a.plot else Path(a.out) / "fid_vs_nfe.png")
    print(md, flush=True)
    return 0

