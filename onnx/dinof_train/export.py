"""Checkpoint (EMA weights) -> dinof bundle v1 (docs/bundle-format.md).

Every network convention is baked into the graphs: score(x, t[, y]) in SDE space, flow z:[B,D] -> x(T_m) with the
base mean/scale and the precomputed inverse 1x1 weights, flow_density x -> (z, logdet). Each exported graph is
checked with onnx.checker, scanned for ops the pure-Rust backend (tract) handles badly, and compared against
PyTorch with onnxruntime at batch 1 and 3; past 1e-4 absolute error the export fails.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import platform
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .models.common import set_export_mode
from .train import ema_models_from_checkpoint, load_checkpoint, summarize

OPSET = 17
TOLERANCE = 1e-4
# Control flow, data-dependent shapes and ops tract does not implement (or implements poorly).
FORBIDDEN_OPS = {"If", "Loop", "Scan", "NonZero", "Range", "Shape", "ConstantOfShape", "Expand", "Tile",
                 "SequenceConstruct", "SequenceAt", "SplitToSequence", "Resize", "Upsample", "Einsum",
                 "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial"}


class ScoreGraph(nn.Module):
    def __init__(self, score, conditional: bool):
        super().__init__()
        self.score, self.conditional = score, conditional

    def forward(self, x, t, y=None):
        return self.score(x, t, y if self.conditional else None)


class FlowGenerateGraph(nn.Module):
    def __init__(self, flow, conditional: bool):
        super().__init__()
        self.flow, self.conditional = flow, conditional
        self.w_invs = [w.contiguous() for w in flow.inverse_weights()]  # become graph constants

    def forward(self, z, y=None):
        return self.flow.generate(z, y if self.conditional else None, w_invs=self.w_invs)


class FlowDensityGraph(nn.Module):
    def __init__(self, flow, conditional: bool):
        super().__init__()
        self.flow, self.conditional = flow, conditional
        self.ws = [w.contiguous() for w in flow.forward_weights()]

    def forward(self, x, y=None):
        z, logdet = self.flow.density(x, y if self.conditional else None, ws=self.ws)
        return z, logdet


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _share_transposes(model) -> None:
    """A 2-D initializer that is exactly another's transpose (GaussianPrior's U and Uᵀ, which torch's constant
    folding stores twice) becomes a Transpose node of the other: the file holds each matrix once."""
    from onnx import helper, numpy_helper

    arrays = [(i.name, numpy_helper.to_array(i)) for i in model.graph.initializer]
    mats = [(n, a) for n, a in arrays if a.ndim == 2 and a.size >= 2]
    drop, nodes = set(), []
    for name, a in mats:
        src = next((n for n, b in mats if n != name and n not in drop and b.shape == a.shape[::-1]
                    and np.array_equal(b.T, a)), None)
        if src is not None and src not in drop:
            drop.add(name)
            nodes.append(helper.make_node("Transpose", [src], [name], perm=[1, 0], name=f"share_{name}"))
    if not drop:
        return
    keep = [i for i in model.graph.initializer if i.name not in drop]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    for k, n in enumerate(nodes):
        model.graph.node.insert(k, n)


def _export(module, args, names_in, names_out, path: Path, share_transposes: bool = False):
    """Legacy (TorchScript) exporter. keep_initializers_as_inputs=True skips its initializer de-duplication
    pass, which leaves dangling references when two parameters hold equal values (e.g. untrained GroupNorm
    weights, all ones: 'Node input ... is not a graph input, initializer, or output'); the initializers are then
    removed from the graph inputs again so the contract's inputs are the only inputs."""
    import onnx

    dyn = {n: {0: "batch"} for n in names_in + names_out}
    with torch.no_grad():
        torch.onnx.export(module, args, str(path), input_names=names_in, output_names=names_out,
                          dynamic_axes=dyn, opset_version=OPSET, do_constant_folding=True, dynamo=False,
                          keep_initializers_as_inputs=True)
    model = onnx.load(str(path))
    keep = [i for i in model.graph.input if i.name in names_in]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    if [i.name for i in model.graph.input] != names_in:
        raise RuntimeError(f"{path.name}: inputs {[i.name for i in model.graph.input]} != {names_in}")
    if share_transposes:
        _share_transposes(model)
    onnx.save(model, str(path))


