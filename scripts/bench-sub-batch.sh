#!/usr/bin/env bash
# What the reproducibility guarantee costs on ONNX Runtime's CPU provider: the shipped model sampled at the default
# (one image per single-threaded session run, runs spread over the threads) and with whole-batch runs on all
# intra-op threads (--sub-batch B --ort-intra-threads T, not bitwise reproducible), at batch 1 and 16. The two are
# alternated REPEATS times in one process tree; prints median (min–max) images/s of each and the ratio.
#
# usage: scripts/bench-sub-batch.sh        env: STEPS (20), REPEATS (3), THREADS (nproc), BATCHES ("1 16"),
#                                               BUNDLE (onnx/models/mnist), DINOF_BIN (skip the build)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${STEPS:-20}"
REPEATS="${REPEATS:-3}"
THREADS="${THREADS:-$(nproc)}"
BATCHES="${BATCHES:-1 16}"
BUNDLE="${BUNDLE:-onnx/models/mnist}"
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$(bash scripts/fetch-onnxruntime.sh)}"
if [[ -z "${DINOF_BIN:-}" ]]; then
    cargo build --quiet --locked --features ort --bin dinof
    DINOF_BIN="${CARGO_TARGET_DIR:-target}/debug/dinof"
fi

# images/s of one `dinof bench` sampling run (after its own warm-up run).
rate() {
    "$DINOF_BIN" bench "$BUNDLE" --backend ort --threads "$THREADS" --n "$1" --steps "$STEPS" --sub-batches 1 --reps 1 \
        "${@:2}" | sed -n 's/.* = \([0-9.]*\) images\/s.*/\1/p'
}
# "median (min–max)" of the numbers on stdin.
summary() { sort -g | awk '{v[NR]=$1} END {printf "%.2f (%.2f–%.2f)", v[int((NR+1)/2)], v[1], v[NR]}'; }

echo "ONNX Runtime $(basename "$ORT_DYLIB_PATH"), $BUNDLE, $STEPS steps, $THREADS threads, $REPEATS alternated runs each"
printf '%-6s %-26s %-26s %s\n' batch "default (reproducible)" "whole batch, intra-op" "default / whole batch"
for b in $BATCHES; do
    repro=(); whole=()
    for _ in $(seq "$REPEATS"); do
        repro+=("$(rate "$b")")
        whole+=("$(rate "$b" --sub-batch "$b" --ort-intra-threads "$THREADS")")
    done
    r="$(printf '%s\n' "${repro[@]}" | summary)"
    w="$(printf '%s\n' "${whole[@]}" | summary)"
    ratio="$(awk -v a="${r%% *}" -v b="${w%% *}" 'BEGIN {printf "%.2f", a / b}')"
    printf '%-6s %-26s %-26s %s\n' "$b" "$r" "$w" "$ratio"
done
