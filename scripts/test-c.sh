#!/usr/bin/env bash
# C/C++ ABI tests. Compiles tests/c/*.c against include/dinof.h (-std=c11 -Wall -Wextra -Werror), links each program
# once against libdinof.so and once against libdinof.a, runs both, runs the shared ones again under valgrind (small
# workloads), runs the C++17 wrapper test, checks the header alone in C99/C11/C++11/C++17, and checks the install
# (scripts/install.sh into a temporary prefix, then bindings/c/example.c built with pkg-config and with CMake).
# Prints one line per test program and, last, "C tests: N passed, M failed"; exits non-zero on any failure.
#
# With ORT_DYLIB_PATH set (docs/onnxruntime.md), the library is built with --features ort and test_ort runs too.
# Environment: DINOF_FIXTURES (default tests/fixtures/bundles), DINOF_MNIST (default onnx/models/mnist),
# DINOF_FASHION (default onnx/models/fashion-cond),
# DINOF_SKIP_BUILD=1 (use the library as built), DINOF_NO_VALGRIND=1, DINOF_NO_INSTALL_CHECK=1. The library is
# wherever cargo builds it (CARGO_TARGET_DIR is honoured).
# The CMake half of the install check installs cmake with apt-get when it is missing and we are root.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export DINOF_FIXTURES="${DINOF_FIXTURES:-$root/tests/fixtures/bundles}"
export DINOF_MNIST="${DINOF_MNIST:-$root/onnx/models/mnist}"
export DINOF_FASHION="${DINOF_FASHION:-$root/onnx/models/fashion-cond}"

features=()
if [ -n "${ORT_DYLIB_PATH:-}" ]; then features=(--features ort); fi
if [ "${DINOF_SKIP_BUILD:-0}" != 1 ]; then
    cargo build --locked --lib "${features[@]}" || { echo "C tests: 0 passed, 1 failed (cargo build --lib)"; exit 1; }
fi
# Ask cargo where the build went (a cargo config or wrapper may redirect the target directory).
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
lib="$target_dir/debug"
out="$target_dir/c-tests"
mkdir -p "$out"

passed=0
failed=0
skipped=0
pass() { passed=$((passed + 1)); printf 'PASS  %-30s %s\n' "$1" "$2"; }
fail() {
    failed=$((failed + 1))
    printf 'FAIL  %-30s %s\n' "$1" "$2"
    if [ -n "${3:-}" ] && [ -f "$3" ]; then tail -n 25 "$3" | sed 's/^/      | /'; fi
}
# Under CI (CI set, not "0"/"false") a skip is a failure: a check that did not run must not look like a pass.
case "${CI:-}" in "" | 0 | false | FALSE | False) in_ci=0 ;; *) in_ci=1 ;; esac
skip() {
    if [ $in_ci = 1 ]; then fail "$1" "skipped under CI=$CI: $2"; return; fi
    skipped=$((skipped + 1))
    printf 'SKIP  %-30s %s\n' "$1" "$2"
}

# run NAME LOG CMD...: runs CMD with its output in LOG; the summary is the test program's own result line.
run() {
    local name=$1 log=$2
    shift 2
    "$@" >"$log" 2>&1
    local rc=$?
    local summary
    summary=$(grep -E '^test_[a-z_]+: ' "$log" | tail -n 1)
    if [ $rc -eq 0 ]; then pass "$name" "$summary"; else fail "$name" "exit $rc: ${summary:-no summary} (log $log)" "$log"; fi
}

