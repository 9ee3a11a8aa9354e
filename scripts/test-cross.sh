#!/usr/bin/env bash
# The C test suite (tests/c, tract backend) against a cross-built library, run where it will run:
#   x86_64-pc-windows-gnu      compiled with mingw-w64, run under wine     (scripts/test-windows.sh)
#   aarch64-unknown-linux-gnu  compiled with aarch64-linux-gnu-gcc, run under qemu-user  (scripts/test-aarch64.sh)
# Each program is linked once against the shared library (dinof.dll through its import library / libdinof.so) and
# once against the static one, from the archive tree scripts/build-platforms.sh makes (dist/dinof-VERSION-TRIPLE/),
# so what is tested is what is shipped. Then the user example is built with the tree's pkg-config file, and the
# images of fixed seeds (tests/cross/dump_images.c) are compared with x86-64 Linux's (tests/cross/compare_images.py).
# Prints one line per test and, last, "TRIPLE C tests: N passed, M failed"; exits non-zero on any failure.
#
# Usage: scripts/test-cross.sh TRIPLE
# Environment: DINOF_SKIP_BUILD=1 (use dist/ as built), DINOF_IMAGE_TOLERANCE (compare_images.py's options, instead
# of the derived ones below), DINOF_FIXTURES / DINOF_MNIST / DINOF_FASHION (as
# scripts/test-c.sh), DINOF_REFERENCE_LIB (the x86-64 Linux libdinof.so's directory for the image reference;
# default: cargo's debug build, built here when missing), DINOF_CACHE (the wine prefix lives there).
# Installs (as root, with apt-get) what it lacks: wine64 or qemu-user, and the target's C/C++ cross compilers.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
triple=${1:?usage: scripts/test-cross.sh TRIPLE}
export DINOF_FIXTURES="${DINOF_FIXTURES:-$root/tests/fixtures/bundles}"
export DINOF_MNIST="${DINOF_MNIST:-$root/onnx/models/mnist}"
export DINOF_FASHION="${DINOF_FASHION:-$root/onnx/models/fashion-cond}"
cache="${DINOF_CACHE:-$HOME/.cache/dinof}"

apt_install() { # PACKAGE...: as root with apt-get, quietly; false when that is not possible
    command -v apt-get >/dev/null && [ "$(id -u)" = 0 ] || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1 ||
        { apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1; }
}

case "$triple" in
    x86_64-pc-windows-gnu)
        cc=x86_64-w64-mingw32-gcc cxx=x86_64-w64-mingw32-g++ exe=.exe tools=(mingw-w64 wine64)
        # winpthreads linked statically: the programs need no MinGW runtime DLL beside them (dinof.dll needs none).
        ldextra=(-static-libgcc -Wl,-Bstatic -lpthread -Wl,-Bdynamic)
        # What libdinof.a needs (rustc --print native-static-libs for this target).
        static_libs=(-lkernel32 -ladvapi32 -lntdll -luserenv -lws2_32 -ldbghelp -lbcrypt) ;;
    aarch64-unknown-linux-gnu)
        cc=aarch64-linux-gnu-gcc cxx=aarch64-linux-gnu-g++ exe= tools=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
        ldextra=(-pthread -lm)
        static_libs=(-lpthread -ldl -lm -Wl,-z,noexecstack) ;;
    *) echo "test-cross.sh: no runner for $triple" >&2; exit 2 ;;
esac

# Images against x86-64 Linux: close, not bit-identical. Rust's sin/cos/exp/ln/powf (tract's Sin, Cos, Exp, Log
# ops; the VE schedule's powf) call the platform's C math library, which is not correctly rounded: mingw-w64's
# differs from glibc's in the last bit for 0.05-1.4% of arguments (docs/platforms.md has the measurement), and on
# aarch64 tract's NEON kernels also sum the same products in another order than the AVX ones. Last-bit differences
# carried through the sampler: the mechanism of another sub-batch size or ONNX Runtime against tract
# (docs/testing.md, ingredient 3), so the same bound, an eighth of one 8-bit level: 1/(8*255) = 4.9e-4 in the
# [0, 1] pixels dump_images writes (docs/testing.md's Q/8 = 9.8e-4 is in SDE space at pixel_scale 1/2), 30-70x
# what the arithmetic predicts (~1e-5) and >= 1000x below a real bug (O(1)). Below one level an 8-bit value moves
# by at most 1.
image_tol=(--float-tol 4.9e-4 --rgba-tol 1)