def check_graph(path: Path) -> list[str]:
    """onnx.checker (full, with shape inference) + op scan; returns the sorted op types used."""
    import onnx

    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    if model.opset_import[0].version != OPSET:
        raise RuntimeError(f"{path.name}: opset {model.opset_import[0].version} != {OPSET}")
    ops = sorted({n.op_type for n in model.graph.node})
    bad = FORBIDDEN_OPS.intersection(ops)
    if bad:
        raise RuntimeError(f"{path.name}: uses ops the runtime should not need: {sorted(bad)}")
    return ops


def parity(module, path: Path, make_inputs, names_in, names_out, batches=(1, 3), seed=0) -> dict:
    """Max abs / rel error of onnxruntime vs PyTorch over the given batch sizes, per output.

    Tolerance: 1e-4 absolute on every tensor output. `logdet` is a sum of D per-dimension terms, so its
    float32 rounding alone grows with its magnitude (one ulp at |logdet| = 1000 is 6e-5): it gets
    1e-4·max(1, |logdet|)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(seed)
    res = {n: {"max_abs": 0.0, "max_rel": 0.0} for n in names_out}
    for b in batches:
        inputs = make_inputs(b, g)
        with torch.no_grad():
            ref = module(*inputs)
        ref = ref if isinstance(ref, tuple) else (ref,)
        got = sess.run(names_out, {n: v.numpy() for n, v in zip(names_in, inputs)})
        for r, o, name in zip(ref, got, names_out):
            r = r.numpy()
            if o.shape != r.shape:
                raise RuntimeError(f"{path.name}: output {name} shape {o.shape} != torch {r.shape} at batch {b}")
            d = np.abs(o.astype(np.float64) - r.astype(np.float64))
            scale = np.maximum(1.0, np.abs(r)) if name == "logdet" else 1.0
            res[name]["max_abs"] = max(res[name]["max_abs"], float(d.max()))
            res[name]["max_rel"] = max(res[name]["max_rel"], float((d / (np.abs(r) + 1e-6)).max()))
            worst = float((d / scale).max())
            if not worst <= TOLERANCE:
                raise RuntimeError(f"{path.name}: onnxruntime vs torch error on {name!r} at batch {b}: "
                                   f"{worst:.3g} > {TOLERANCE} ({'relative to max(1,|ref|)' if name == 'logdet' else 'abs'})")
    out = {"max_abs": max(v["max_abs"] for v in res.values()), "max_rel": max(v["max_rel"] for v in res.values()),
           "batches": list(batches)}
    if len(names_out) > 1:
        out["outputs"] = res
    return out


def _fmt_t(t: float) -> str:
    return f"{t:g}"


def export_models(cfg, sde, score, flows, out: str | Path, density: bool = True, seed: int = 0) -> dict:
    """Export live models (already in eval mode with the weights to ship). Returns the manifest parts."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    nets = ([score] if score is not None else []) + list(flows)  # score None: copied from a bundle instead
    for m in nets:
        m.eval()
        set_export_mode(m, True)
    report, ops_used, files = {}, {}, []
    flow_entries = export_flows(cfg, flows, cfg.t_ms, out, density, report, ops_used, files, seed)
    if score is not None:
        export_score(cfg, sde, score, out, report, ops_used, files, seed)
    for m in nets:
        set_export_mode(m, False)
    return {"flows": flow_entries, "parity": report, "ops": ops_used, "files": files}


def has_null_label(cfg) -> bool:
    """Whether the score was trained with label dropout, so label `classes` gives the unconditional score."""
    return cfg.classes > 0 and getattr(cfg, "label_dropout", 0.0) > 0


def export_score(cfg, sde, score, out: Path, report, ops_used, files, seed: int = 0) -> None:
    C, H, W = cfg.channels, cfg.resolution, cfg.resolution
    cond = cfg.classes > 0

    def y_of(b, g):  # the null label too, when the score takes it: parity covers the guidance path
        return torch.randint(0, cfg.classes + int(has_null_label(cfg)), (b,), generator=g)

    sg = ScoreGraph(score, cond).eval()
    names_in = ["x", "t"] + (["y"] if cond else [])

    def score_inputs(b, g):
        x = torch.randn(b, C, H, W, generator=g)
        t = sde.eps + torch.rand(b, generator=g) * (cfg.t_max - sde.eps)
        return (x, t) + ((y_of(b, g),) if cond else ())

    path = out / "score.onnx"
    _export(sg, score_inputs(2, torch.Generator().manual_seed(123)), names_in, ["score"], path)
    ops_used[path.name] = check_graph(path)
    report[path.name] = parity(sg, path, score_inputs, names_in, ["score"], seed=seed)
    files.insert(0, path.name)


