#!/usr/bin/env bash
# Builds the dinof library for this machine and lays it out for the Unreal plugin (Epic's ThirdParty layout):
#   bindings/unreal/Dinof/Source/ThirdParty/DinofLibrary/include/   dinof.h, dinof.hpp
#   bindings/unreal/Dinof/Binaries/ThirdParty/DinofLibrary/<Linux|Win64|Mac>/   libdinof.so | dinof.dll | libdinof.dylib
#   bindings/unreal/Dinof/Source/ThirdParty/DinofLibrary/lib/Win64/dinof.dll.lib   (Windows import library)
# None of these copies is committed (.gitignore). Then copy bindings/unreal/Dinof into your project's Plugins/.
#
# Usage: scripts/package-unreal.sh [--debug] [--no-build] [--ort]   (options as scripts/package-unity.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/engine-library.sh "$@"
plugin=bindings/unreal/Dinof
third=$plugin/Source/ThirdParty/DinofLibrary
mkdir -p "$third/include" "$plugin/Binaries/ThirdParty/DinofLibrary/$unreal_dir"
cp include/dinof.h bindings/cpp/dinof.hpp "$third/include/"
copy_library "$plugin/Binaries/ThirdParty/DinofLibrary/$unreal_dir/$lib_name"
if [ "$unreal_dir" = Win64 ]; then
    mkdir -p "$third/lib/Win64"
    cp "$(dirname "$lib_path")/dinof.dll.lib" "$third/lib/Win64/"
fi
echo "laid out $lib_path and the headers in $plugin"
