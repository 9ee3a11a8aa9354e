"""Export: bundle layout and manifest, onnx.checker, op scan, torch-vs-onnxruntime parity, reference sampler."""
import dataclasses
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from dinof_train.export import FORBIDDEN_OPS, export_bundle, sha256
from dinof_train.models.common import set_export_mode
from dinof_train.sample import Bundle, sample_bundle
from dinof_train.train import ema_models_from_checkpoint, load_checkpoint, train

CONTRACT_KEYS = {"format", "format_version", "name", "description", "image", "sde", "classes", "score", "flows",
                 "sampler", "provenance", "checksums"}


@pytest.fixture(scope="module", params=[0, 4], ids=["uncond", "cond"])
def bundle(request, toy_npz, tmp_path_factory):
    from dinof_train.config import make_config

    cfg = make_config("tiny", dataset=str(toy_npz), threads=1, iterations=3, ckpt_every=-1.0,
                      classes=request.param)
    run = tmp_path_factory.mktemp("run")
    train(cfg, run, quiet=True)
    out = tmp_path_factory.mktemp("bundle")
    export_bundle(run / "checkpoint.pt", out, eval_n=16)
    return run / "checkpoint.pt", out


def test_manifest_follows_contract(bundle):
    _, out = bundle
    m = json.loads((out / "dinof.json").read_text())
    assert set(m) == CONTRACT_KEYS
    assert m["format"] == "dinof-bundle" and m["format_version"] == 1
    assert m["image"] == {"channels": 1, "height": 8, "width": 8, "pixel_scale": 0.5, "pixel_offset": 0.5}
    assert m["sde"] == {"kind": "vp", "beta_min": 0.1, "beta_max": 20.0, "n": 1000, "eps": 0.001}
    assert m["score"] == {"file": "score.onnx", "t_max": 1.0}
    assert [f["t_m"] for f in m["flows"]] == [0.4, 0.6]
    assert m["flows"][1] == {"file": "flow_t0.6.onnx", "t_m": 0.6, "conditional": m["classes"] > 0,
                             "density_file": "flow_density_t0.6.onnx"}
    s = m["sampler"]
    assert (s["start"], s["t_m"], s["predictor"], s["corrector"]) == ("flow", 0.6, "euler_maruyama", "none")
    # Few-step default (issue 24): DPM-Solver++(2M) SDE, log-SNR, the step count of EXPORT_STEPS for this SDE
    assert (s["solver"], s["schedule"], s["steps"]) == ("dpmpp_2m_sde", "logsnr", 20)
    assert "dinof_train sweep" in m["provenance"]["sampler_defaults"]["measure"]
    files = sorted(p.name for p in out.glob("*.onnx"))
    assert sorted(m["checksums"]) == files
    for f in files:
        assert m["checksums"][f] == sha256(out / f)
    p = m["provenance"]
    assert p["train_steps"] == 3 and "export_parity" in p
    assert set(p["eval_flow_bits_per_dim"]) == {"0.4", "0.6"} and p["eval_n"] == 16
    # 1e-4: the per-call bound for one float32 graph on two kernel libraries (tests/test_eager.py, docs/testing.md)
    assert all(v["max_abs"] <= 1e-4 or "outputs" in v for v in p["export_parity"].values())


def test_graphs_pass_checker_and_use_simple_ops(bundle):
    _, out = bundle
    m = json.loads((out / "dinof.json").read_text())
    cond = m["classes"] > 0
    for path in out.glob("*.onnx"):
        model = onnx.load(str(path))
        onnx.checker.check_model(model, full_check=True)
        assert model.opset_import[0].version == 17
        ops = {n.op_type for n in model.graph.node}
        assert not ops & FORBIDDEN_OPS, (path.name, ops & FORBIDDEN_OPS)
        names = [i.name for i in model.graph.input]
        if path.name == "score.onnx":
            assert names == (["x", "t", "y"] if cond else ["x", "t"])
            assert [o.name for o in model.graph.output] == ["score"]
        elif path.name.startswith("flow_density"):
            assert names == (["x", "y"] if cond else ["x"])
            assert [o.name for o in model.graph.output] == ["z", "logdet"]
        else:
            assert names == (["z", "y"] if cond else ["z"])
            assert [o.name for o in model.graph.output] == ["x"]
        dim0 = model.graph.input[0].type.tensor_type.shape.dim[0]
        assert dim0.dim_param == "batch"