passed=0
failed=0
skipped=0
pass() { passed=$((passed + 1)); printf 'PASS  %-34s %s\n' "$1" "$2"; }
fail() {
    failed=$((failed + 1))
    printf 'FAIL  %-34s %s\n' "$1" "$2"
    if [ -n "${3:-}" ] && [ -f "$3" ]; then tail -n 25 "$3" | sed 's/^/      | /'; fi
}
# Under CI (CI set, not "0"/"false") a skip is a failure, as in scripts/test-c.sh: a check that did not run must not
# look like a pass. Skips are only for what is genuinely absent: a tool neither installed nor installable here.
case "${CI:-}" in "" | 0 | false | FALSE | False) in_ci=0 ;; *) in_ci=1 ;; esac
skip() {
    if [ $in_ci = 1 ]; then fail "$1" "skipped under CI=$CI: $2"; return; fi
    skipped=$((skipped + 1))
    printf 'SKIP  %-34s %s\n' "$1" "$2"
}
finish() {
    [ $skipped -gt 0 ] && echo "($skipped skipped)"
    echo "$triple C tests: $passed passed, $failed failed"
    [ $failed -eq 0 ]
    exit
}

# The runner.
if [ "$exe" = .exe ]; then
    wine=$(command -v wine64 || command -v wine || { [ -x /usr/lib/wine/wine64 ] && echo /usr/lib/wine/wine64; })
    if [ -z "$wine" ]; then
        apt_install wine64 || true
        wine=$( [ -x /usr/lib/wine/wine64 ] && echo /usr/lib/wine/wine64 || command -v wine64 || true)
    fi
    [ -n "$wine" ] || { skip "$triple C tests" "wine not installed and not installable here (apt-get install wine64)"; finish; }
    export WINEPREFIX="$cache/wine-prefix" WINEDEBUG="${WINEDEBUG:--all}" WINEDLLOVERRIDES="mscoree,mshtml="
    if [ ! -f "$WINEPREFIX/system.reg" ]; then
        mkdir -p "$WINEPREFIX"
        "$wine" wineboot -i >/dev/null 2>&1
    fi
    runner=(timeout 900 "$wine")
else
    command -v qemu-aarch64 >/dev/null || apt_install qemu-user || true
    command -v qemu-aarch64 >/dev/null || { skip "$triple C tests" "qemu-aarch64 not installed and not installable here (apt-get install qemu-user)"; finish; }
    # qemu-user passes the environment to the guest: test_embed leaves out its 32 TiB reservation, which qemu backs
    # with gigabytes of host memory.
    runner=(env DINOF_TEST_NO_RESERVATION=1 timeout 1800 qemu-aarch64 -L /usr/aarch64-linux-gnu)
fi
command -v "$cxx" >/dev/null || apt_install "${tools[@]}" || true
command -v "$cc" >/dev/null || { skip "$triple C tests" "$cc not installed and not installable here (${tools[*]})"; finish; }
# The Rust standard library for the target (rustup's own server; scripts/build-platforms.sh adds it too).
if command -v rustup >/dev/null && ! rustup target list --installed 2>/dev/null | grep -qx "$triple"; then
    rustup target add "$triple" >/dev/null 2>&1 ||
        { skip "$triple C tests" "rustup target add $triple failed (offline?)"; finish; }
fi

if [ "${DINOF_SKIP_BUILD:-0}" != 1 ]; then
    bash scripts/build-platforms.sh "$triple" >"${TMPDIR:-/tmp}/dinof-build-$triple.log" 2>&1 ||
        { fail "build-platforms.sh $triple" "(log ${TMPDIR:-/tmp}/dinof-build-$triple.log)" "${TMPDIR:-/tmp}/dinof-build-$triple.log"; finish; }
fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
tree="$root/dist/dinof-$version-$triple"
[ -d "$tree" ] || { fail "dist tree" "$tree missing (run scripts/build-platforms.sh $triple)"; finish; }
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
out="$target_dir/cross-tests/$triple"
rm -rf "$out"
mkdir -p "$out"
if [ "$exe" = .exe ]; then
    cp "$tree/bin/dinof.dll" "$out/"   # Windows finds DLLs beside the program first
    # Test environment only: wine < 9 lacks bcryptprimitives.dll (Rust's std imports ProcessPrng from it; every
    # Windows 10/11 has it). A forwarding shim beside the programs stands in (tests/cross/bcryptprimitives_shim.c).
    if [ ! -f "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" ]; then
        "$cc" -O2 -shared -o "$out/bcryptprimitives.dll" tests/cross/bcryptprimitives_shim.c -ladvapi32 &&
            echo "(wine $("$wine" --version 2>/dev/null) lacks bcryptprimitives.dll: the test-only ProcessPrng shim is used)"
    fi
    rpath=()
else
    rpath=(-Wl,-rpath,"$tree/lib")
fi

run() { # NAME LOG CMD...: the summary is the program's own result line
    local name=$1 log=$2
    shift 2
    "$@" >"$log" 2>&1   # from the repository root: the tests read reference images by relative path
    local rc=$?
    local summary
    summary=$(grep -E '^test_[a-z_]+: ' "$log" | tr -d '\r' | tail -n 1)
    if [ $rc -eq 0 ]; then pass "$name" "$summary"; else fail "$name" "exit $rc: ${summary:-no summary} (log $log)" "$log"; fi
}

cflags=(-std=c11 -Wall -Wextra -Werror -Wpedantic -O1 -Iinclude -Itests/c)
programs=(test_basic test_errors test_cancel test_threads test_job test_embed test_abi test_shipped test_fashion)
for p in "${programs[@]}"; do
    if [ "$p" = test_shipped ] && [ ! -f "$DINOF_MNIST/dinof.json" ]; then skip "$p" "no bundle at $DINOF_MNIST"; continue; fi
    if [ "$p" = test_fashion ] && [ ! -f "$DINOF_FASHION/dinof.json" ]; then skip "$p" "no bundle at $DINOF_FASHION"; continue; fi
    if "$cc" "${cflags[@]}" "tests/c/$p.c" -o "$out/$p-shared$exe" -L"$tree/lib" "${rpath[@]}" -ldinof "${ldextra[@]}" \
        >"$out/$p-build.log" 2>&1; then
        run "$p (shared)" "$out/$p-shared.log" "${runner[@]}" "$out/$p-shared$exe"
    else
        fail "$p (shared)" "does not compile" "$out/$p-build.log"
    fi
    if "$cc" "${cflags[@]}" -DDINOF_STATIC "tests/c/$p.c" -o "$out/$p-static$exe" "$tree/lib/libdinof.a" \
        "${static_libs[@]}" "${ldextra[@]}" >"$out/$p-build-static.log" 2>&1; then
        run "$p (static)" "$out/$p-static.log" "${runner[@]}" "$out/$p-static$exe"
    else
        fail "$p (static)" "does not link statically" "$out/$p-build-static.log"
    fi
done

if command -v "$cxx" >/dev/null; then
    if "$cxx" -std=c++17 -Wall -Wextra -Werror -Wpedantic -O1 -Iinclude -Ibindings/cpp tests/c/test_cpp.cpp \
        -o "$out/test_cpp$exe" -L"$tree/lib" "${rpath[@]}" -ldinof "${ldextra[@]}" -static-libstdc++ >"$out/test_cpp-build.log" 2>&1; then
        run "test_cpp (C++17 wrapper)" "$out/test_cpp.log" "${runner[@]}" "$out/test_cpp$exe"
    else
        fail "test_cpp (C++17 wrapper)" "does not compile" "$out/test_cpp-build.log"
    fi
else
    skip "test_cpp (C++17 wrapper)" "$cxx not installed"
fi