def export_flows(cfg, flows, t_ms, out: Path, density: bool, report, ops_used, files, seed: int = 0,
                 prefix: str = "flow") -> list:
    """Generative (+ density) graphs of flows, or of anything with the flows' interface (GaussianPrior: prefix
    "gaussian", the Gaussian starts): {prefix}_t{T_m}.onnx and {prefix}_density_t{T_m}.onnx."""
    C, H, W = cfg.channels, cfg.resolution, cfg.resolution
    D = C * H * W
    cond = cfg.classes > 0

    def y_of(b, g):
        return torch.randint(0, cfg.classes, (b,), generator=g)

    flow_entries = []
    for flow, t_m in zip(flows, t_ms):
        fg = FlowGenerateGraph(flow, cond).eval()
        names_in = ["z"] + (["y"] if cond else [])

        def z_inputs(b, g):
            return (torch.randn(b, D, generator=g),) + ((y_of(b, g),) if cond else ())

        path = out / f"{prefix}_t{_fmt_t(t_m)}.onnx"
        _export(fg, z_inputs(2, torch.Generator().manual_seed(123)), names_in, ["x"], path, share_transposes=True)
        ops_used[path.name] = check_graph(path)
        report[path.name] = parity(fg, path, z_inputs, names_in, ["x"], seed=seed)
        files.append(path.name)
        entry = {"file": path.name, "t_m": float(t_m), "conditional": cond}
        if density:
            dg = FlowDensityGraph(flow, cond).eval()
            names_in_d = ["x"] + (["y"] if cond else [])

            def x_inputs(b, g, flow=flow):
                # realistic inputs: generated x(T_m), so the log-det is evaluated where the model lives
                z = torch.randn(b, D, generator=g)
                y = y_of(b, g) if cond else None
                with torch.no_grad():
                    x = flow.generate(z, y)
                return (x,) + ((y,) if cond else ())

            dpath = out / f"{prefix}_density_t{_fmt_t(t_m)}.onnx"
            _export(dg, x_inputs(2, torch.Generator().manual_seed(123)), names_in_d, ["z", "logdet"], dpath,
                    share_transposes=True)
            ops_used[dpath.name] = check_graph(dpath)
            report[dpath.name] = parity(dg, dpath, x_inputs, names_in_d, ["z", "logdet"], seed=seed)
            files.append(dpath.name)
            entry["density_file"] = dpath.name
        flow_entries.append(entry)
    return flow_entries


def copy_score(src_bundle: Path, cfg, sde, out: Path) -> dict:
    """score.onnx of an existing bundle, byte for byte, for a flows-only run; the SDE and image must agree."""
    import shutil

    src = json.loads((Path(src_bundle) / "dinof.json").read_text())
    if src["sde"] != sde.manifest():
        raise ValueError(f"--score-from {src_bundle}: SDE {src['sde']} != this run's {sde.manifest()}")
    img = src["image"]
    if (img["channels"], img["height"], img["width"]) != (cfg.channels, cfg.resolution, cfg.resolution):
        raise ValueError(f"--score-from {src_bundle}: image {img} != this run's "
                         f"{(cfg.channels, cfg.resolution, cfg.resolution)}")
    if int(src.get("classes", 0)) != cfg.classes:
        raise ValueError(f"--score-from {src_bundle}: classes {src.get('classes', 0)} != {cfg.classes}")
    f = Path(src_bundle) / src["score"]["file"]
    digest = sha256(f)
    if src.get("checksums", {}).get(src["score"]["file"], digest) != digest:
        raise ValueError(f"{f}: checksum does not match its manifest")
    shutil.copyfile(f, out / "score.onnx")
    p = src.get("provenance", {})
    return {"bundle": str(src_bundle), "name": src.get("name"), "sha256": digest, "t_max": src["score"]["t_max"],
            "params": p.get("params", {}).get("score"),
            **{k: p[k] for k in ("train_steps", "train_seconds", "score_loss_final", "config", "versions")
               if k in p},
            "export_parity": p.get("export_parity", {}).get("score.onnx"),
            "onnx_ops": p.get("onnx_ops", {}).get("score.onnx")}


