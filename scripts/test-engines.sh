#!/usr/bin/env bash
# Game-engine binding tests (issue 12): the Unity package's engine-independent C# run with Mono against the real
# libdinof, the Unity-only glue compiled against signature stubs of Unity's API, the Unreal plugin's
# engine-independent C++ core (g++, then valgrind), the C# <-> dinof.h drift check
# (and proof that it fails on a drifted copy), and the Unity package's layout (.meta files, manifests).
# Each part prints its own "N passed, M failed" line; the last line is "Engine tests: N passed, M failed" over parts.
#
# Mono (mcs + mono) is installed with apt-get when missing (as root, or through passwordless sudo): Debian's
# mono-devel. Nothing Unity or Unreal is needed or run: see bindings/unity/Documentation~/index.md and
# bindings/unreal/Dinof/README.md for what is not tested here.
# Environment: as scripts/test-c.sh (DINOF_FIXTURES, DINOF_SKIP_BUILD=1, DINOF_NO_VALGRIND=1; ORT_DYLIB_PATH set =
# build with --features ort, like test-c.sh, so the two share one build).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export DINOF_FIXTURES="${DINOF_FIXTURES:-$root/tests/fixtures/bundles}"

parts_passed=0
parts_failed=0
part() {  # part NAME RC SUMMARY
    if [ "$2" -eq 0 ]; then
        parts_passed=$((parts_passed + 1))
        printf 'PASS  %-34s %s\n' "$1" "$3"
    else
        parts_failed=$((parts_failed + 1))
        printf 'FAIL  %-34s %s\n' "$1" "$3"
    fi
}
finish() {
    echo "Engine tests: $parts_passed passed, $parts_failed failed"
    [ "$parts_failed" -eq 0 ]
    exit
}

# --- Mono ----------------------------------------------------------------------------------------------------------
ensure_mono() {
    command -v mcs >/dev/null && command -v mono >/dev/null && return 0
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
            echo "mono is missing and this user cannot install it (not root, no passwordless sudo):"
            echo "  apt-get install mono-devel"
            return 1
        fi
    fi
    command -v apt-get >/dev/null || { echo "mono is missing and apt-get is not available: install mono-devel"; return 1; }
    echo "installing mono-devel (apt-get)"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends mono-devel >/dev/null
}

features=()
if [ -n "${ORT_DYLIB_PATH:-}" ]; then features=(--features ort); fi
if [ "${DINOF_SKIP_BUILD:-0}" != 1 ]; then
    cargo build --locked --lib --bin dinof "${features[@]}" || { part "cargo build" 1 "cargo build --lib --bin dinof failed"; finish; }
fi
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
lib="$target_dir/debug"
out="$target_dir/engine-tests"
rm -rf "$out"
mkdir -p "$out"

if ensure_mono >"$out/mono-install.log" 2>&1; then
    part "mono" 0 "$(mono --version | head -n 1)"
    have_mono=1
else
    part "mono" 1 "$(tail -n 3 "$out/mono-install.log" | tr '\n' ' ')"
    have_mono=0
fi

# --- Unity: C# against the real library ----------------------------------------------------------------------------
if [ $have_mono = 1 ]; then
    # The reference images, from the Rust CLI: the C# results must equal them bit for bit.
    ref="$out/reference.npy"
    # --backend tract: the library's default, which the C# tests use (the CLI's own default is auto).
    if ! "$lib/dinof" sample --bundle "$DINOF_FIXTURES/gauss-vp" --n 3 --seed 11 --steps 30 --backend tract --out "$ref" >"$out/cli.log" 2>&1; then
        part "C# tests (Mono)" 1 "the CLI could not write the reference (log $out/cli.log)"
    else
        # Everything in Runtime/ except the Unity-only glue (Runtime/Unity), as its own assembly like in Unity.
        mapfile -t runtime_src < <(find bindings/unity/Runtime -name '*.cs' -not -path '*/Runtime/Unity/*' | sort)
        if mcs -nologo -warnaserror -langversion:7 -target:library -out:"$out/Dinof.Runtime.dll" "${runtime_src[@]}" >"$out/mcs.log" 2>&1 &&
            mcs -nologo -warnaserror -langversion:7 -target:exe -out:"$out/DinofTests.exe" -r:"$out/Dinof.Runtime.dll" \
                "bindings/unity/Tests~/Mono/DinofTests.cs" >>"$out/mcs.log" 2>&1; then
            # [DllImport("dinof")]: Mono looks for libdinof.so on the loader's path.
            LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" timeout 300 mono --debug "$out/DinofTests.exe" \
                "$DINOF_FIXTURES" "$ref" >"$out/mono-tests.log" 2>&1
            rc=$?
            grep -E '^FAIL' "$out/mono-tests.log" | head -n 20
            summary=$(grep -E 'passed, [0-9]+ failed' "$out/mono-tests.log" | tail -n 1)
            [ -n "$summary" ] || tail -n 20 "$out/mono-tests.log"
            part "C# tests (Mono)" $rc "${summary:-no summary (exit $rc, log $out/mono-tests.log)}"
        else
            tail -n 20 "$out/mcs.log"
            part "C# tests (Mono)" 1 "does not compile (log $out/mcs.log)"
        fi
    fi
else
    part "C# tests (Mono)" 1 "not run: no mono"
fi