def test_parity_torch_vs_onnxruntime(bundle):
    ckpt, out = bundle
    cfg, sde, score, flows = ema_models_from_checkpoint(load_checkpoint(ckpt))
    cond = cfg.classes > 0
    g = torch.Generator().manual_seed(7)
    s_sess = ort.InferenceSession(str(out / "score.onnx"), providers=["CPUExecutionProvider"])
    for b in (1, 3):
        x = torch.randn(b, 1, 8, 8, generator=g)
        t = 1e-3 + torch.rand(b, generator=g) * (1 - 1e-3)
        y = torch.randint(0, max(cfg.classes, 1), (b,), generator=g)
        with torch.no_grad():
            ref = score(x, t, y if cond else None).numpy()
        feed = {"x": x.numpy(), "t": t.numpy(), **({"y": y.numpy()} if cond else {})}
        # torch vs ONNX Runtime on one float32 graph: other summation orders, ≤ ~2·K·u per layer (K ≤ 9·16 here);
        # 1e-4 is the project's per-call bound (test_eager.py) and ≫ that for this tiny net; a wrong op is O(1)
        assert np.abs(s_sess.run(None, feed)[0] - ref).max() <= 1e-4
        for flow, t_m in zip(flows, cfg.t_ms):
            f_sess = ort.InferenceSession(str(out / f"flow_t{t_m:g}.onnx"), providers=["CPUExecutionProvider"])
            z = torch.randn(b, 64, generator=g)
            with torch.no_grad():
                xr = flow.generate(z, y if cond else None)
            feed = {"z": z.numpy(), **({"y": y.numpy()} if cond else {})}
            xo = f_sess.run(None, feed)[0]
            assert xo.shape == (b, 1, 8, 8) and np.abs(xo - xr.numpy()).max() <= 1e-4
            d_sess = ort.InferenceSession(str(out / f"flow_density_t{t_m:g}.onnx"),
                                          providers=["CPUExecutionProvider"])
            feed = {"x": xo, **({"y": y.numpy()} if cond else {})}
            z2, logdet = d_sess.run(None, feed)
            assert np.abs(z2 - z.numpy()).max() <= 1e-4  # density graph inverts the generative graph
            with torch.no_grad():
                _, ld_ref = flow.density(torch.from_numpy(xo), y if cond else None)
            # relative: log|det| sums D log-scales, so its rounding grows with its size (≤ D·u·Σ|terms|)
            assert np.abs(logdet - ld_ref.numpy()).max() <= 1e-4 * max(1.0, float(np.abs(logdet).max()))


def test_reference_sampler_writes_png_and_npy(bundle, tmp_path):
    _, out = bundle
    m = json.loads((out / "dinof.json").read_text())
    png, npy = tmp_path / "g.png", tmp_path / "g.npy"
    pix = sample_bundle(out, n=5, batch=3, seed=1, png=str(png), npy=str(npy), steps=12, quiet=True,
                        label=1 if m["classes"] else None)
    arr = np.load(npy)
    assert arr.shape == (5, 1, 8, 8) and arr.dtype == np.float32 and 0 <= arr.min() and arr.max() <= 1
    assert png.stat().st_size > 0
    again = sample_bundle(out, n=5, batch=3, seed=1, steps=12, quiet=True, label=1 if m["classes"] else None)
    assert torch.equal(pix, again)  # seeded
    for opts in ({"start": "prior", "predictor": "reverse_diffusion", "corrector": "langevin"},
                 {"predictor": "ancestral", "t_m": 0.4}):
        p = sample_bundle(out, n=2, steps=5, quiet=True, label=0 if m["classes"] else None, **opts)
        assert p.shape == (2, 1, 8, 8) and torch.isfinite(p).all()
    if m["classes"]:  # as the runtime: a conditional model without a label is refused, not given random ones
        with pytest.raises(ValueError, match="class-conditional"):
            sample_bundle(out, n=2, steps=2, quiet=True)


