#!/usr/bin/env bash
# Issue 11's measured figures for the shipped class-conditional bundle (docs/evaluation.md, "Class-conditional
# Fashion-MNIST"): the share of samples that a classifier — trained on the training split only, its test-split
# accuracy recorded beside — assigns to the class they were asked for, K per class, at the bundle's default sampler
# (reverse diffusion + Langevin from the class-conditional flow, 200 steps, classifier-free guidance 1), without
# guidance at 50 / 100 / 200 / 600 steps, and from the other flow. Each configuration writes docs/fashion/<name>.json (`python -m dinof_train class-accuracy`);
# at the end all of them are recorded in the bundle's provenance (`class_accuracy`).
#   scripts/eval-fashion.sh             the documented figures (~40 min on 2 idle cores with ONNX Runtime)
#   scripts/eval-fashion.sh --quick     every configuration at 2 images per class and 3 steps (a smoke test)
# Environment: DINOF_CACHE (the venv from scripts/setup-python.sh, the data from scripts/fetch-data.sh
# fashion-mnist), BUNDLE (default onnx/models/fashion-cond), ONLY (names to run, comma-separated), DINOF_BIN (a
# built `dinof`; default: cargo build --release --features ort), ORT_DYLIB_PATH
# (the CLI's auto backend then runs ONNX Runtime, else tract: the images agree to ~1e-3).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export DINOF_CACHE="${DINOF_CACHE:-$HOME/.cache/dinof}"
PY="$DINOF_CACHE/venv/bin/python"
BUNDLE="$(cd "${BUNDLE:-onnx/models/fashion-cond}" && pwd)"
quick=0
[ "${1:-}" = --quick ] && quick=1

bin="${DINOF_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --locked --release --features ort --bin dinof >&2
  bin="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/dinof"
fi
out="$root/docs/fashion"
[ $quick = 1 ] && out="$(mktemp -d "${TMPDIR:-/tmp}/dinof-eval-fashion.XXXXXX")"
mkdir -p "$out"

# name  per-class  extra `dinof sample` options
# The bundle's default (guidance 1, 200 steps) and without guidance at 100 per class; the others without guidance
# at 20-30 per class, enough to see a trend at a fraction of the cost.
configs=(
  "default      100 "
  "no-guidance  100 --guidance 0"
  "steps-50      30 --guidance 0 --steps 50"
  "steps-100     30 --guidance 0 --steps 100"
  "steps-600     20 --guidance 0 --steps 600"
  "t_m-0.5       30 --guidance 0 --t-m 0.5"
)
for c in "${configs[@]}"; do
  read -r name per extra <<<"$c"
  if [ -n "${ONLY:-}" ] && [[ ",$ONLY," != *",$name,"* ]]; then continue; fi
  if [ $quick = 1 ]; then per=2; extra="$(sed 's/--steps [0-9]*//' <<<"$extra") --steps 3"; fi
  echo "== $name: $per per class${extra:+, $extra}" >&2
  t0=$(date +%s)
  (cd onnx && "$PY" -m dinof_train class-accuracy --bundle "$BUNDLE" --per-class "$per" --dinof-bin "$bin" \
     --seed 1 --cli-args "--quiet $extra" --json "$out/$name.json" >/dev/null)
  "$PY" - "$out/$name.json" "$(( $(date +%s) - t0 ))" <<'EOF'
import json, sys
p = sys.argv[1]
r = json.load(open(p))
r["seconds"] = int(sys.argv[2])
json.dump(r, open(p, "w"), indent=1)
print(f"{p}: accuracy {r['accuracy']:.3f} of {r['n']} (classifier test accuracy {r['classifier_test_accuracy']:.3f}), "
      f"{r['seconds']} s", file=sys.stderr)
EOF
done
echo "wrote $out" >&2
# The figures go into the bundle's provenance too (dinof.json is not among the checksummed files).
if [ $quick = 0 ]; then
  "$PY" - "$BUNDLE/dinof.json" "$out" <<'EOF'
import json, os, pathlib, sys
man_path, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
man = json.loads(man_path.read_text())
acc = {}
for p in sorted(out.glob("*.json")):
    r = json.loads(p.read_text())
    acc[p.stem] = {k: r[k] for k in ("accuracy", "n", "cli_args", "classifier_test_accuracy", "per_class", "seconds")}
man["provenance"]["class_accuracy"] = {"command": "scripts/eval-fashion.sh", "results": acc}
tmp = man_path.with_suffix(".json.tmp")
tmp.write_text(json.dumps(man, indent=2) + "\n")
os.replace(tmp, man_path)
print(f"recorded {sorted(acc)} in {man_path}", file=sys.stderr)
EOF
fi
