#!/usr/bin/env bash
# Set up the pinned Python env (no-op when current) and run the onnx/ test-suite and the analytic-fixture checks
# (tests/fixtures). Extra args go to pytest.
# "No tests collected" (pytest exit 5) counts as a failure.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup-python.sh" || exit $?
VENV="${DINOF_CACHE:-$HOME/.cache/dinof}/venv"
cd "$ROOT/onnx"
"$VENV/bin/python" -m pytest -q "$@" tests ../tests/fixtures
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
