#!/usr/bin/env bash
# Cross-builds the dinof library (release, tract backend) for the platforms game engines run on, and packs each one
# with the header, the C++ wrapper, a pkg-config file and a CMake package into dist/ (gitignored):
#   dist/dinof-VERSION-x86_64-pc-windows-gnu.tar.gz     bin/dinof.dll  lib/libdinof.dll.a (GNU import library)
#       lib/dinof.def, lib/dinof.dll.lib (MSVC import library, when llvm-dlltool is installed)
#       lib/libdinof.a (static, for MinGW: define DINOF_STATIC)
#   dist/dinof-VERSION-aarch64-unknown-linux-gnu.tar.gz  lib/libdinof.so  lib/libdinof.a
# each with include/dinof.h, include/dinof.hpp, lib/pkgconfig/dinof.pc, lib/cmake/dinof/dinofConfig*.cmake.
# The unpacked trees stay beside the archives (dist/dinof-VERSION-TRIPLE/); scripts/package-unity.sh and
# scripts/package-unreal.sh take the engine libraries from them.
#
# Usage: scripts/build-platforms.sh [TRIPLE...]   (default: x86_64-pc-windows-gnu aarch64-unknown-linux-gnu)
# Installs what it lacks: the Rust targets (rustup target add) and, as root with apt-get, the cross toolchains
# (mingw-w64, gcc-aarch64-linux-gnu). Cargo runs under `nice -n 19`: a cold cross build is minutes of CPU.
#
# Not built here (their SDKs are not installable on Linux); the names this script would use are ready in
# platform_of below and docs/platforms.md says how to build them on their own hosts:
#   x86_64-apple-darwin / aarch64-apple-darwin   libdinof.dylib  (Xcode; Unity Plugins/macOS, Unreal Mac)
#   aarch64-apple-ios                            libdinof.a      (Xcode; static only: iOS apps link statically)
#   aarch64-linux-android                        libdinof.so     (Android NDK: CARGO_TARGET_..._LINKER=aarch64-linux-android24-clang)
# x86_64-pc-windows-msvc (dinof.dll + dinof.dll.lib) needs the MSVC linker: build it on Windows with `cargo build
# --release --lib`; the windows-gnu DLL built here has the same exports and C ABI and needs no MinGW runtime DLL.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cmake-config-version.sh
root=$PWD

triples=("$@")
[ ${#triples[@]} -gt 0 ] || triples=(x86_64-pc-windows-gnu aarch64-unknown-linux-gnu)

# platform_of TRIPLE: sets cc (the C cross compiler, also the linker), apt_pkg, shared/implib/static (file names
# cargo gives the libraries), shared_dir (bin on Windows: DLLs sit beside programs), static_libs (what a C program
# linking the static library also needs: `rustc --print native-static-libs` for that target).
platform_of() {
    case "$1" in
        x86_64-pc-windows-gnu)
            cc=x86_64-w64-mingw32-gcc apt_pkg=mingw-w64
            shared=dinof.dll implib=libdinof.dll.a static=libdinof.a shared_dir=bin
            static_libs="-lkernel32 -lntdll -luserenv -lws2_32 -ldbghelp" ;;
        aarch64-unknown-linux-gnu)
            cc=aarch64-linux-gnu-gcc apt_pkg="gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
            shared=libdinof.so implib= static=libdinof.a shared_dir=lib
            static_libs="-lpthread -ldl -lm -Wl,-z,noexecstack" ;;
        x86_64-unknown-linux-gnu)
            cc=gcc apt_pkg=
            shared=libdinof.so implib= static=libdinof.a shared_dir=lib
            static_libs="-lpthread -ldl -lm -Wl,-z,noexecstack" ;;
        *) echo "build-platforms.sh: $1 is not built by this script (see its header for macOS/iOS/Android)" >&2
           return 1 ;;
    esac
}

# Cargo's environment for a cross target: the linker and the C compiler (tract-linalg assembles its kernels with
# the cc crate) by their Debian names.
cross_env() {
    local up
    up=$(echo "$1" | tr 'a-z-' 'A-Z_')
    export "CARGO_TARGET_${up}_LINKER=$cc" "CC_$(echo "$1" | tr '-' '_')=$cc" "AR_$(echo "$1" | tr '-' '_')=${cc%gcc}ar"
    [ "$cc" = gcc ] && export "AR_$(echo "$1" | tr '-' '_')=ar"
    return 0
}