# A new bundle's default sampler (issue 24): DPM-Solver++(2M) SDE on the log-SNR grid, with the fewest steps of 10 /
# 20 / 50 at which it is within 3 % of the exact sd on the exact-score Gaussian bundles from both starts
# (docs/solver-convergence.md, worst of flow and prior start: VE 1.21 % and VP 2.47 % at 20 steps; sub-VP 5.11 % at
# 20, 1.03 % at 50). A trained model's best step count is measured with the sweep (`sweep_command`).
EXPORT_SOLVER, EXPORT_SCHEDULE = "dpmpp_2m_sde", "logsnr"
EXPORT_STEPS = {"ve": 20, "vp": 20, "subvp": 50}


def sweep_command(out, dataset: str, t_m: float | None, prior: bool) -> str:
    """How to choose this bundle's step count from its own quality curve (docs/evaluation.md)."""
    curves = ([f"flow{t_m:g}:dpmpp2m-sde"] if t_m is not None else []) + (["prior:dpmpp2m-sde"] if prior else [])
    return (f"python -m dinof_train sweep --bundle {out} --dataset {dataset} --n 500 --out SWEEP "
            f"--curves {','.join(curves)} --nfe 6,10,20,50")


def dataset_notice(dataset: str):
    """(manifest provenance, NOTICE text) for a dataset whose licence asks for attribution, else None."""
    if dataset.split(":")[0] == "sprites":
        from . import sprites

        return sprites.PROVENANCE, sprites.notice()
    return None


def build_manifest(cfg, sde, parts: dict, out: Path, name: str, description: str, provenance: dict,
                   sampler_t_m: float | None = None, guidance: float | None = None,
                   sampler_steps: int | None = None) -> dict:
    from .data import class_names

    image = {"channels": cfg.channels, "height": cfg.resolution, "width": cfg.resolution,
             "pixel_scale": 0.5 if sde.centered else 1.0, "pixel_offset": 0.5 if sde.centered else 0.0,
             # the runtime turns a premultiplied model's output into straight alpha (src/model/run.rs)
             **({"alpha": "premultiplied"} if cfg.alpha == "premultiplied" else {})}
    flows = parts["flows"]
    t_m = sampler_t_m if sampler_t_m is not None else (max(f["t_m"] for f in flows) if flows else None)
    sampler = {"start": "flow" if flows else "prior", "t_m": t_m, "method": "sde",
               "predictor": "reverse_diffusion" if sde.kind == "ve" else "euler_maruyama",
               "corrector": "langevin" if sde.kind == "ve" else "none", "snr": 0.16, "corrector_steps": 1,
               "solver": EXPORT_SOLVER, "schedule": EXPORT_SCHEDULE,
               "steps": sampler_steps if sampler_steps is not None else EXPORT_STEPS[sde.kind],
               "denoise": True, "temperature": 1.0}
    provenance = {**provenance, "sampler_defaults": {
        "chosen": f"{EXPORT_SOLVER} on the {EXPORT_SCHEDULE} grid, {sampler['steps']} steps"
                  + (" (--sampler-steps)" if sampler_steps is not None else ""),
        "evidence": "docs/solver-convergence.md: within 3 % of the exact sd on exact-score Gaussian bundles of this "
                    "SDE from both starts at this step count (export.py EXPORT_STEPS)",
        "measure": sweep_command(out, cfg.dataset, t_m, float(cfg.t_max) >= 1.0)}}
    if sampler_steps is not None and sampler_steps < 1:
        raise ValueError(f"sampler steps must be >= 1, got {sampler_steps}")
    if not flows:
        del sampler["t_m"]
    score = {"file": "score.onnx", "t_max": float(cfg.t_max)}
    if has_null_label(cfg):
        score["null_label"] = cfg.classes
    if guidance is not None:
        if not has_null_label(cfg):
            raise ValueError("--guidance needs a score trained with label dropout (label_dropout > 0)")
        sampler["guidance"] = float(guidance)
    names = class_names(cfg.dataset) if cfg.classes > 0 else None
    manifest = {
        "format": "dinof-bundle", "format_version": 1, "name": name, "description": description,
        "image": image, "sde": sde.manifest(), "classes": cfg.classes,
        **({"labels": names} if names is not None and len(names) == cfg.classes else {}),
        "score": score,
        "flows": flows, "sampler": sampler, "provenance": provenance,
        "checksums": {f: sha256(out / f) for f in parts["files"]},
    }
    return manifest