cflags=(-std=c11 -Wall -Wextra -Werror -Wpedantic -g -O1 -Iinclude -Itests/c)
# What libdinof.a needs besides itself; noexecstack because tract's assembly kernels lack a .note.GNU-stack section.
static_libs=(-lpthread -ldl -lm -Wl,-z,noexecstack)
programs=(test_basic test_errors test_cancel test_threads test_job test_embed test_abi test_gaussian test_shipped test_fashion)
[ ${#features[@]} -gt 0 ] && programs+=(test_ort)

# The header on its own, in every language mode we promise.
hdr_ok=1
for mode in "gcc -x c -std=c99" "gcc -x c -std=c11" "g++ -x c++ -std=c++11" "g++ -x c++ -std=c++17"; do
    # shellcheck disable=SC2086
    printf '#include "dinof.h"\nint main(void) { dinof_sample_options o; return dinof_sample_options_init(&o, sizeof o) + (int)o.n - 1; }\n' |
        $mode -Wall -Wextra -Werror -Wpedantic -Iinclude -fsyntax-only - >"$out/header.log" 2>&1 || { hdr_ok=0; break; }
done
if [ $hdr_ok = 1 ]; then pass "header" "dinof.h compiles alone as C99, C11, C++11, C++17"; else fail "header" "$mode" "$out/header.log"; fi

have_mnist=1
[ -f "$DINOF_MNIST/dinof.json" ] || have_mnist=0
[ ${#features[@]} -gt 0 ] || skip "test_ort" "ORT_DYLIB_PATH not set (the ONNX Runtime backend is not built)"

for p in "${programs[@]}"; do
    if [ "$p" = test_shipped ] && [ $have_mnist = 0 ]; then
        skip "$p" "no shipped model at $DINOF_MNIST"
        continue
    fi
    if gcc "${cflags[@]}" "tests/c/$p.c" -o "$out/$p-shared" -L"$lib" -Wl,-rpath,"$lib" -ldinof -pthread -lm \
        >"$out/$p-build.log" 2>&1; then
        run "$p (shared)" "$out/$p-shared.log" "$out/$p-shared"
    else
        fail "$p (shared)" "does not compile" "$out/$p-build.log"
    fi
    if gcc "${cflags[@]}" "tests/c/$p.c" -o "$out/$p-static" "$lib/libdinof.a" "${static_libs[@]}" \
        >"$out/$p-build-static.log" 2>&1; then
        run "$p (static)" "$out/$p-static.log" "$out/$p-static"
    else
        fail "$p (static)" "does not link statically" "$out/$p-build-static.log"
    fi
done

if g++ -std=c++17 -Wall -Wextra -Werror -Wpedantic -g -O1 -Iinclude -Ibindings/cpp tests/c/test_cpp.cpp \
    -o "$out/test_cpp" -L"$lib" -Wl,-rpath,"$lib" -ldinof -pthread >"$out/test_cpp-build.log" 2>&1; then
    run "test_cpp (C++17 wrapper)" "$out/test_cpp.log" "$out/test_cpp"
else
    fail "test_cpp (C++17 wrapper)" "does not compile" "$out/test_cpp-build.log"
fi

# Valgrind: the programs on the tiny analytic bundles with small workloads (DINOF_TEST_QUICK=1); leaks and memory
# errors are failures. test_shipped and test_fashion are left out: the real networks take minutes under valgrind. The library is a
# copy without debug info, which valgrind loads 4x faster (rerun with $lib/libdinof.so for line numbers).
if [ "${DINOF_NO_VALGRIND:-0}" = 1 ]; then
    skip "valgrind" "DINOF_NO_VALGRIND=1"
elif ! command -v valgrind >/dev/null; then
    skip "valgrind" "valgrind not installed"
else
    mkdir -p "$out/valgrind-lib"
    strip --strip-debug -o "$out/valgrind-lib/libdinof.so" "$lib/libdinof.so"
    for p in test_basic test_errors test_cancel test_threads test_job test_embed test_abi test_gaussian test_cpp; do
        bin="$out/$p-shared"
        [ "$p" = test_cpp ] && bin="$out/test_cpp"
        [ -x "$bin" ] || continue
        log="$out/$p-valgrind.log"
        LD_LIBRARY_PATH="$out/valgrind-lib" DINOF_TEST_QUICK=1 valgrind --leak-check=full --error-exitcode=1 \
            --suppressions=tests/c/valgrind.supp "$bin" >"$log" 2>&1
        rc=$?
        summary="$(grep -E '^test_[a-z_]+: ' "$log" | tail -n 1); $(grep -o 'ERROR SUMMARY: [0-9]* errors' "$log" | tail -n 1)"
        if [ $rc -eq 0 ]; then pass "$p (valgrind)" "$summary"; else fail "$p (valgrind)" "exit $rc: $summary" "$log"; fi
    done
fi

# The install story: install into a temporary prefix, build the user example with pkg-config and with CMake.
if [ "${DINOF_NO_INSTALL_CHECK:-0}" = 1 ]; then
    skip "install" "DINOF_NO_INSTALL_CHECK=1"
else
    prefix=$(mktemp -d "${TMPDIR:-/tmp}/dinof-install.XXXXXX")
    ilog="$out/install.log"
    if bash scripts/install.sh --debug --no-build "$prefix" >"$ilog" 2>&1; then
        if PKG_CONFIG_PATH="$prefix/lib/pkgconfig" sh -c \
            'gcc -std=c99 -Wall -Wextra -Werror bindings/c/example.c $(pkg-config --cflags --libs dinof) -Wl,-rpath,"$1/lib" -o "$1/example-pc"' \
            _ "$prefix" >>"$ilog" 2>&1 && "$prefix/example-pc" "$DINOF_FIXTURES/gauss-vp" 2 >>"$ilog" 2>&1; then
            pass "install + pkg-config" "example built with pkg-config and run"
        else
            fail "install + pkg-config" "(log $ilog)" "$ilog"
        fi
        if ! command -v cmake >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
            echo "installing cmake for the install check (apt-get install -y cmake)" >>"$ilog"
            apt-get install -y cmake >>"$ilog" 2>&1 || (apt-get update >>"$ilog" 2>&1 && apt-get install -y cmake >>"$ilog" 2>&1)
        fi
        if command -v cmake >/dev/null; then
            ok=1
            for kind in OFF ON; do
                b="$prefix/cmake-build-$kind"
                cmake -S bindings/c -B "$b" -DCMAKE_PREFIX_PATH="$prefix" -DDINOF_EXAMPLE_STATIC=$kind >>"$ilog" 2>&1 &&
                    cmake --build "$b" >>"$ilog" 2>&1 &&
                    "$b/dinof_example" "$DINOF_FIXTURES/gauss-vp" 1 >>"$ilog" 2>&1 || ok=0
            done
            if [ $ok = 1 ]; then pass "install + CMake" "find_package(dinof): dinof::dinof and dinof::dinof_static"; else fail "install + CMake" "(log $ilog)" "$ilog"; fi
        else
            skip "install + CMake" "cmake not found and not installable here"
        fi
    else
        fail "install" "scripts/install.sh failed (log $ilog)" "$ilog"
    fi
    rm -rf "$prefix"
fi

[ $skipped -gt 0 ] && echo "($skipped skipped)"
echo "C tests: $passed passed, $failed failed"
[ $failed -eq 0 ]
