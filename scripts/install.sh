#!/usr/bin/env bash
# Builds the dinof library and installs it for C/C++ users:
#   PREFIX/lib/libdinof.so  PREFIX/lib/libdinof.a
#   PREFIX/include/dinof.h  PREFIX/include/dinof.hpp
#   PREFIX/lib/pkgconfig/dinof.pc
#   PREFIX/lib/cmake/dinof/dinofConfig.cmake + dinofConfigVersion.cmake  (imported targets dinof::dinof, dinof::dinof_static)
#
# Usage: scripts/install.sh [--debug] [--no-build] [--keep-debug-info] PREFIX
#   --debug            install the debug build instead of the release build
#   --no-build         do not run cargo; install what the target directory holds
#   --keep-debug-info  do not strip debug info from the installed libraries
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
build=1
strip_debug=1
prefix=
while [ $# -gt 0 ]; do
    case "$1" in
        --debug) profile=debug ;;
        --no-build) build=0 ;;
        --keep-debug-info) strip_debug=0 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        -*) echo "install.sh: unknown option $1" >&2; exit 2 ;;
        *) prefix=$1 ;;
    esac
    shift
done
if [ -z "$prefix" ]; then
    echo "usage: scripts/install.sh [--debug] [--no-build] [--keep-debug-info] PREFIX" >&2
    exit 2
fi
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)

if [ "$build" = 1 ]; then
    # The library alone: without the `cli` feature (clap, png, indicatif: the command-line tool's), which would
    # otherwise be compiled into libdinof.a (docs/library-size.md).
    lib_features=(--no-default-features --features tract)
    if [ "$profile" = release ]; then cargo build --lib --release "${lib_features[@]}"; else cargo build --lib "${lib_features[@]}"; fi
fi
# Ask cargo where the build went (CARGO_TARGET_DIR, a cargo config or a wrapper may move it).
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
libdir_src="$target_dir/$profile"
for f in libdinof.so libdinof.a; do
    [ -f "$libdir_src/$f" ] || { echo "install.sh: $libdir_src/$f not found (build first)" >&2; exit 1; }
done

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
abi=$(sed -n 's/^#define DINOF_ABI_VERSION \([0-9]*\).*/\1/p' include/dinof.h)
# What a C program linking libdinof.a also needs (rustc --print native-static-libs, Linux), and noexecstack because
# tract's assembly kernels carry no .note.GNU-stack section (the linker would otherwise make the stack executable).
static_libs="-lpthread -ldl -lm -Wl,-z,noexecstack"

mkdir -p "$prefix/lib/pkgconfig" "$prefix/lib/cmake/dinof" "$prefix/include"
install_lib() {
    if [ "$strip_debug" = 1 ] && command -v strip >/dev/null; then
        strip --strip-debug -o "$2" "$1"
        chmod "$3" "$2"
    else
        install -m "$3" "$1" "$2"
    fi
}
install_lib "$libdir_src/libdinof.so" "$prefix/lib/libdinof.so" 0755
install_lib "$libdir_src/libdinof.a" "$prefix/lib/libdinof.a" 0644
install -m 0644 include/dinof.h "$prefix/include/dinof.h"
install -m 0644 bindings/cpp/dinof.hpp "$prefix/include/dinof.hpp"

cat > "$prefix/lib/pkgconfig/dinof.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: dinof
Description: Generate images with DiNof models (diffusion with a normalizing-flow prior)
Version: $version
Libs: -L\${libdir} -ldinof
Libs.private: $static_libs
Cflags: -I\${includedir}
PC

cat > "$prefix/lib/cmake/dinof/dinofConfig.cmake" <<'CMAKE'
# dinof CMake package (installed by scripts/install.sh). find_package(dinof) provides:
#   dinof::dinof         the shared library (libdinof.so) with its include directory
#   dinof::dinof_static  the static library (libdinof.a) and the system libraries it needs
get_filename_component(_dinof_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT TARGET dinof::dinof)
    add_library(dinof::dinof SHARED IMPORTED)
    set_target_properties(dinof::dinof PROPERTIES
        IMPORTED_LOCATION "${_dinof_prefix}/lib/libdinof.so"
        IMPORTED_SONAME "libdinof.so"
        INTERFACE_INCLUDE_DIRECTORIES "${_dinof_prefix}/include")
endif()
if(NOT TARGET dinof::dinof_static)
    set(THREADS_PREFER_PTHREAD_FLAG ON)
    find_package(Threads REQUIRED)
    add_library(dinof::dinof_static STATIC IMPORTED)
    set_target_properties(dinof::dinof_static PROPERTIES
        IMPORTED_LOCATION "${_dinof_prefix}/lib/libdinof.a"
        INTERFACE_INCLUDE_DIRECTORIES "${_dinof_prefix}/include"
        INTERFACE_COMPILE_DEFINITIONS "DINOF_STATIC"
        INTERFACE_LINK_LIBRARIES "Threads::Threads;${CMAKE_DL_LIBS};m"
        # tract's assembly kernels carry no .note.GNU-stack section; keep the stack non-executable anyway.
        INTERFACE_LINK_OPTIONS "LINKER:-z,noexecstack")
endif()
unset(_dinof_prefix)
CMAKE

. scripts/cmake-config-version.sh  # the working directory is the repository root (above)
write_cmake_config_version "$prefix/lib/cmake/dinof/dinofConfigVersion.cmake" "$version" "$abi"

echo "installed dinof $version (ABI $abi, $profile build) into $prefix"
