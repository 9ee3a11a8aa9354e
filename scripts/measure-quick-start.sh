#!/usr/bin/env bash
# Measures the README's first command as a newcomer meets it: a fresh clone of this repository's HEAD, an empty
# cargo registry (CARGO_HOME), an empty target dir and an empty dinof cache, then
#     cargo run -- sample --bundle onnx/models/mnist --n 64 --seed 1 --steps 200 --out grid.png
# timed in two parts: the cold build (crates downloaded from crates.io and compiled) and the sampling run. Prints
# both in seconds with the machine's CPU model and core count. Needs network access to crates.io; uses a new
# temporary directory that it removes afterwards (KEEP=1 keeps it).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/dinof-quick-start.XXXXXX")"
[[ "${KEEP:-0}" == 1 ]] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work/cargo" "$work/target" "$work/cache"
git clone --quiet "$ROOT" "$work/repo"
cd "$work/repo"
export CARGO_HOME="$work/cargo" CARGO_TARGET_DIR="$work/target" DINOF_CACHE="$work/cache"
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"

t0=$(date +%s.%N)
cargo build --quiet 2>&1
t1=$(date +%s.%N)
cargo run --quiet -- sample --bundle onnx/models/mnist --n 64 --seed 1 --steps 200 --out "$work/grid.png" 2>&1 | tail -n 3
t2=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v cpu="$cpu" -v n="$(nproc)" 'BEGIN {
    printf "quick start on %s (%d cores), empty caches: build %.0f s (%.1f min), sampling %.0f s (%.1f min)\n",
        cpu, n, b - a, (b - a) / 60, c - b, (c - b) / 60 }'
