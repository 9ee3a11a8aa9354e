"""The same sampler as bench/ort_loop.py in PyTorch eager, on the shipped weights rebuilt from the bundle's ONNX
files (dinof_train.eager; equal to onnxruntime within 1e-5, onnx/tests/test_eager.py). Prints one JSON line:
load -> first image (1 image, 1 step) and a timed batch, with the time spent inside the modules.

usage: python bench/torch_loop.py BUNDLE N STEPS [--threads 2] [--seed 1] [--out x.npy]   (PYTHONPATH=onnx)"""
import argparse, json, time

t_load = time.perf_counter()
import numpy as np
import torch

from dinof_train import eager

p = argparse.ArgumentParser()
p.add_argument("bundle"); p.add_argument("n", type=int); p.add_argument("steps", type=int)
p.add_argument("--threads", type=int, default=2); p.add_argument("--seed", type=int, default=1)
p.add_argument("--out")
a = p.parse_args()
torch.set_num_threads(a.threads)
man = json.load(open(f"{a.bundle}/dinof.json"))
sde, t_m = man["sde"], man["sampler"]["t_m"]
score, flow = eager.load_score(a.bundle), eager.load_flow(a.bundle, t_m)
net_s = 0.0

def run(module, *args):
    global net_s
    t0 = time.perf_counter()
    out = module(*args)
    net_s += time.perf_counter() - t0
    return out

@torch.inference_mode()
def sample(n, steps, gen):
    beta = lambda t: sde["beta_min"] + t * (sde["beta_max"] - sde["beta_min"])
    x = run(flow, torch.randn(n, 784, generator=gen))
    h = t_m if steps == 1 else (t_m - sde["eps"]) / (steps - 1)
    for t in np.linspace(t_m, sde["eps"], steps):
        s = run(score, x, torch.full((n,), float(t)))
        b = beta(t)
        x_mean = x * (1 + 0.5 * b * h) + (b * h) * s
        x = x_mean + float(np.sqrt(b * h)) * torch.randn(x.shape, generator=gen)
    return (x_mean * 0.5 + 0.5).clamp(0.0, 1.0).numpy()

sample(1, 1, torch.Generator().manual_seed(a.seed))
first = time.perf_counter() - t_load
net_s = 0.0
t0 = time.perf_counter()
images = sample(a.n, a.steps, torch.Generator().manual_seed(a.seed))
seconds = time.perf_counter() - t0
if a.out:
    np.save(a.out, images)
print(json.dumps({"first_image_s": first, "seconds": seconds, "network_seconds": net_s, "n": a.n, "steps": a.steps,
                  "backend": f"torch {torch.__version__}", "threads": a.threads}))