def test_ve_and_subvp_export(toy_npz, tmp_path):
    from dinof_train.config import make_config

    for kind in ("ve", "subvp"):
        cfg = make_config("tiny", dataset=str(toy_npz), threads=1, iterations=2, ckpt_every=-1.0, sde=kind,
                          t_ms=[0.5])
        train(cfg, tmp_path / kind, quiet=True)
        man = export_bundle(tmp_path / kind / "checkpoint.pt", tmp_path / f"b_{kind}", density=False)
        assert man["sde"]["kind"] == kind and "density_file" not in man["flows"][0]
        assert man["image"]["pixel_scale"] == (1.0 if kind == "ve" else 0.5)
        b = Bundle(tmp_path / f"b_{kind}")
        x = torch.rand(2, 1, 8, 8)
        assert b.score(x, torch.tensor([0.1, 0.5])).shape == (2, 1, 8, 8)


def test_eval_bits_per_dim_match_an_independent_density(bundle, monkeypatch):
    """evaluate_bundle's flow bits/dim equal -log2 p(x(T_m)) / D computed here another way, on the very x(T_m) it
    evaluates (recorded): z from the density graph, but log|det| from the *generative* PyTorch flow, by central
    differences of its Jacobian in float64 at that z (after checking it maps z back to x). The two agree to 1e-7;
    a flipped log-det sign (0.044 on this 3-iteration model), a dropped log 2π term (1.33) or nats for bits (0.62)
    miss the 1e-4 tolerance by far."""
    import copy
    import math

    from dinof_train.sample import Bundle, evaluate_bundle

    ckpt, out = bundle
    seen = []
    real = Bundle.flow_density

    def recording(self, t_m, x, y=None):
        z, logdet = real(self, t_m, x, y)
        seen.append((t_m, x.clone(), None if y is None else y.clone(), z.clone()))
        return z, logdet

    monkeypatch.setattr(Bundle, "flow_density", recording)
    res = evaluate_bundle(out, n=32, samples=0)
    assert set(res["flows"]) == {"0.4", "0.6"}
    cfg, _, _, flows = ema_models_from_checkpoint(load_checkpoint(ckpt))
    D, h = 64, 1e-5
    for t_m, flow in zip(cfg.t_ms, flows):
        flow = copy.deepcopy(flow).double().eval()
        logp = []
        for tm, x, y, z in seen:
            if abs(tm - t_m) > 1e-9:
                continue
            for i in range(len(x)):
                zi = z[i].double()
                yi = None if y is None else y[i:i + 1].repeat(2 * D + 1)
                # one batch: z, then z ± h e_j for every j
                probe = torch.cat([zi[None], zi + h * torch.eye(D, dtype=torch.float64),
                                   zi - h * torch.eye(D, dtype=torch.float64)])
                with torch.no_grad():
                    g = flow.generate(probe, yi).reshape(2 * D + 1, D)
                # density and generation agree: float32 export vs float64 torch, the per-call 1e-4 bound
                assert torch.allclose(g[0], x[i].double().reshape(D), atol=1e-4)
                jac = (g[1:D + 1] - g[D + 1:]).T / (2 * h)  # d generate / d z
                log_det_gen = torch.linalg.slogdet(jac)[1]
                logp.append(float(-0.5 * (zi ** 2).sum() - 0.5 * D * math.log(2 * math.pi) - log_det_gen))
        assert len(logp) == 32
        want = -sum(logp) / len(logp) / (D * math.log(2))
        got = res["flows"][f"{t_m:g}"]["bits_per_dim"]
        # want: float64, central differences with h = 1e-5 (truncation ~h² = 1e-10, roundoff ~1e-16/h = 1e-11);
        # got: float32 log-dets, ~u·D·|log-scale| / (D ln 2) ≈ 1e-6 bits/dim; a missing log-det term is ≥ 0.01
        assert abs(got - want) < 1e-4, (t_m, got, want)


