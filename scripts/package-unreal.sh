#!/usr/bin/env bash
# Builds the dinof library for this machine and lays it out for the Unreal plugin (Epic's ThirdParty layout); the
# other platforms the plugin declares (Win64) come from scripts/build-platforms.sh's archive trees in dist/ when built:
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
# Win64 from the cross build: the DLL, and the MSVC-format import library (made by llvm-dlltool from the DLL's
# exports; scripts/build-platforms.sh) that the plugin's Build.cs links.
if [ "$unreal_dir" != Win64 ]; then
    dll=$(dist_library x86_64-pc-windows-gnu bin/dinof.dll)
    implib=$(dist_library x86_64-pc-windows-gnu lib/dinof.dll.lib)
    if [ -n "$dll" ] && [ -n "$implib" ]; then
        mkdir -p "$plugin/Binaries/ThirdParty/DinofLibrary/Win64" "$third/lib/Win64"
        cp "$dll" "$plugin/Binaries/ThirdParty/DinofLibrary/Win64/"
        cp "$implib" "$third/lib/Win64/"
        echo "laid out $dll and $implib (Win64)"
    else
        echo "left Win64 as it is: no Windows build with an MSVC import library in dist/ (scripts/build-platforms.sh)"
    fi
fi
