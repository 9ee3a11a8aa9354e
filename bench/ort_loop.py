"""What a user would write without dinof: the shipped bundle's ONNX files in onnxruntime, the flow start, then
Euler-Maruyama on the VP reverse SDE (score_sde's grid, last step returns the mean). Prints one JSON line:
load -> first image (1 image, 1 step) and a timed batch, with the time spent inside session.run.

usage: python bench/ort_loop.py BUNDLE N STEPS [--threads 2] [--seed 1] [--out x.npy]"""
import argparse, json, time

t_load = time.perf_counter()
import numpy as np
import onnxruntime as ort

p = argparse.ArgumentParser()
p.add_argument("bundle"); p.add_argument("n", type=int); p.add_argument("steps", type=int)
p.add_argument("--threads", type=int, default=2); p.add_argument("--seed", type=int, default=1)
p.add_argument("--out")
a = p.parse_args()
man = json.load(open(f"{a.bundle}/dinof.json"))
sde, t_m = man["sde"], man["sampler"]["t_m"]
opts = ort.SessionOptions()
opts.intra_op_num_threads, opts.inter_op_num_threads = a.threads, 1
session = lambda f: ort.InferenceSession(f"{a.bundle}/{f}", opts, providers=["CPUExecutionProvider"])
score = session(man["score"]["file"])
flow = session(next(f["file"] for f in man["flows"] if f["t_m"] == t_m))
net_s = 0.0

def run(sess, feeds):
    global net_s
    t0 = time.perf_counter()
    out = sess.run(None, feeds)[0]
    net_s += time.perf_counter() - t0
    return out

def sample(n, steps, rng):
    beta = lambda t: sde["beta_min"] + t * (sde["beta_max"] - sde["beta_min"])
    x = run(flow, {"z": rng.standard_normal((n, 784), dtype=np.float32)})
    h = t_m if steps == 1 else (t_m - sde["eps"]) / (steps - 1)
    for t in np.linspace(t_m, sde["eps"], steps):
        s = run(score, {"x": x, "t": np.full(n, t, np.float32)})
        b = beta(t)
        x_mean = x * np.float32(1 + 0.5 * b * h) + np.float32(b * h) * s
        x = x_mean + np.float32(np.sqrt(b * h)) * rng.standard_normal(x.shape, dtype=np.float32)
    return np.clip(x_mean * 0.5 + 0.5, 0.0, 1.0)

sample(1, 1, np.random.default_rng(a.seed))
first = time.perf_counter() - t_load
net_s = 0.0
t0 = time.perf_counter()
images = sample(a.n, a.steps, np.random.default_rng(a.seed))
seconds = time.perf_counter() - t0
if a.out:
    np.save(a.out, images)
print(json.dumps({"first_image_s": first, "seconds": seconds, "network_seconds": net_s, "n": a.n, "steps": a.steps,
                  "backend": f"onnxruntime {ort.__version__}", "threads": a.threads}))
