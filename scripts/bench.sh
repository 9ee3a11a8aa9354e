#!/usr/bin/env bash
# Speed side by side (issue 13): this library (CLI and C ABI, tract and ONNX Runtime), a plain Python +
# onnxruntime loop and a PyTorch eager loop over the same bundle, seeds, steps and thread count, at batch 1 / 16 /
# 64; every configuration a whole process, alternated round-robin, REPEATS rounds; median (min–max) of images/s,
# ratio to the library's default, time outside network calls, peak RSS, load -> first image. Writes the table into
# docs/benchmarks.md (between its generated markers) and the raw runs into docs/benchmarks.json.
#
# usage: scripts/bench.sh [--latency] [--quick]
#   --quick: every configuration once, batch 1 and 2, 2 steps, debug build, results in a temporary directory
#            (the test suite's smoke test; < 1 min on 2 idle cores).
#   --latency: latency for games instead (issue 22, item 4): the CLI per backend and thread count (LATENCY_THREADS,
#            default 1,2) at batch 1 with the bundle's default sampler: load -> first image, and per image; its own
#            section of docs/benchmarks.md and docs/benchmarks-latency.json.
# env: STEPS (30), BATCHES (1,16,64), REPEATS (5), THREADS (2), BUNDLE (onnx/models/mnist), ONLY (config keys),
#      DINOF_PROFILE (release; debug with --quick), OUT_MD, OUT_JSON, DINOF_CACHE.
# The full run builds the release binaries (cargo build --release: thin LTO) and takes ~15 min on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=0 LATENCY=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        --latency) LATENCY=1 ;;
        *) echo "usage: scripts/bench.sh [--latency] [--quick]" >&2; exit 2 ;;
    esac
done
VENV="${DINOF_CACHE:-$HOME/.cache/dinof}/venv"
bash scripts/setup-python.sh >/dev/null
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$(bash scripts/fetch-onnxruntime.sh)}"

if [ $QUICK = 1 ]; then
    PROFILE="${DINOF_PROFILE:-debug}"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    # One thread: a smoke test must not depend on two idle cores (PyTorch's two OpenMP threads on a busy machine
    # run ~10x slower than one).
    THREADS="${THREADS:-1}"
    set -- --steps "${STEPS:-2}" --batches "${BATCHES:-1,2}" --repeats "${REPEATS:-1}" \
        --markdown "${OUT_MD:-$tmp/benchmarks.md}" --json "${OUT_JSON:-$tmp/benchmarks.json}"
else
    PROFILE="${DINOF_PROFILE:-release}"
    set -- --steps "${STEPS:-30}" --batches "${BATCHES:-1,16,64}" --repeats "${REPEATS:-5}" \
        --markdown "${OUT_MD:-docs/benchmarks.md}" --json "${OUT_JSON:-docs/benchmarks.json}"
fi
if [ $LATENCY = 1 ]; then
    json_out="${OUT_JSON:-docs/benchmarks-latency.json}"; [ $QUICK = 1 ] && json_out="$tmp/latency.json"
    set -- "$@" --latency "${LATENCY_THREADS:-$([ $QUICK = 1 ] && echo 1 || echo 1,2)}" \
        --latency-n "$([ $QUICK = 1 ] && echo 2 || echo 8)" --json "$json_out"
fi
# The command as run, with the knobs that were set, for the report.
command="scripts/bench.sh"; [ $LATENCY = 1 ] && command+=" --latency"; [ $QUICK = 1 ] && command+=" --quick"
for v in STEPS BATCHES REPEATS THREADS BUNDLE ONLY DINOF_PROFILE LATENCY_THREADS; do
    [ -n "${!v:-}" ] && command="$v=${!v} $command"
done
set -- "$@" --command "$command"
profile_flag=(); [ "$PROFILE" = release ] && profile_flag=(--release)
echo "building the $PROFILE binaries (dinof CLI, libdinof) with --features ort" >&2
cargo build --quiet --locked "${profile_flag[@]}" --features ort --bin dinof --lib
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
lib="$target_dir/$PROFILE"
mkdir -p "$target_dir/bench"
bench_c="$target_dir/bench/bench_c-$PROFILE"
gcc -std=c11 -O2 -Wall -Wextra -Werror -Iinclude bench/bench_c.c -o "$bench_c" -L"$lib" -Wl,-rpath,"$lib" -ldinof -lm

exec "$VENV/bin/python" bench/bench.py --dinof "$lib/dinof" --bench-c "$bench_c" --python "$VENV/bin/python" \
    --bundle "${BUNDLE:-onnx/models/mnist}" --threads "${THREADS:-2}" --only "${ONLY:-}" \
    --build "$PROFILE build, --features ort; bench/bench_c.c with gcc -O2" "$@"
