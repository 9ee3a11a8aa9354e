#!/usr/bin/env bash
# Measures the README's first command as a newcomer meets it: a fresh clone of this repository's HEAD, an empty
# cargo registry (CARGO_HOME), an empty target dir and an empty dinof cache, then
#     cargo run -- sample --bundle onnx/models/mnist --n 64 --seed 1 --out grid.png
# timed in two parts: the cold build (crates downloaded from crates.io and compiled) and the sampling run. Prints
# both in seconds with the machine's CPU model and core count. Needs network access to crates.io; uses a new
# temporary directory that it removes afterwards (KEEP=1 keeps it).
# env: REV (commit to measure, default HEAD), BUILD_ARGS (e.g. --release, to compare profiles).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/dinof-quick-start.XXXXXX")"
[[ "${KEEP:-0}" == 1 ]] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work/cargo" "$work/target" "$work/cache"
git clone --quiet "$ROOT" "$work/repo"
cd "$work/repo"
git checkout --quiet "${REV:-HEAD}"
read -r -a build_args <<<"${BUILD_ARGS:-}"
export CARGO_HOME="$work/cargo" CARGO_TARGET_DIR="$work/target" DINOF_CACHE="$work/cache"
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"

# Wall and CPU seconds of each part (CPU time shows how far other load on the machine stretched the wall time).
TIMEFORMAT='%R %U %S'
{ time cargo build --quiet "${build_args[@]}" 2>&1 >&3; } 3>&1 2>"$work/build.time"
{ time cargo run --quiet "${build_args[@]}" -- sample --bundle onnx/models/mnist --n 64 --seed 1 --out "$work/grid.png" \
    2>&1 | tail -n 2 >&3; } 3>&1 2>"$work/run.time"
read -r bw bu bs <"$work/build.time"
read -r rw ru rs <"$work/run.time"
awk -v bw="$bw" -v bc="$(awk -v u="$bu" -v s="$bs" 'BEGIN {print u + s}')" -v rw="$rw" \
    -v rc="$(awk -v u="$ru" -v s="$rs" 'BEGIN {print u + s}')" -v cpu="$cpu" -v n="$(nproc)" -v rev="$(git rev-parse --short HEAD)" -v args="${BUILD_ARGS:+ $BUILD_ARGS}" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
    printf "quick start (%s%s) on %s (%d cores), empty caches:\n", rev, args, cpu, n
    printf "  build    %4.0f s wall (%.1f min), %4.0f s CPU\n", bw, bw / 60, bc
    printf "  sampling %4.0f s wall (%.1f min), %4.0f s CPU\n", rw, rw / 60, rc
    printf "  load average at the end: %s\n", load }'
