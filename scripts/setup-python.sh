#!/usr/bin/env bash
# Create (once) the Python venv for onnx/ at ${DINOF_CACHE:-$HOME/.cache/dinof}/venv, install the pinned
# requirements and the dinof_train package in editable mode. A stamp keyed on the requirement files makes a
# second run a fast no-op.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${DINOF_CACHE:-$HOME/.cache/dinof}"
VENV="$CACHE/venv"
PY="${PYTHON:-python3}"
mkdir -p "$CACHE"
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating venv $VENV"
  "$PY" -m venv "$VENV"
fi
key="$(cat "$ROOT/onnx/requirements.txt" "$ROOT/onnx/pyproject.toml" | sha256sum | cut -d' ' -f1) $ROOT"
stamp="$VENV/.dinof-setup"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ] \
   && "$VENV/bin/python" -c "import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in
       ('dinof_train', 'torch', 'onnx', 'onnxruntime', 'pytest')))" 2>/dev/null; then
  exit 0
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/onnx/requirements.txt"
# Editable install without build isolation: uses the venv's setuptools, no extra download.
if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps \
      -e "$ROOT/onnx" 2>/dev/null; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e "$ROOT/onnx"
fi
echo "$key" > "$stamp"
echo "python env ready: $VENV"
