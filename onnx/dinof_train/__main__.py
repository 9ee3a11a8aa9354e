"""python -m dinof_train train|compact-checkpoint|export|sample|eval|fid|sweep|sigma-max|class-accuracy|flow-prior|judge|roofline|sprites"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from .config import Config, make_config


def _bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes"):
        return True
    if s.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected 0/1/true/false, got {s!r}")


def _add_config_args(p: argparse.ArgumentParser) -> None:
    for f in dataclasses.fields(Config):
        flag = "--" + f.name.replace("_", "-")
        if f.name in ("t_ms", "ch_mult", "attn_resolutions"):
            typ = float if f.name == "t_ms" else int
            p.add_argument(flag, type=typ, nargs="*", default=None)
        elif f.name == "eps":
            p.add_argument(flag, type=float, default=None)
        elif isinstance(f.default, bool):
            p.add_argument(flag, type=_bool, default=None, metavar="{0,1}")
        else:
            p.add_argument(flag, type=type(f.default), default=None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="dinof_train", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train", help="train score + flows (torchrun-compatible)")
    t.add_argument("--preset", default="mnist")
    t.add_argument("--out", required=True, help="run directory (checkpoint.pt, train_log.jsonl)")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--quiet", action="store_true")
    _add_config_args(t)

    k = sub.add_parser("compact-checkpoint", help="float16 EMA weights + step/config of a checkpoint, no optimiser "
                       "state: what a training keeps when its machine is not kept (train --resume accepts it)")
    k.add_argument("--ckpt", required=True)
    k.add_argument("--out", required=True)

    e = sub.add_parser("export", help="EMA weights of a checkpoint -> ONNX bundle")
    e.add_argument("--ckpt", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--name", default=None)
    e.add_argument("--description", default=None)
    e.add_argument("--no-density", action="store_true", help="skip flow_density_*.onnx")
    e.add_argument("--sampler-t-m", type=float, default=None, help="default T_m of the sampler (max T_m)")
    e.add_argument("--score-from", default=None,
                   help="bundle whose score.onnx is copied unchanged (required for a --flows-only run)")
    e.add_argument("--eval-n", type=int, default=0, help="also record flow bits/dim on this many dataset images")
    e.add_argument("--guidance", type=float, default=None,
                   help="sampler default guidance scale (needs a run trained with --label-dropout > 0)")
    e.add_argument("--sampler-steps", type=int, default=None,
                   help="sampler default reverse steps from the start time (default: int(N * t_start))")

    s = sub.add_parser("sample", help="reference PC sampler over a bundle's ONNX files (onnxruntime)")
    s.add_argument("--bundle", required=True)
    s.add_argument("--n", type=int, default=64)
    s.add_argument("--batch", type=int, default=64)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--png", default=None)
    s.add_argument("--npy", default=None)
    s.add_argument("--start", choices=["flow", "prior"], default=None)
    s.add_argument("--t-m", type=float, default=None)
    s.add_argument("--predictor", default=None)
    s.add_argument("--corrector", default=None)
    s.add_argument("--snr", type=float, default=None)
    s.add_argument("--steps", type=int, default=None)
    s.add_argument("--temperature", type=float, default=None)
    s.add_argument("--label", type=int, default=None, help="class label for conditional bundles")
    s.add_argument("--method", choices=["sde", "ode"], default=None)
    s.add_argument("--solver", choices=["euler", "heun", "dpmpp_2m", "dpmpp_2m_sde"], default=None,
                   help="solver (dpmpp_2m_sde samples the reverse SDE, the others the ODE)")
    s.add_argument("--schedule", choices=["time", "logsnr", "edm", "cosine"], default=None,
                   help="ODE grid (default: the bundle's for its own solver, else the solver's own, as the runtime)")

    v = sub.add_parser("eval", help="flow bits/dim on held-out data and sample statistics of a bundle")
    v.add_argument("--bundle", required=True)
    v.add_argument("--dataset", default=None)
    v.add_argument("--n", type=int, default=1000)
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--samples", type=int, default=16, help="flow-started samples for the moment check (0: skip)")

    q = sub.add_parser("fid", help="sample quality: Fréchet distance on a digit classifier's features, "
                       "precision/recall, class histogram, real-vs-real level (docs/evaluation.md)")
    q.add_argument("samples", nargs="?", help="float32 [N,C,H,W] (or [N,H,W]) .npy of pixels in [0,1]; with "
                   "--bundle: where to keep the sampled images")
    q.add_argument("--dataset", default="mnist")
    q.add_argument("--bundle", default=None, help="sample N images from this bundle through the Rust CLI first")
    q.add_argument("--n", type=int, default=None)
    q.add_argument("--dinof-bin", default=None, help="dinof binary (default: cargo run --release)")
    q.add_argument("--cli-args", default=None, help="extra `dinof sample` options, e.g. '--steps 200 --start prior'")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--bootstrap", type=int, default=50, help="bootstrap resamples of the samples (0: none)")
    q.add_argument("--k", type=int, default=3, help="k of the k-NN precision/recall")
    q.add_argument("--json", default=None, help="also write the figures as JSON")
    q.add_argument("--calibrate", action="store_true",
                   help="score known sets (real, blurred, shifted, one class, noise) at --n (default 500)")

    w = sub.add_parser("sweep", help="quality vs score evaluations: starts x samplers x NFE (issue 13)")
    w.add_argument("--bundle", required=True)
    w.add_argument("--dataset", default="mnist")
    w.add_argument("--curves", default="prior:em,flow0.6:em,prior:ode-euler,prior:ode-heun,flow0.6:ode-euler,"
                   "flow0.6:ode-heun", help="comma-separated start:sampler (start prior or flow<T_m>; sampler em, "
                   "ode-euler, ode-heun)")
    w.add_argument("--nfe", default="10,20,50,100,200,500,1000")
    w.add_argument("--n", type=int, default=500)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--out", required=True, help="directory: sweep.json (resumable), table.md")
    w.add_argument("--plot", default=None, help="PNG path (default OUT/fid_vs_nfe.png)")
    w.add_argument("--sampler", choices=["rust", "python"], default="rust",
                   help="rust: dinof sample (the runtime); python: the reference sampler")
    w.add_argument("--dinof-bin", default=None)
    w.add_argument("--cli-args", default=None, help="extra `dinof sample` options, e.g. '--backend ort'")
    w.add_argument("--bootstrap", type=int, default=30)
    w.add_argument("--quick", action="store_true", help="n = 64, first/middle/last NFE, first two curves")

    m = sub.add_parser("sigma-max", help="VE sigma_max by Song & Ermon's technique 1 (max pairwise distance of "
                       "the training images) and the flows' room at candidate T_m")
    m.add_argument("--dataset", default="fashion-mnist:train")
    m.add_argument("--sigma-min", type=float, default=0.01)
    m.add_argument("--sigma-max", type=float, default=None, help="for the room table (default: the distance)")

    c = sub.add_parser("class-accuracy", help="share of a conditional bundle's samples that a classifier trained "
                       "on the training split assigns to the requested class (issue 11)")
    c.add_argument("--bundle", required=True)
    c.add_argument("--dataset", default=None, help="default: the bundle's provenance (dataset_source)")
    c.add_argument("--per-class", type=int, default=100)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--dinof-bin", default=None)
    c.add_argument("--cli-args", default=None, help="extra `dinof sample` options, e.g. '--guidance 1'")
    c.add_argument("--json", default=None)

    j = sub.add_parser("judge", help="issue 19: FD and KID on three independent feature extractors, several seeds, "
                       "bootstrap intervals, and the verdict of every pair (a claim must hold everywhere)")
    j.add_argument("--dataset", default="mnist")
    j.add_argument("--heldout", action="store_true", help="reference set = the dataset's held-out split "
                   "(DATASET:test, never trained on); extractors and the real-vs-real pool from DATASET:train")
    j.add_argument("--bundle", default=None, help="bundle sampled by the Rust CLI for --runs")
    j.add_argument("--runs", nargs="*", default=[], help="NAME[@BUNDLE]='extra dinof sample args' ... (samples "
                   "cached in --out; an existing file is reused)")
    j.add_argument("--reference-runs", nargs="*", default=[], help="NAME[@BUNDLE]=k=v,... sampled by the Python "
                   "reference sampler (onnxruntime) with sample_bundle's settings (start, t_m, method, solver, steps, "
                   "schedule, ...); start=oracle starts at t_m from pool images noised to x(T_m): a perfect prior")
    j.add_argument("--samples", nargs="*", default=[], help="NAME:SEED=FILE.npy ... (pixels in [0,1])")
    j.add_argument("--seeds", default="0,1,2")
    j.add_argument("--n", type=int, default=1000)
    j.add_argument("--bootstrap", type=int, default=50)
    j.add_argument("--dinof-bin", default=None)
    j.add_argument("--out", required=True)

    rl = sub.add_parser("roofline", help="issue 22: a score network's FLOPs per image, its ONNX Runtime time and "
                        "GFLOP/s against a matmul peak, and a per-operator profile")
    rl.add_argument("--bundle", required=True)
    rl.add_argument("--batch", type=int, nargs="+", default=[1, 16])
    rl.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    rl.add_argument("--reps", type=int, default=20)
    rl.add_argument("--out", default=None, help="JSON of every figure")

    fp = sub.add_parser("flow-prior", help="issue 19: whitened, identity-initialised flows that start at the "
                        "Gaussian level (train / export / held-out bits/dim table)")
    fp.add_argument("action", choices=["train", "export", "table", "gaussians-as-flows", "add-gaussians"])
    fp.add_argument("--bundle", help="add-gaussians: bundle to add a Gaussian start per flow T_m to (in place; "
                    "--fp-dataset names its training data)")
    fp.add_argument("--run", help="run directory (train: written; export: read)")
    fp.add_argument("--score-from", help="bundle whose score (and SDE, sampler defaults) is used unchanged")
    fp.add_argument("--out", help="export: bundle directory; table: JSON path")
    fp.add_argument("--bundles", nargs="*", default=[], help="table: NAME=DIR ...")
    fp.add_argument("--gaussians-only", action="store_true", help="export: Gaussian starts only, no flows")
    fp.add_argument("--draws", type=int, default=5, help="table: noise draws per test image")
    fp.add_argument("--quiet", action="store_true")
    from .flowprior import FlowPriorConfig

    for f in dataclasses.fields(FlowPriorConfig):
        flag = "--fp-" + f.name.replace("_", "-")
        if f.name == "t_ms":
            fp.add_argument(flag, type=float, nargs="*", default=None)
        else:
            fp.add_argument(flag, type=type(f.default), default=None)

    r = sub.add_parser("sprites", help="extract the 32×32 RGBA sprite data set (issue 21) and print its counts")
    r.add_argument("--pkg", default=None, help="unpacked cataclysm-dda-data (default: the cache's)")
    r.add_argument("--force", action="store_true", help="re-extract even if the arrays exist")
    r.add_argument("--alpha-study", action="store_true", help="measure straight vs premultiplied alpha edges")

    a = ap.parse_args(argv)
    if a.cmd == "sprites":
        from . import sprites
        return sprites.main((["--pkg", a.pkg] if a.pkg else []) + (["--force"] if a.force else []) +
                            (["--alpha-study"] if a.alpha_study else []))
    if a.cmd == "train":
        from .train import train
        names = {f.name for f in dataclasses.fields(Config)}
        cfg = make_config(a.preset, **{k: v for k, v in vars(a).items() if k in names})
        res = train(cfg, a.out, resume=a.resume, quiet=a.quiet)
        print(json.dumps(res), flush=True)  # one line per rank (params_sha256 shows the ranks agree)
    elif a.cmd == "compact-checkpoint":
        from .train import compact_checkpoint
        ck = compact_checkpoint(a.ckpt, a.out)
        print(json.dumps({"out": a.out, "step": ck["step"], "bytes": os.path.getsize(a.out)}))
    elif a.cmd == "export":
        from .export import export_bundle
        man = export_bundle(a.ckpt, a.out, name=a.name, description=a.description,
                            density=not a.no_density, sampler_t_m=a.sampler_t_m, eval_n=a.eval_n,
                            score_from=a.score_from, guidance=a.guidance, sampler_steps=a.sampler_steps)
        print(json.dumps(man["provenance"].get("export_parity", {}), indent=1))
        print(f"default sampler: {man['provenance']['sampler_defaults']['chosen']} (exact-score bundles, "
              f"docs/solver-convergence.md); to measure this model's own: {man['provenance']['sampler_defaults']['measure']}")
    elif a.cmd == "sample":
        from .sample import sample_bundle
        sample_bundle(a.bundle, n=a.n, batch=a.batch, seed=a.seed, png=a.png, npy=a.npy, start=a.start,
                      t_m=a.t_m, predictor=a.predictor, corrector=a.corrector, snr=a.snr, steps=a.steps,
                      temperature=a.temperature, label=a.label, method=a.method, solver=a.solver,
                      schedule=a.schedule)
    elif a.cmd == "fid":
        from .quality import main_fid
        return main_fid(a)
    elif a.cmd == "class-accuracy":
        from .classacc import main_class_accuracy
        return main_class_accuracy(a)
    elif a.cmd == "sigma-max":
        from .sigma import main_sigma
        return main_sigma(a)
    elif a.cmd == "sweep":
        from .sweep import main_sweep
        return main_sweep(a)
    elif a.cmd == "roofline":
        from .roofline import main_roofline
        return main_roofline(a)
    elif a.cmd == "judge":
        from .judge import main_judge
        return main_judge(a)
    elif a.cmd == "flow-prior":
        return _flow_prior(a)
    elif a.cmd == "eval":
        from .sample import evaluate_bundle
        print(json.dumps(evaluate_bundle(a.bundle, dataset=a.dataset, n=a.n, seed=a.seed,
                                         samples=a.samples), indent=1))
    return 0


def _flow_prior(a) -> int:
    from . import flowprior as fpm
    from .sde import sde_from_manifest

    if a.action == "train":
        if not (a.run and a.score_from):
            raise SystemExit("flow-prior train needs --run and --score-from (the SDE comes from that bundle)")
        man = json.loads((Path(a.score_from) / "dinof.json").read_text())
        over = {f.name: getattr(a, "fp_" + f.name) for f in dataclasses.fields(fpm.FlowPriorConfig)
                if getattr(a, "fp_" + f.name) is not None}
        over.setdefault("classes", int(man.get("classes", 0)))
        cfg = fpm.FlowPriorConfig(**over)
        print(json.dumps(fpm.train_flows(cfg, sde_from_manifest(man["sde"]), a.run, quiet=a.quiet), indent=1))
    elif a.action == "export":
        if not (a.run and a.score_from and a.out):
            raise SystemExit("flow-prior export needs --run, --score-from and --out")
        man = fpm.export_flow_prior(a.run, a.score_from, a.out, gaussians_only=a.gaussians_only)
        print(json.dumps(man["provenance"]["flow_prior"], indent=1))
    elif a.action == "add-gaussians":
        if not (a.bundle and a.fp_dataset):
            raise SystemExit("flow-prior add-gaussians needs --bundle and --fp-dataset")
        man = fpm.add_gaussians(a.bundle, a.fp_dataset)
        print(json.dumps({k: v for k, v in man["provenance"]["gaussians"].items() if k != "export_parity"}, indent=1))
    elif a.action == "gaussians-as-flows":
        if not (a.score_from and a.out):
            raise SystemExit("flow-prior gaussians-as-flows needs --score-from BUNDLE_WITH_GAUSSIANS and --out")
        man = fpm.gaussians_as_flows(a.score_from, a.out)
        print(json.dumps(man["flows"], indent=1))
    else:
        bundles = dict(b.split("=", 1) for b in a.bundles)
        if not bundles:
            raise SystemExit("flow-prior table needs --bundles NAME=DIR ...")
        t = fpm.heldout_table(bundles, dataset=a.fp_dataset or "mnist", draws=a.draws, t_ms=a.fp_t_ms)
        print(fpm.format_table(t))
        if a.out:
            Path(a.out).write_text(json.dumps(t, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
