#!/usr/bin/env bash
# Builds the dinof library for this machine and copies it into the Unity package's per-platform Plugins folder:
#   Linux x86_64 -> bindings/unity/Plugins/Linux/x86_64/libdinof.so
#   Windows x64  -> bindings/unity/Plugins/Windows/x86_64/dinof.dll      (run from Git Bash / MSYS2)
#   macOS        -> bindings/unity/Plugins/macOS/libdinof.dylib
# The .meta import settings beside them are committed; the libraries are not (Plugins/.gitignore). Run it on each
# platform you ship (or copy each platform's release library to its folder by hand).
#
# Usage: scripts/package-unity.sh [--debug] [--no-build] [--ort]
#   --debug     the debug build instead of the release build
#   --no-build  copy what the target directory already holds
#   --ort       build with the ONNX Runtime backend (ship libonnxruntime beside the game, or set OrtLibraryPath)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/engine-library.sh "$@"
dest=bindings/unity/Plugins/$unity_dir
mkdir -p "$dest"
copy_library "$dest/$lib_name"
echo "copied $lib_path -> $dest/$lib_name"
