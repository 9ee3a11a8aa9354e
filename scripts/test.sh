#!/usr/bin/env bash
# The whole test suite: Rust unit + integration tests, C/C++ ABI tests (with valgrind), Python tests.
# Installs what it needs into ${DINOF_CACHE:-$HOME/.cache/dinof} (outside the clone, reused between runs).
set -euo pipefail
cd "$(dirname "$0")/.."
export DINOF_CACHE="${DINOF_CACHE:-$HOME/.cache/dinof}"
# CARGO_TARGET_DIR: cargo's default (./target) unless set; .ci/run keeps it outside the clone.
mkdir -p "$DINOF_CACHE"

step() { printf '\n== %s ==\n' "$*"; }

step "Python environment"
bash scripts/setup-python.sh

step "Rust tests"
cargo test --locked --all-targets 2>&1

step "Python tests"
bash scripts/test-python.sh