# The archive's pkg-config file: the user example built with it (shared and static) and run.
pc=(env PKG_CONFIG_LIBDIR="$tree/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR= pkg-config)
if command -v pkg-config >/dev/null; then
    # shellcheck disable=SC2046
    if "$cc" -std=c99 -Wall -Wextra -Werror bindings/c/example.c $("${pc[@]}" --cflags --libs dinof) "${rpath[@]}" \
        "${ldextra[@]}" -o "$out/example-pc$exe" >"$out/example-pc.log" 2>&1 &&
        "$cc" -std=c99 -Wall -Wextra -Werror -DDINOF_STATIC bindings/c/example.c $("${pc[@]}" --cflags dinof) \
            "$tree/lib/libdinof.a" $("${pc[@]}" --libs-only-other --static dinof) $("${pc[@]}" --libs-only-l --static dinof | sed 's/-ldinof//') \
            "${ldextra[@]}" -o "$out/example-pc-static$exe" >>"$out/example-pc.log" 2>&1 &&
        (cd "$out" && "${runner[@]}" "./example-pc$exe" "$DINOF_FIXTURES/gauss-vp" 2 &&
            "${runner[@]}" "./example-pc-static$exe" "$DINOF_FIXTURES/gauss-vp" 2) >>"$out/example-pc.log" 2>&1; then
        pass "archive pkg-config" "bindings/c/example.c built with dist's dinof.pc (shared, static) and run"
    else
        fail "archive pkg-config" "(log $out/example-pc.log)" "$out/example-pc.log"
    fi
else
    skip "archive pkg-config" "pkg-config not installed"
fi

# Images against x86-64 Linux for the same seeds.
ref_lib="${DINOF_REFERENCE_LIB:-$target_dir/debug}"
if [ ! -f "$ref_lib/libdinof.so" ] && [ -z "${DINOF_REFERENCE_LIB:-}" ]; then cargo build --locked --lib >/dev/null 2>&1; fi
bundles=("gauss-vp=$DINOF_FIXTURES/gauss-vp" "mixture-ve=$DINOF_FIXTURES/mixture-ve")
[ -f "$DINOF_MNIST/dinof.json" ] && bundles+=("mnist=$DINOF_MNIST")
[ -f "$DINOF_FASHION/dinof.json" ] && bundles+=("fashion=$DINOF_FASHION")
mkdir -p "$out/images-ref" "$out/images"
if ! gcc -std=c11 -Wall -Wextra -Werror -O1 -Iinclude tests/cross/dump_images.c -o "$out/dump_images-ref" \
    -L"$ref_lib" -Wl,-rpath,"$ref_lib" -ldinof >"$out/images.log" 2>&1 ||
    ! "$out/dump_images-ref" "$out/images-ref" "${bundles[@]}" >>"$out/images.log" 2>&1; then
    fail "images vs x86-64 Linux" "no reference images (log $out/images.log)" "$out/images.log"
elif ! "$cc" -std=c11 -Wall -Wextra -Werror -O1 -Iinclude tests/cross/dump_images.c -o "$out/dump_images$exe" \
    -L"$tree/lib" "${rpath[@]}" -ldinof "${ldextra[@]}" >>"$out/images.log" 2>&1 ||
    ! (cd "$out" && "${runner[@]}" "./dump_images$exe" images "${bundles[@]}") >>"$out/images.log" 2>&1; then
    fail "images vs x86-64 Linux" "dump_images failed (log $out/images.log)" "$out/images.log"
else
    # shellcheck disable=SC2086
    python3 tests/cross/compare_images.py "$out/images-ref" "$out/images" ${DINOF_IMAGE_TOLERANCE:-${image_tol[*]}} >"$out/compare.log" 2>&1
    rc=$?
    sed 's/^/      /' "$out/compare.log"
    if [ $rc -eq 0 ]; then pass "images vs x86-64 Linux" "$(tail -n 1 "$out/compare.log")"; else fail "images vs x86-64 Linux" "$(tail -n 1 "$out/compare.log")"; fi
fi

[ "$exe" = .exe ] && "$(dirname "$wine")/wineserver" -k 2>/dev/null
finish
