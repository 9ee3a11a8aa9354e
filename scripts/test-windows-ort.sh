#!/usr/bin/env bash
# Issue 23, item 2: dinof's ONNX Runtime backend on Windows x64, under wine. Builds dinof.dll with --features ort for
# x86_64-pc-windows-gnu, cross-compiles tests/c/test_ort.c against it with mingw-w64, and runs it under wine with
# ORT_DYLIB_PATH naming onnxruntime.dll from PyPI's win_amd64 wheel (the version scripts/fetch-onnxruntime.sh pins for
# Linux). Opt-in and slow (the cross build compiles tract and ort for Windows: ~10 min on 2 idle cores); prints what
# it did and "Windows ONNX Runtime backend: PASS" or FAIL with the program's output; exits non-zero on failure.
# Environment: DINOF_CACHE (wine prefix, wheel), CARGO_TARGET_DIR, ORT_VERSION (default: the pinned one).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cache="${DINOF_CACHE:-$HOME/.cache/dinof}"
triple=x86_64-pc-windows-gnu
cc=x86_64-w64-mingw32-gcc
version="${ORT_VERSION:-$(sed -n 's/^PINNED=//p' scripts/fetch-onnxruntime.sh)}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
out="$target_dir/windows-ort"
mkdir -p "$out"

# onnxruntime.dll from the wheel (a zip): onnxruntime/capi/onnxruntime.dll and the providers' shared DLL.
wheel_dir="$cache/onnxruntime-win/$version"
if [ ! -f "$wheel_dir/onnxruntime.dll" ]; then
    mkdir -p "$wheel_dir/wheel"
    "$cache/venv/bin/python" -m pip download --quiet --no-deps --platform win_amd64 --only-binary :all: \
        "onnxruntime==$version" -d "$wheel_dir/wheel"
    "$cache/venv/bin/python" - "$wheel_dir" <<'PY'
import pathlib, sys, zipfile
d = pathlib.Path(sys.argv[1])
with zipfile.ZipFile(next((d / "wheel").glob("*.whl"))) as z:
    for name in z.namelist():
        if name.startswith("onnxruntime/capi/") and name.endswith(".dll"):
            (d / pathlib.Path(name).name).write_bytes(z.read(name))
PY
fi
echo "onnxruntime.dll $version (PyPI win_amd64 wheel): $wheel_dir"

up=$(echo "$triple" | tr 'a-z-' 'A-Z_')
export "CARGO_TARGET_${up}_LINKER=$cc" "CC_${triple//-/_}=$cc" "AR_${triple//-/_}=${cc%gcc}ar"
t0=$(date +%s)
cargo build --locked --release --lib --target "$triple" --features ort
echo "cross build (--features ort): $(( $(date +%s) - t0 )) s"
cp "$target_dir/$triple/release/dinof.dll" "$out/"
# mingw's ld links against a DLL directly; winpthreads static, so the program needs no MinGW runtime DLL.
"$cc" -O1 -std=c11 -Iinclude -Itests/c tests/c/test_ort.c -o "$out/test_ort.exe" "$out/dinof.dll" \
    -static-libgcc -Wl,-Bstatic -lpthread -Wl,-Bdynamic

wine=$(command -v wine64 || command -v wine || { [ -x /usr/lib/wine/wine64 ] && echo /usr/lib/wine/wine64; } || true)
[ -n "$wine" ] || { echo "wine not installed (apt-get install wine64; scripts/test-windows.sh installs it)" >&2; exit 1; }
export WINEPREFIX="$cache/wine-prefix" WINEDEBUG="${WINEDEBUG:--all}" WINEDLLOVERRIDES="mscoree,mshtml="
[ -f "$WINEPREFIX/system.reg" ] || "$wine" wineboot -i >/dev/null 2>&1
# wine < 9 lacks bcryptprimitives.dll (Rust's std imports ProcessPrng from it): the test-only shim of test-cross.sh.
if [ ! -f "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" ]; then
    "$cc" -O2 -shared -o "$out/bcryptprimitives.dll" tests/cross/bcryptprimitives_shim.c -ladvapi32
fi
winpath() { echo "Z:${1//\//\\}"; }
export DINOF_FIXTURES="$root/tests/fixtures/bundles" ORT_DYLIB_PATH
ORT_DYLIB_PATH="$(winpath "$wheel_dir/onnxruntime.dll")"
DINOF_FIXTURES="$(winpath "$DINOF_FIXTURES")"
if (cd "$out" && timeout 900 "$wine" ./test_ort.exe) >"$out/test_ort.log" 2>&1; then
    tail -n 3 "$out/test_ort.log"
    echo "Windows ONNX Runtime backend: PASS (test_ort.exe under $("$wine" --version 2>/dev/null), ORT $version)"
else
    rc=$?
    tail -n 30 "$out/test_ort.log"
    echo "Windows ONNX Runtime backend: FAIL (exit $rc; log $out/test_ort.log)"
    exit 1
fi