# --- Unity: the Unity-only glue compiles (against signature stubs of Unity's API; nothing of it runs here) ---------
if [ $have_mono = 1 ]; then
    g="$out/unity-glue"
    mkdir -p "$g"
    mapfile -t runtime_src < <(find bindings/unity/Runtime -name '*.cs' -not -path '*/Runtime/Unity/*' | sort)
    # One assembly per asmdef, with the references the asmdefs declare; the sample against the package's assemblies.
    if mcs -nologo -warnaserror -langversion:7 -target:library -out:"$g/Dinof.Runtime.dll" "${runtime_src[@]}" >"$g/mcs.log" 2>&1 &&
        mcs -nologo -langversion:7 -target:library -out:"$g/UnityEngine.dll" tests/engines/unity-api-stubs.cs >>"$g/mcs.log" 2>&1 &&
        mcs -nologo -warnaserror -langversion:7 -target:library -out:"$g/Dinof.Unity.dll" -r:"$g/Dinof.Runtime.dll" \
            -r:"$g/UnityEngine.dll" bindings/unity/Runtime/Unity/*.cs >>"$g/mcs.log" 2>&1 &&
        mcs -nologo -warnaserror -langversion:7 -target:library -out:"$g/Dinof.Editor.dll" -r:"$g/Dinof.Runtime.dll" \
            -r:"$g/Dinof.Unity.dll" -r:"$g/UnityEngine.dll" bindings/unity/Editor/*.cs >>"$g/mcs.log" 2>&1 &&
        mcs -nologo -warnaserror -langversion:7 -target:library -out:"$g/GeneratorSample.dll" -r:"$g/Dinof.Unity.dll" \
            -r:"$g/UnityEngine.dll" "bindings/unity/Samples~/Generator/GeneratorSample.cs" >>"$g/mcs.log" 2>&1 &&
        mcs -nologo -warnaserror -langversion:7 -target:library -out:"$g/SpriteSample.dll" -r:"$g/Dinof.Unity.dll" \
            -r:"$g/Dinof.Runtime.dll" -r:"$g/UnityEngine.dll" "bindings/unity/Samples~/Sprites/SpriteSample.cs" \
            >>"$g/mcs.log" 2>&1; then
        part "Unity glue compiles (API stubs)" 0 "Runtime/Unity, Editor, Samples~ against tests/engines/unity-api-stubs.cs"
    else
        tail -n 20 "$g/mcs.log"
        part "Unity glue compiles (API stubs)" 1 "does not compile (log $g/mcs.log)"
    fi
else
    part "Unity glue compiles (API stubs)" 1 "not run: no mono"
fi

# --- Unreal: the engine-independent C++ core (C++17, and C++20 as UE 5.3+ compiles it) ----------------------------
core_bin="$out/test_unreal_core"
if g++ -std=c++17 -Wall -Wextra -Werror -Wpedantic -g -O1 -Iinclude -Ibindings/cpp \
    -Ibindings/unreal/Dinof/Source/Dinof/Public tests/engines/test_unreal_core.cpp -o "$core_bin" \
    -L"$lib" -Wl,-rpath,"$lib" -ldinof -pthread >"$out/core-build.log" 2>&1 &&
    g++ -std=c++20 -Wall -Wextra -Werror -fsyntax-only -Iinclude -Ibindings/cpp \
        -Ibindings/unreal/Dinof/Source/Dinof/Public tests/engines/test_unreal_core.cpp >>"$out/core-build.log" 2>&1; then
    timeout 300 "$core_bin" >"$out/core.log" 2>&1
    rc=$?
    grep -E '^FAIL' "$out/core.log" | head -n 20
    part "C++ engine core (Unreal)" $rc "$(tail -n 1 "$out/core.log")"
    if [ "${DINOF_NO_VALGRIND:-0}" != 1 ] && command -v valgrind >/dev/null; then
        mkdir -p "$out/valgrind-lib"
        strip --strip-debug -o "$out/valgrind-lib/libdinof.so" "$lib/libdinof.so"
        LD_LIBRARY_PATH="$out/valgrind-lib" timeout 600 valgrind --leak-check=full --error-exitcode=1 \
            --suppressions=tests/c/valgrind.supp "$core_bin" >"$out/core-valgrind.log" 2>&1
        rc=$?
        part "C++ engine core (valgrind)" $rc "$(grep -E 'passed, [0-9]+ failed' "$out/core-valgrind.log" | tail -n 1); $(grep -o 'ERROR SUMMARY: [0-9]* errors' "$out/core-valgrind.log" | tail -n 1)"
    fi
else
    tail -n 20 "$out/core-build.log"
    part "C++ engine core (Unreal)" 1 "does not compile (log $out/core-build.log)"
fi

# --- Drift check: C# declarations vs dinof.h -----------------------------------------------------------------------
python3 scripts/check-csharp-abi.py >"$out/drift.log" 2>&1
rc=$?
grep -E '^DRIFT' "$out/drift.log" | head -n 20
part "C# ABI drift check" $rc "$(tail -n 1 "$out/drift.log")"

# The drift check must fail when the two sides differ: scratch copies with one difference each.
python3 scripts/check-csharp-abi-selftest.py >"$out/drift-selftest.log" 2>&1
rc=$?
grep -E '^FAIL' "$out/drift-selftest.log" | head -n 20
part "drift check catches drift" $rc "$(tail -n 1 "$out/drift-selftest.log")"

# --- Unity package layout ------------------------------------------------------------------------------------------
python3 scripts/check-unity-package.py >"$out/unity-package.log" 2>&1
rc=$?
grep -E '^FAIL' "$out/unity-package.log" | head -n 20
part "Unity package layout" $rc "$(tail -n 1 "$out/unity-package.log")"

finish
