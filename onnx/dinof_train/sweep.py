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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLERS = {  # name -> (method, solver, steps for a target NFE, NFE of those steps); matches score_evals()
    "em": ("sde", None, lambda nfe: nfe, lambda s: s),
    "ode-euler": ("ode", "euler", lambda nfe: nfe - 1, lambda s: s + 1),  # + 1: the Tweedie denoise
    "ode-heun": ("ode", "heun", lambda nfe: (nfe - 1) // 2, lambda s: 2 * s + 1),
}


@dataclass(frozen=True)
class Curve:
    start: str  # "prior" or "flow"
    t_m: float | None
    sampler: str

    @property
    def name(self) -> str:
        s = "prior" if self.start == "prior" else f"flow{self.t_m:g}"
        return f"{s}:{self.sampler}"

    @staticmethod
    def parse(text: str) -> "Curve":
        """'prior:em', 'flow0.6:ode-heun'."""
        start, _, sampler = text.partition(":")
        if sampler not in SAMPLERS:
            raise ValueError(f"curve {text!r}: sampler must be one of {sorted(SAMPLERS)}")
        if start == "prior":
            return Curve("prior", None, sampler)
        if start.startswith("flow"):
            try:
                return Curve("flow", float(start[4:]), sampler)
            except ValueError:
                pass
        raise ValueError(f"curve {text!r}: start must be 'prior' or 'flow<T_m>' (e.g. flow0.6)")


def _sample(bundle, curve: Curve, steps: int, n: int, seed: int, sampler: str, dinof_bin, cli_args, tmp: Path):
    method, solver, _, _ = SAMPLERS[curve.sampler]
    if sampler == "python":
        from .sample import sample_bundle

        pix = sample_bundle(bundle, n=n, batch=min(n, 250), seed=seed, start=curve.start, t_m=curve.t_m,
                            predictor="euler_maruyama", corrector="none", steps=steps, method=method,
                            solver=solver, quiet=True)
        return pix.numpy()
    from .quality import sample_with_cli

    extra = ["--start", curve.start, "--steps", str(steps), "--method", method]
    extra += ["--t-m", f"{curve.t_m:g}"] if curve.start == "flow" else []
    extra += ["--solver", solver] if solver else ["--predictor", "euler_maruyama", "--corrector", "none"]
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
        for nfe in nfes:
            steps = steps_of(nfe)
            if steps >= 1 and (c.name, steps) not in done:
                todo.append((c, steps, nfe_of(steps)))
                done.add((c.name, steps))
    bar = tqdm(todo, disable=quiet, dynamic_ncols=True, desc="sweep")
    with tempfile.TemporaryDirectory() as tmp:
        for c, steps, nfe in bar:
            bar.set_postfix_str(f"{c.name} nfe {nfe}")
            t0 = time.time()
            x = _sample(bundle, c, steps, n, seed, sampler, dinof_bin, cli_args, Path(tmp))
            secs = time.time() - t0
            r = scorer.score(x, bootstrap=bootstrap, seed=seed, real_level=False)
            state["points"].append({"curve": c.name, "start": c.start, "t_m": c.t_m, "sampler": c.sampler,
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


def headline(state: dict) -> dict:
    """Reference = plain diffusion with Euler–Maruyama at its largest NFE. For every curve: the smallest NFE whose
    FD is within the reference's FD + 2 bootstrap std, and its ratio to the reference NFE."""
    curves = _by_curve(state)
    ref = curves.get("prior:em")
    if not ref:
        return {}
    top = ref[-1]
    level = top["fd"] + 2 * top["fd_std"]
    res = {"reference": {"curve": "prior:em", "nfe": top["nfe"], "fd": top["fd"], "fd_std": top["fd_std"],
                         "level": level}, "curves": {}}
    for name, pts in curves.items():
        hit = next((p for p in pts if p["fd"] <= level), None)
        res["curves"][name] = {"nfe": hit["nfe"] if hit else None,
                               "ratio": hit["nfe"] / top["nfe"] if hit else None,
                               "best_fd": min(p["fd"] for p in pts)}
    return res


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
        ref = h["reference"]
        lines += ["", f"Reference: prior:em at NFE {ref['nfe']}, FD {ref['fd']:.2f} ± {ref['fd_std']:.2f}; "
                  f"level = FD + 2 std = {ref['level']:.2f}.", "",
                  "| curve | NFE to reach the level | ratio to the reference | best FD |", "|---|---|---|---|"]
        for name, v in h["curves"].items():
            nfe = v["nfe"] if v["nfe"] else "not reached"
            ratio = f"{v['ratio']:.2f}" if v["ratio"] else "-"
            lines.append(f"| {name} | {nfe} | {ratio} | {v['best_fd']:.2f} |")
    return "\n".join(lines) + "\n"


def plot(state: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    styles = {"em": "-", "ode-euler": "--", "ode-heun": ":"}
    starts = sorted({p["curve"].split(":")[0] for p in state["points"]}, key=lambda s: (s != "prior", s))
    colours = dict(zip(starts, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for name, pts in _by_curve(state).items():
        start, sampler = name.split(":")
        x = [p["nfe"] for p in pts]
        y = [p["fd"] for p in pts]
        e = [p["fd_std"] for p in pts]
        label = ("plain diffusion" if start == "prior" else f"DiNof flow start, T_m = {start[4:]}") + \
            {"em": ", Euler–Maruyama", "ode-euler": ", ODE Euler", "ode-heun": ", ODE Heun"}[sampler]
        ax.errorbar(x, y, yerr=e, fmt="o" + styles[sampler], color=colours[start], ms=3, capsize=2, label=label)
    rr = state["real_vs_real"]["fd"]
    ax.axhspan(rr["mean"] - rr["std"], rr["mean"] + rr["std"], color="grey", alpha=0.3)
    ax.axhline(rr["mean"], color="grey", lw=1, label=f"real vs real (n = {state['meta']['n']})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("score-network evaluations per image (NFE)")
    ax.set_ylabel("Fréchet distance, digit-classifier features (lower is better)")
    ax.set_title(f"{Path(state['meta']['bundle']).name}: quality vs NFE, n = {state['meta']['n']} per point")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main_sweep(a) -> int:
    curves = [Curve.parse(c) for c in a.curves.split(",")]
    nfes = [int(k) for k in a.nfe.split(",")]
    n, bootstrap = a.n, a.bootstrap
    if a.quick:  # smoke test of the whole pipeline: n = 64, three NFE points, two curves
        n, nfes, bootstrap = 64, nfes[:1] + nfes[len(nfes) // 2: len(nfes) // 2 + 1] + nfes[-1:], 5
        curves = curves[:2]
    import shlex

    state = run_sweep(a.bundle, a.dataset, curves, nfes, n, Path(a.out), seed=a.seed, sampler=a.sampler,
                      dinof_bin=a.dinof_bin, cli_args=shlex.split(a.cli_args or ""), bootstrap=bootstrap)
    md = table(state)
    (Path(a.out) / "table.md").write_text(md)
    plot(state, Path(a.plot) if a.plot else Path(a.out) / "fid_vs_nfe.png")
    print(md, flush=True)
    return 0

