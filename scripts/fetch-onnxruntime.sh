#!/usr/bin/env bash
# Fetches a pinned libonnxruntime for dinof's `ort` backend and prints the library's path on stdout (all progress
# goes to stderr), so that
#     export ORT_DYLIB_PATH="$(bash scripts/fetch-onnxruntime.sh)"
# works. The library comes from the PyPI wheel (onnxruntime, or onnxruntime-gpu with --gpu), which ships the plain C
# library next to its Python module; pip is the only client needed and the one registry this project reaches.
# Idempotent: a version already unpacked in ${DINOF_CACHE:-$HOME/.cache/dinof}/onnxruntime/ is reused at once.
#
# usage: fetch-onnxruntime.sh [VERSION | --oldest] [--gpu]
#   VERSION  ONNX Runtime release (default: the pinned one below)
#   --oldest the oldest release the tests run against (below)
#   --gpu    onnxruntime-gpu: also unpacks the CUDA and TensorRT provider libraries (hundreds of MB); they need
#            CUDA, cuDNN and TensorRT on the machine at run time (docs/onnxruntime.md)
set -euo pipefail

# The version the tests run against: the newest release tested, the same as the Python venv's onnxruntime
# (onnx/requirements.txt). scripts/test.sh runs the ONNX Runtime tests a second time against OLDEST_TESTED, the
# oldest release whose wheel ships the C library (dinof's build accepts 1.17 and later; docs/onnxruntime.md,
# "Version policy"). `fetch-onnxruntime.sh --oldest` fetches that one.
PINNED=1.32.0
OLDEST_TESTED=1.19.2

die() { echo "fetch-onnxruntime: $*" >&2; exit 1; }

version="$PINNED"
gpu=0
for arg in "$@"; do
    case "$arg" in
        --gpu) gpu=1 ;;
        --oldest) version="$OLDEST_TESTED" ;;
        -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
        -*) die "unknown option $arg (usage: fetch-onnxruntime.sh [VERSION | --oldest] [--gpu])" ;;
        *) [[ "$arg" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "VERSION must look like 1.23.2, got '$arg'"; version="$arg" ;;
    esac
done

pkg=onnxruntime
suffix=""
if [[ $gpu == 1 ]]; then pkg=onnxruntime-gpu; suffix="-gpu"; fi
dest="${DINOF_CACHE:-$HOME/.cache/dinof}/onnxruntime/$version$suffix"
lib="$dest/libonnxruntime.so.$version"

# Fast path: the marker is written last, so its presence means a complete unpack.
if [[ -f "$dest/.complete" && -f "$lib" ]]; then
    echo "$lib"
    exit 0
fi

[[ "$(uname -s)" == Linux ]] || die "only Linux wheels are unpacked here; on $(uname -s) take libonnxruntime from the official release archive (docs/onnxruntime.md)"
arch="$(uname -m)"
case "$arch" in
    x86_64 | aarch64) ;;
    *) die "no onnxruntime wheel for $arch" ;;
esac
command -v python3 >/dev/null || die "python3 (with pip) is needed to download the wheel"

mkdir -p "$(dirname "$dest")"
tmp="$(mktemp -d "$dest.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# The C library inside the wheel does not depend on the Python version, so ask for one fixed wheel tag: the same
# file is fetched whatever python3 this machine has. manylinux tags cover the releases from 1.17 to today.
platforms=()
for tag in manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014; do platforms+=(--platform "${tag}_$arch"); done
echo "fetch-onnxruntime: downloading $pkg==$version from PyPI ..." >&2
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version 3.11 --implementation cp "${platforms[@]}" -d "$tmp/wheel" "$pkg==$version" >&2 \
    || die "pip could not download $pkg==$version (is the version right? is PyPI reachable?)"

wheel=("$tmp"/wheel/*.whl)
[[ -f "${wheel[0]}" ]] || die "pip downloaded no wheel for $pkg==$version"
# Only the C libraries (core + provider libraries for --gpu), not the Python extension module.
python3 - "${wheel[0]}" "$tmp/lib" <<'EOF' >&2
import os, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
os.makedirs(out)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if name.startswith("onnxruntime/capi/") and base.startswith("libonnxruntime"):
            with z.open(name) as src, open(os.path.join(out, base), "wb") as dst:
                dst.write(src.read())
            print("fetch-onnxruntime: unpacked", base)
EOF
[[ -f "$tmp/lib/libonnxruntime.so.$version" ]] \
    || die "the $pkg $version wheel holds no onnxruntime/capi/libonnxruntime.so.$version (wheels before 1.19 do not ship the C library)"

rm -rf "$dest"
mv "$tmp/lib" "$dest"
touch "$dest/.complete"
echo "$lib"
