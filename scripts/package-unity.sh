#!/usr/bin/env bash
# Fills the Unity package's per-platform Plugins folders with the dinof library:
#   Linux x86_64 -> bindings/unity/Plugins/Linux/x86_64/libdinof.so
#   Windows x64  -> bindings/unity/Plugins/Windows/x86_64/dinof.dll
#   macOS        -> bindings/unity/Plugins/macOS/libdinof.dylib
# This machine's folder gets a fresh build; the others are filled from the archive trees of
# scripts/build-platforms.sh (dist/: Windows x64 is cross-built on Linux), or left as they are when that platform
# was not built (macOS: build on a Mac, or copy its release library by hand). The .meta import settings beside
# them are committed; the libraries are not (Plugins/.gitignore).
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
# The other declared platforms, from dist/ (unity folder, triple, file in the archive tree).
for spec in "Windows/x86_64 x86_64-pc-windows-gnu bin/dinof.dll" "Linux/x86_64 x86_64-unknown-linux-gnu lib/libdinof.so"; do
    set -- $spec
    [ "$1" != "$unity_dir" ] || continue
    from=$(dist_library "$2" "$3")
    if [ -n "$from" ]; then
        cp "$from" "bindings/unity/Plugins/$1/"
        echo "copied $from -> bindings/unity/Plugins/$1/"
    else
        echo "left bindings/unity/Plugins/$1 as it is: no $2 build in dist/ (scripts/build-platforms.sh $2)"
    fi
done
