"""Breaks the sampler one coefficient or branch at a time and counts the tests that notice (the mutation table of
tests/fixtures/README.md). Each mutation is a single textual edit of src/; the file is restored afterwards, also on
an interrupt. Standard library only; run from the repository root:

    python3 tests/mutants.py [--tests sampler_stats,cli] [--only NAME,...] [--cargo-args ...]

Cargo's target directory is taken from CARGO_TARGET_DIR: point it at a private copy when others share the default
one, since a mutated build overwrites target/debug/{dinof,libdinof.so}.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name: [(file, original text, mutated text), ...]. Each original must occur exactly once in its file.
STEPS = "src/sampler/steps.rs"
MUTATIONS = {
    "Euler–Maruyama g²h → ½g²h": [(STEPS, "(g * g * h) as f32", "(0.5 * g * g * h) as f32")],
    "sign of the reverse-diffusion drift f": [(STEPS, "((1.0 - d.f_coeff) as f32", "((1.0 + d.f_coeff) as f32")],
    "ODE −½g² → −g²": [(STEPS, "(0.5 * sde.diffusion(t).powi(2)) as f32", "(sde.diffusion(t).powi(2)) as f32")],
    "Langevin step ×2": [(STEPS, "2.0 * alpha * (snr * n / g).powi(2)", "4.0 * alpha * (snr * n / g).powi(2)")],
    "VP ancestral √β → β": [(STEPS, "(r, r * beta, beta.sqrt())", "(r, r * beta, beta)")],
    "denoise removed": [
        ("src/sampler/mod.rs", "    if cfg.denoise {\n        b.x.copy_from_slice(&b.x_mean);",
         "    if false && cfg.denoise {\n        b.x.copy_from_slice(&b.x_mean);"),
        ("src/sampler/mod.rs", "    if cfg.denoise {\n        score.eval(&b.x, sde.eps, &mut b.s)?;",
         "    if false && cfg.denoise {\n        score.eval(&b.x, sde.eps, &mut b.s)?;")],
    "flow start → prior noise at T_m": [
        ("src/model/run.rs", "if let Some(f) = *flow {", "if let Some(f) = (*flow).filter(|_| false) {")],
    "temperature ignored": [("src/model/run.rs", "batch.draw_x(cfg.temperature as f32);", "batch.draw_x(1.0);")],
    "default steps N instead of int(N·T_m)": [
        ("src/sde.rs", "((self.n as f64 * t_start + 1e-9)", "((self.n as f64 + 1e-9)")],
    # Sub-batching (run with --tests determinism): every chunk reads the first chunk's inputs, or writes its outputs
    # one chunk back; both hand an image another image's values, O(1) apart (tests/determinism.rs, SUB_BATCH_TOL).
    "sub-batch reads the first chunk's inputs": [
        ("src/backend/tract.rs", "let (a, b) = (start * per_in[k], (start + n) * per_in[k]);",
         "let (a, b) = (0, n * per_in[k]);")],
    "sub-batch output written one chunk back": [
        ("src/backend/tract.rs", "outputs[i][s * per_out[i]..(s + n) * per_out[i]].copy_from_slice(src);",
         "outputs[i][s.saturating_sub(n) * per_out[i]..(s.saturating_sub(n) + n) * per_out[i]].copy_from_slice(src);")],
    # issue 24: the per-solver default grid reverted to uniform t (caught by tests/solver_defaults.rs)
    "default grid uniform t for every solver": [
        ("src/sampler/choices.rs", ".unwrap_or(solver.default_schedule())", ".unwrap_or(Schedule::Time)")],
    # The C ABI's bounds and last-error rule (issue 24): caught by --tests c_abi_bounds (the C suite, test_abi, too).
    "C ABI: manifest cap not checked before slicing": [
        ("src/ffi/model.rs", "if manifest_size > super::DINOF_MAX_MANIFEST_BYTES {",
         "if false && manifest_size > super::DINOF_MAX_MANIFEST_BYTES {")],
    "C ABI: lengths not checked against isize::MAX": [
        ("src/ffi/ptr.rs", "Ok(n) if n <= isize::MAX as usize / size => Ok(n),", "Ok(n) => Ok(n),")],
    "C ABI: dinof_job_free(NULL) returns before the guard": [
        ("src/ffi/job.rs", "    guard(|| {\n        if job.is_null() {\n            return Ok(());\n        }",
         "    if job.is_null() {\n        return DINOF_STATUS_OK;\n    }\n    guard(|| {")],
    # The Gaussian start (issue 19): run with --tests gaussian_start.
    "Gaussian start → the flows": [
        ("src/model/policy.rs", "Start::Gaussian => &self.gaussians,", "Start::Gaussian => &self.flows,")],
    "Gaussian start → the other T_m's Gaussian": [
        ("src/model/run.rs", ".position(|f| (f.t_m - cfg.t_start).abs() < 1e-6)",
         ".position(|f| (f.t_m - cfg.t_start).abs() > 1e-6)")],
    "Gaussian likelihood → the prior's density": [
        ("src/likelihood/mod.rs", "            Start::Flow | Start::Gaussian => {\n                let flow = self.start_net(",
         "            Start::Flow => {\n                let flow = self.start_net("),
        ("src/likelihood/mod.rs", "            Start::Prior => End::Prior {", "            Start::Prior | Start::Gaussian => End::Prior {")],
    "bundle's sampler.t_m forced on every start": [
        ("src/sampler/choices.rs", "let bundle_t = d.t_m.filter(|&t| t_ms.iter().any(|m| (m - t).abs() < 1e-6));",
         "let bundle_t = d.t_m;")],
    "default start: Gaussian before flow": [
        ("src/bundle/mod.rs", "self.sampler.start.unwrap_or(if !self.flows.is_empty() {",
         "self.sampler.start.unwrap_or(if !self.gaussians.is_empty() { Start::Gaussian } else if !self.flows.is_empty() {")],
    "gaussians not validated": [
        ("src/bundle/mod.rs", "for start in [Start::Flow, Start::Gaussian] {", "for start in [Start::Flow] {")],
    # Issue 24, default steps and k-diffusion's Euler: run with --tests solver_defaults,solver_stats.
    "Euler back to Euler in t on the probability-flow ODE": [
        ("src/sampler/mod.rs", "                steps::edm_step(sde, t, t_next, &b.x, &b.s, None, &mut b.x2);\n"
                               "                std::mem::swap(&mut b.x, &mut b.x2);",
         "                steps::ode_derivative(sde, t, &b.x, &b.s, &mut b.d);\n"
         "                steps::axpy(&mut b.x, t_next - t, &b.d);")],
    # Caught by euler_cannot_reach_the_budget_at_20_steps_on_any_grid: a second-order correction beats the bound
    # that no first-order σ̃-Euler can.
    "Euler with Heun's correction": [
        ("src/sampler/mod.rs", "                steps::edm_step(sde, t, t_next, &b.x, &b.s, None, &mut b.x2);\n"
                               "                std::mem::swap(&mut b.x, &mut b.x2);",
         "                steps::edm_step(sde, t, t_next, &b.x, &b.s, None, &mut b.x2);\n"
         "                b.d.resize(b.x.len(), 0.0);\n"
         "                score.eval(&b.x2, t_next, &mut b.d)?;\n"
         "                steps::edm_step(sde, t, t_next, &b.x, &b.s, Some(&b.d), &mut b.x2);\n"
         "                std::mem::swap(&mut b.x, &mut b.x2);")],
    # The cosine grid (issue 24): EDM Heun back on EDM's ρ = 7 grid is 4–8 % off from the prior at 20 steps, and on a
    # cosine grid with σ_d 0.1 (the VE fixture's own data sd) 10–150 %: both caught by the 20-step test.
    "edm_heun default grid back to EDM": [
        ("src/sampler/options.rs", "Solver::EdmHeun => Schedule::Cosine,", "Solver::EdmHeun => Schedule::Edm,")],
    "cosine grid σ_d 0.5 → 0.1": [("src/sde.rs", "pub const COSINE_SIGMA_DATA: f64 = 0.5;",
                                   "pub const COSINE_SIGMA_DATA: f64 = 0.1;")],
    "dpmpp_2m_sde default steps 35 → 20": [
        ("src/sampler/options.rs", "Solver::Dpmpp2mSde => Some(35),", "Solver::Dpmpp2mSde => Some(20),")],
    "a manifest's steps apply to every solver": [
        ("src/sampler/choices.rs", "let steps = o.steps.or(d.steps.filter(|_| own))", "let steps = o.steps.or(d.steps)")],
    # Issue 21, straight alpha out of a premultiplied model: run with --lib (src/model/run.rs unit test).
    "premultiplied colour not divided by alpha": [
        ("src/model/run.rs", "*v = if visible { (*v / *a).min(1.0) } else { 0.0 };",
         "*v = if visible { v.min(1.0) } else { 0.0 };")],
}


def run_tests(tests: list[str], extra: list[str]) -> tuple[list[str], int, str]:
    """Runs `cargo test --test T ...`; returns (failed test names, tests run, tail of the output)."""
    cmd = ["cargo", "test", "--no-fail-fast", *extra]
    for t in tests:
        cmd += ["--test", t]
    env = dict(os.environ, DINOF_STATS_FAIL_FAST="1")  # a failing test may stop at its first failing case
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    out = p.stdout + p.stderr
    failed = re.findall(r"^test (\S+) \.\.\. FAILED", out, re.M)
    ran = sum(int(a) + int(b) for a, b in re.findall(r"test result: \w+\. (\d+) passed; (\d+) failed", out))
    if ran == 0:
        raise RuntimeError(f"no test ran ({' '.join(cmd)}):\n{out[-3000:]}")
    return failed, ran, out[-2000:]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tests", default="sampler_stats,cli")
    ap.add_argument("--only", default="", help="comma-separated substrings of mutation names")
    ap.add_argument("--cargo-args", nargs=argparse.REMAINDER, default=[])
    a = ap.parse_args()
    tests = a.tests.split(",")
    rows = []
    for name, edits in MUTATIONS.items():
        if a.only and not any(k in name for k in a.only.split(",")):
            continue
        originals = {rel: (ROOT / rel).read_text() for rel, _, _ in edits}
        mutated = dict(originals)
        for rel, old, new in edits:
            if mutated[rel].count(old) != 1:
                raise SystemExit(f"{name}: {rel} holds the original {mutated[rel].count(old)} times (the code moved?)")
            mutated[rel] = mutated[rel].replace(old, new)
        t0 = time.time()
        try:
            for rel, text in mutated.items():
                (ROOT / rel).write_text(text)
            failed, ran, _ = run_tests(tests, a.cargo_args)
        finally:
            for rel, text in originals.items():
                (ROOT / rel).write_text(text)
        rows.append((name, failed, ran))
        print(f"{name}: {len(failed)} of {ran} fail ({time.time() - t0:.0f} s): {', '.join(failed)}", flush=True)
    print("\n| mutation | tests failing | which |\n|---|---|---|")
    for name, failed, ran in rows:
        print(f"| {name} | {len(failed)} of {ran} | {', '.join(f.split('::')[-1] for f in failed)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