def write_manifest(manifest: dict, out: Path) -> None:
    tmp = out / ".dinof.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, out / "dinof.json")


def export_bundle(ckpt_path, out, name=None, description=None, density=True, sampler_t_m=None,
                  eval_n: int = 0, score_from=None, guidance: float | None = None,
                  sampler_steps: int | None = None) -> dict:
    import onnx
    import onnxruntime

    ckpt = load_checkpoint(Path(ckpt_path))
    cfg, sde, score, flows = ema_models_from_checkpoint(ckpt)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if score is None and score_from is None:
        raise ValueError(f"{ckpt_path} is a flows-only run: give --score-from BUNDLE for its score network")
    if score_from is not None and Path(score_from).resolve() == out.resolve():
        raise ValueError("--score-from must be another directory than --out")
    for p in out.glob("*.onnx"):  # a bundle directory holds one export only
        p.unlink()
    score_prov = None
    if score_from is not None:
        score_prov = copy_score(Path(score_from), cfg, sde, out)
        score = None  # the copied graph is the one shipped
    parts = export_models(cfg, sde, score, flows, out, density=density)
    if score_prov is not None:
        parts["files"].insert(0, "score.onnx")
        cfg = dataclasses.replace(cfg, t_max=float(score_prov["t_max"]))
    tag = Path(str(ckpt.get("dataset", cfg.dataset))).name
    name = name or f"{tag}-{sde.kind}"
    score_desc = (f"score network of bundle {score_prov['name']!r} (unchanged)" if score_prov is not None else
                  f"DDPM++-style score U-Net (nf {cfg.nf}, mult {cfg.ch_mult}) trained on (0, {cfg.t_max}]")
    description = description or (
        f"DiNof {sde.kind.upper()} model on {tag} ({cfg.channels}x{cfg.resolution}x{cfg.resolution}): "
        f"{score_desc}"
        + (f", Glow priors ({cfg.flow_levels} levels x {cfg.flow_steps} steps, hidden {cfg.flow_hidden}) at T_m = "
           f"{', '.join(_fmt_t(t) for t in cfg.t_ms)}" if flows else "")
        + "; EMA weights.")
    prov = {"dataset": tag, "dataset_source": cfg.dataset, **summarize(ckpt),
            "params": {"score": sum(p.numel() for p in score.parameters()) if score is not None
                       else score_prov.get("params"),
                       "flows": [sum(p.numel() for p in f.parameters()) for f in flows]},
            "config": ckpt["config"], "world_size": ckpt.get("world_size", 1),
            "ema_decay": cfg.ema,
            "export_parity": parts["parity"],
            "export_tolerance_abs": TOLERANCE, "onnx_ops": parts["ops"], "opset": OPSET,
            "exporter": "torch.onnx legacy (dynamo=False)",
            "versions": {"torch": torch.__version__, "onnx": onnx.__version__,
                         "onnxruntime": onnxruntime.__version__, "python": platform.python_version()},
            "exported_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if score_prov is not None:
        prov["score_from"] = score_prov
    data_notice = dataset_notice(cfg.dataset)
    if data_notice is not None:  # the training data's licence travels with the weights derived from it
        prov["data"], text = data_notice
        (out / "NOTICE").write_text(text)
    manifest = build_manifest(cfg, sde, parts, out, name, description, prov, sampler_t_m, guidance, sampler_steps)
    write_manifest(manifest, out)
    if eval_n > 0 and density:
        # Flow bits/dim of the exported density graphs on fresh x(T_m) of eval_n dataset images.
        from .sample import evaluate_bundle

        ev = evaluate_bundle(out, n=eval_n, samples=0)
        manifest["provenance"]["eval_flow_bits_per_dim"] = {k: v["bits_per_dim"] for k, v in ev["flows"].items()}
        manifest["provenance"]["eval_n"] = ev["n"]
        write_manifest(manifest, out)
    return manifest
