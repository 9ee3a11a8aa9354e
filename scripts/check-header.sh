#!/usr/bin/env bash
# Fails when include/dinof.h is not what build.rs (cbindgen) generates from src/ffi/: a public C signature changed
# without the header being regenerated and committed. Fix: run `cargo build` and commit include/dinof.h.
set -euo pipefail
cd "$(dirname "$0")/.."
# Same features as scripts/test-c.sh (ort when ORT_DYLIB_PATH is set), so the check does not rebuild for them too.
features=()
if [ -n "${ORT_DYLIB_PATH:-}" ]; then features=(--features ort); fi
if DINOF_CHECK_HEADER=1 cargo build --locked --lib "${features[@]}"; then
    echo "include/dinof.h is up to date"
else
    echo "include/dinof.h is stale or the build failed (see above)" >&2
    exit 1
fi