def test_flows_only_run_keeps_the_score_graph_byte_identical(bundle, toy_npz, tmp_path):
    """A flows-only run trains no score (none in its checkpoint); export --score-from copies score.onnx
    unchanged, records its origin, and still exports/parity-checks the new flows."""
    from dinof_train.config import make_config

    ckpt, src = bundle
    src_m = json.loads((src / "dinof.json").read_text())
    cfg = make_config("tiny", dataset=str(toy_npz), threads=1, iterations=3, ckpt_every=-1.0, flows_only=True,
                      classes=src_m["classes"], flow_steps=3, t_ms=[0.3, 0.6])
    train(cfg, tmp_path / "run", quiet=True)
    c = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert c["ema"]["score"] is None and c["model"]["score"] is None and c["history"]["score_loss"] == []
    with pytest.raises(ValueError, match="score-from"):
        export_bundle(tmp_path / "run" / "checkpoint.pt", tmp_path / "x")
    out = tmp_path / "bundle"
    m = export_bundle(tmp_path / "run" / "checkpoint.pt", out, score_from=src)
    assert (out / "score.onnx").read_bytes() == (src / "score.onnx").read_bytes()
    assert m["checksums"]["score.onnx"] == src_m["checksums"]["score.onnx"] == m["provenance"]["score_from"]["sha256"]
    assert [f["t_m"] for f in m["flows"]] == [0.3, 0.6]
    assert set(m["checksums"]) == {p.name for p in out.glob("*.onnx")}
    assert "score.onnx" not in m["provenance"]["export_parity"]  # not re-exported
    pix = sample_bundle(out, n=2, steps=3, t_m=0.3, quiet=True, label=0 if src_m["classes"] else None)
    assert pix.shape == (2, 1, 8, 8) and torch.isfinite(pix).all()
    # flows trained for another SDE than the score's must be refused
    train(dataclasses.replace(cfg, beta_max=10.0), tmp_path / "run2", quiet=True)
    with pytest.raises(ValueError, match="SDE"):
        export_bundle(tmp_path / "run2" / "checkpoint.pt", tmp_path / "y", score_from=src)


def test_dataset_notice_travels_with_sprite_bundles():
    """Issue 21: a sprite bundle carries the art's licence and attribution (manifest provenance.data + NOTICE);
    datasets without such terms carry nothing."""
    from dinof_train.export import dataset_notice

    prov, text = dataset_notice("sprites:train")
    assert prov["license"] == "CC-BY-SA-3.0" and prov["notice"] == "NOTICE"
    assert "Cataclysm" in prov["attribution"] and "CC-BY-SA-3.0" in text and "share alike" in text
    assert dataset_notice("sprites") is not None
    assert dataset_notice("mnist") is None and dataset_notice("fashion-mnist:train") is None


def test_flowless_export_describes_no_flows(toy_npz, tmp_path):
    from dinof_train.config import make_config

    cfg = make_config("tiny", dataset=str(toy_npz), threads=1, iterations=2, ckpt_every=-1.0, t_ms=[])
    train(cfg, tmp_path / "run", quiet=True)
    m = export_bundle(tmp_path / "run" / "checkpoint.pt", tmp_path / "b", density=False)
    assert m["flows"] == [] and "Glow" not in m["description"] and m["sampler"]["start"] == "prior"
    assert not (tmp_path / "b" / "NOTICE").exists()