ensure_tools() {
    if ! rustup target list --installed 2>/dev/null | grep -qx "$1"; then
        echo "rustup target add $1"
        rustup target add "$1"
    fi
    if ! command -v "$cc" >/dev/null; then
        if [ -n "$apt_pkg" ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
            echo "installing $apt_pkg (apt-get)"
            # shellcheck disable=SC2086
            apt-get install -y --no-install-recommends $apt_pkg >/dev/null ||
                { apt-get update >/dev/null && apt-get install -y --no-install-recommends $apt_pkg >/dev/null; }
        fi
        command -v "$cc" >/dev/null || { echo "build-platforms.sh: $cc not found: install $apt_pkg" >&2; return 1; }
    fi
}

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
abi=$(sed -n 's/^#define DINOF_ABI_VERSION \([0-9]*\).*/\1/p' include/dinof.h)
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
mkdir -p dist

for triple in "${triples[@]}"; do
    platform_of "$triple"
    ensure_tools "$triple"
    (
        cross_env "$triple"
        echo "== cargo build --release --lib --target $triple"
        # bash's `time`: wall and CPU seconds (user, system) of cargo and everything it ran.
        TIMEFORMAT="built $triple: %R s wall, %U s user + %S s system CPU"
        time nice -n 19 cargo build --locked --release --lib --target "$triple"
    )
    src="$target_dir/$triple/release"
    name="dinof-$version-$triple"
    tree="dist/$name"
    rm -rf "$tree"
    mkdir -p "$tree/$shared_dir" "$tree/lib/pkgconfig" "$tree/lib/cmake/dinof" "$tree/include"
    strip_tool=${cc%gcc}strip
    [ "$cc" = gcc ] && strip_tool=strip
    # Debug info is most of a release library's size; users debugging dinof itself build it themselves.
    "$strip_tool" --strip-debug -o "$tree/$shared_dir/$shared" "$src/$shared"
    # The static library as built: rustc's archive holds section-less members (.dwo) that strip refuses.
    cp "$src/$static" "$tree/lib/$static"
    if [ -n "$implib" ]; then
        cp "$src/$implib" "$tree/lib/$implib"
        # MSVC users (Unity's editor needs none; Unreal links an import library): the module-definition file of the
        # DLL's exports, and from it an MSVC-format import library when llvm-dlltool is at hand (Debian's `llvm`).
        # Without it: `lib /def:dinof.def /machine:x64 /out:dinof.dll.lib` in a Visual Studio prompt.
        { echo "LIBRARY dinof.dll"; echo "EXPORTS"
          "${cc%gcc}objdump" -p "$src/$shared" | sed -n '/\[Ordinal\/Name Pointer\] Table/,/^$/p' |
              sed -n 's/^\s*\[ *[0-9]*\] \(dinof_[A-Za-z0-9_]*\)$/    \1/p'; } >"$tree/lib/dinof.def"
        if command -v llvm-dlltool >/dev/null; then
            llvm-dlltool -m i386:x86-64 -d "$tree/lib/dinof.def" -l "$tree/lib/dinof.dll.lib"
        else
            echo "note: llvm-dlltool not found: no MSVC-format dinof.dll.lib (lib/dinof.def is there to make one)"
        fi
    fi
    cp include/dinof.h bindings/cpp/dinof.hpp "$tree/include/"
    cp LICENSE* "$tree/" 2>/dev/null || true

    cat >"$tree/lib/pkgconfig/dinof.pc" <<PC
prefix=\${pcfiledir}/../..
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: dinof
Description: Generate images with DiNof models (diffusion with a normalizing-flow prior), $triple
Version: $version
Libs: -L\${libdir} -ldinof
Libs.private: $static_libs
Cflags: -I\${includedir}
PC
    if [ "$shared_dir" = bin ]; then
        imported="IMPORTED_LOCATION \"\${_dinof_prefix}/bin/$shared\"
        IMPORTED_IMPLIB \"\${_dinof_prefix}/lib/$implib\""
    else
        imported="IMPORTED_LOCATION \"\${_dinof_prefix}/lib/$shared\"
        IMPORTED_SONAME \"$shared\""
    fi
    cmake_libs=$(echo "$static_libs" | sed 's/-Wl,-z,noexecstack//; s/-l\([a-z0-9_]*\)/\1/g; s/  */;/g; s/;$//')
    cat >"$tree/lib/cmake/dinof/dinofConfig.cmake" <<CMAKE
# dinof CMake package for $triple (scripts/build-platforms.sh). find_package(dinof) provides:
#   dinof::dinof         the shared library with its include directory
#   dinof::dinof_static  the static library (compiled with DINOF_STATIC) and the system libraries it needs
get_filename_component(_dinof_prefix "\${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT TARGET dinof::dinof)
    add_library(dinof::dinof SHARED IMPORTED)
    set_target_properties(dinof::dinof PROPERTIES
        $imported
        INTERFACE_INCLUDE_DIRECTORIES "\${_dinof_prefix}/include")
endif()
if(NOT TARGET dinof::dinof_static)
    add_library(dinof::dinof_static STATIC IMPORTED)
    set_target_properties(dinof::dinof_static PROPERTIES
        IMPORTED_LOCATION "\${_dinof_prefix}/lib/$static"
        INTERFACE_INCLUDE_DIRECTORIES "\${_dinof_prefix}/include"
        INTERFACE_COMPILE_DEFINITIONS "DINOF_STATIC"
        INTERFACE_LINK_LIBRARIES "$cmake_libs")
endif()
unset(_dinof_prefix)
CMAKE
    write_cmake_config_version "$tree/lib/cmake/dinof/dinofConfigVersion.cmake" "$version" "$abi"
    tar -C dist -czf "dist/$name.tar.gz" "$name"
    echo "packed dist/$name.tar.gz:"
    (cd dist && find "$name" -type f | sort | sed 's/^/  /')
done
