#!/usr/bin/env bash
# Set up the pinned Python env (no-op when current) and run the onnx/ test-suite and the analytic-fixture checks
# (tests/fixtures). Extra args go to pytest. Builds the dinof CLI first unless DINOF_BIN is set. Under CI=true a
# skipped test is a failure (onnx/tests/conftest.py).
# "No tests collected" (pytest exit 5) counts as a failure.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup-python.sh" || exit $?
VENV="${DINOF_CACHE:-$HOME/.cache/dinof}/venv"
# The Python-vs-Rust agreement test (onnx/tests/test_sample.py) needs the CLI: build it unless DINOF_BIN names one
# (scripts/test.sh passes the one its Rust tests built), so that it runs on a fresh clone and never picks up a stale
# binary. Same features as scripts/test-c.sh, so nothing is rebuilt for them.
if [ -z "${DINOF_BIN:-}" ]; then
  features=()
  if [ -n "${ORT_DYLIB_PATH:-}" ]; then features=(--features ort); fi
  (cd "$ROOT" && cargo build --locked --bin dinof "${features[@]}") || { echo "cargo build --bin dinof failed" >&2; exit 1; }
  target_dir=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  export DINOF_BIN="$target_dir/debug/dinof"
fi
cd "$ROOT/onnx"
"$VENV/bin/python" -m pytest -q "$@" tests ../tests/fixtures
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
