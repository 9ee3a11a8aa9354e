#!/usr/bin/env bash
# GPU check of the ort backend, for a machine with an NVIDIA GPU: fetches the GPU build of ONNX Runtime
# (fetch-onnxruntime.sh --gpu), builds dinof with --features ort (release), samples the shipped model through the
# CLI on the CUDA and TensorRT execution providers, and prints images/s next to the CPU (ONNX Runtime and tract).
# Every step runs under a deadline and a missing piece (GPU, CUDA/cuDNN/TensorRT libraries, cargo) is reported,
# never waited on. Exit status 0 when all four runs worked.
#
# usage: scripts/gpu-check.sh [ORT_VERSION]      (default: fetch-onnxruntime.sh's pinned release)
# env:   N=64 images per run, STEPS=50, STEP_TIMEOUT=300 s per run (TensorRT's first run builds its engines),
#        BUILD_TIMEOUT=900 s, DINOF_BIN=path of a dinof built with --features ort (skips the build),
#        TRT_FP16=1 for fp16 TensorRT engines, DEVICE_ID=0.
set -uo pipefail
cd "$(dirname "$0")/.."

export DINOF_CACHE="${DINOF_CACHE:-$HOME/.cache/dinof}"
N="${N:-64}"
STEPS="${STEPS:-50}"
STEP_TIMEOUT="${STEP_TIMEOUT:-300}"
BUILD_TIMEOUT="${BUILD_TIMEOUT:-900}"
DEVICE_ID="${DEVICE_ID:-0}"
BUNDLE=onnx/models/mnist
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

say() { printf '\n== %s ==\n' "$*"; }
fail() { echo "gpu-check: $*" >&2; exit 2; }

say "GPU"
if command -v nvidia-smi >/dev/null && timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; then
    :
else
    echo "no NVIDIA GPU visible (nvidia-smi missing or failing): the CUDA and TensorRT runs will report their provider unavailable"
fi
[[ -d "$BUNDLE" ]] || fail "$BUNDLE is missing"

say "ONNX Runtime (GPU build)"
lib="$(timeout "$BUILD_TIMEOUT" bash scripts/fetch-onnxruntime.sh ${1:+"$1"} --gpu)" || fail "could not fetch onnxruntime-gpu"
echo "$lib"
export ORT_DYLIB_PATH="$lib"

# The CUDA and TensorRT providers load CUDA, cuDNN and TensorRT from the library path. Pip-installed NVIDIA
# packages (nvidia-*-cu12, tensorrt-cu12-libs) keep theirs inside site-packages: add those directories.
if command -v python3 >/dev/null; then
    extra="$(timeout 60 python3 - <<'EOF' 2>/dev/null
import glob, os, site, sys
roots = site.getsitepackages() + [site.getusersitepackages()] + sys.path
dirs = []
for r in roots:
    for pattern in ("nvidia/*/lib", "tensorrt_libs", "tensorrt"):
        for d in glob.glob(os.path.join(r, pattern)):
            if os.path.isdir(d) and glob.glob(os.path.join(d, "lib*.so*")) and d not in dirs:
                dirs.append(d)
print(":".join(dirs))
EOF
)"
    if [[ -n "$extra" ]]; then
        export LD_LIBRARY_PATH="$extra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        echo "library path += pip NVIDIA packages: $extra"
    fi
fi
for provider in cuda tensorrt; do
    so="$(dirname "$lib")/libonnxruntime_providers_$provider.so"
    if [[ ! -f "$so" ]]; then
        echo "$provider provider: $so missing from the wheel"
        continue
    fi
    missing="$(ldd "$so" 2>/dev/null | awk '/not found/ {print $1}' | sort -u | tr '\n' ' ')"
    echo "$provider provider: ${missing:+missing $missing}${missing:-all libraries found}"
done

say "dinof (release, --features ort)"
if [[ -n "${DINOF_BIN:-}" ]]; then
    bin="$DINOF_BIN"
else
    command -v cargo >/dev/null || fail "cargo not found (or set DINOF_BIN to a dinof built with --features ort)"
    timeout "$BUILD_TIMEOUT" cargo build --release --locked --features ort --bin dinof || fail "the release build failed or took over $BUILD_TIMEOUT s"
    bin="${CARGO_TARGET_DIR:-target}/release/dinof"
fi
[[ -x "$bin" ]] || fail "$bin is not an executable"
echo "$bin"

trt_args=(--trt-cache "$DINOF_CACHE/trt-engines")
[[ "${TRT_FP16:-0}" == 1 ]] && trt_args+=(--trt-fp16)

# One configuration: a short warm-up run (session set-up, TensorRT engine build or cache load, cuDNN tuning),
# then the timed run. The CLI reports the sampling time without the model load.
declare -A rate
run() {
    local label="$1"; shift
    local log="$work/$label.log" status=ok
    for phase in warm timed; do
        local steps=$STEPS; [[ $phase == warm ]] && steps=2
        timeout --kill-after=10 "$STEP_TIMEOUT" "$bin" sample --bundle "$BUNDLE" --n "$N" --seed 1 --steps "$steps" \
            --out "$work/$label.npy" --quiet "$@" >"$log" 2>&1
        local rc=$?
        if [[ $rc != 0 ]]; then
            [[ $rc == 124 || $rc == 137 ]] && status="timed out after $STEP_TIMEOUT s ($phase run)" || status="failed: $(grep -m1 '^error' "$log" || tail -n1 "$log")"
            break
        fi
    done
    local seconds
    seconds="$(sed -n 's/.*network calls, \([0-9.]*\) s,.*/\1/p' "$log")"
    if [[ $status == ok && -n "$seconds" ]]; then
        rate[$label]="$(awk -v n="$N" -v s="$seconds" 'BEGIN { printf "%.1f", n / s }')"
        printf '%-14s %8s images/s  (%s s; %s)\n' "$label" "${rate[$label]}" "$seconds" "$(grep -m1 -o 'backend .*' "$log")"
    else
        printf '%-14s %8s  %s\n' "$label" "-" "$status"
    fi
}

say "sampling $N images × $STEPS steps of $BUNDLE (batch $N)"
run cpu-tract --backend tract
run cpu-ort --backend ort --ep cpu
run cuda --backend ort --ep cuda --device-id "$DEVICE_ID"
run tensorrt --backend ort --ep tensorrt --device-id "$DEVICE_ID" "${trt_args[@]}"

# The same seeds must give the same images on every provider (up to TF32/fp16 rounding).
if python3 -c 'import numpy' 2>/dev/null; then
    python3 - "$work" <<'EOF'
import os, sys
import numpy as np
work = sys.argv[1]
ref = os.path.join(work, "cpu-ort.npy")
if os.path.exists(ref):
    a = np.load(ref)
    for label in ("cpu-tract", "cuda", "tensorrt"):
        p = os.path.join(work, label + ".npy")
        if os.path.exists(p):
            print(f"{label:14s} max |difference| from cpu-ort: {np.abs(np.load(p) - a).max():.2e} (pixels in [0, 1])")
EOF
fi

[[ ${#rate[@]} == 4 ]]
