#!/usr/bin/env bash
# Windows x64: cross-builds dinof.dll (scripts/build-platforms.sh), then runs the C test suite compiled with
# mingw-w64 under wine, and compares images with x86-64 Linux (scripts/test-cross.sh). Also the platform ABI check:
# the C# struct layouts under the Windows x64 (LLP64) and 32-bit compilers, and the DLL's export table.
set -uo pipefail
cd "$(dirname "$0")/.."
rc=0
bash scripts/test-cross.sh x86_64-pc-windows-gnu || rc=1
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
dll="dist/dinof-$version-x86_64-pc-windows-gnu/bin/dinof.dll"
ccs=(--cc x86_64-w64-mingw32-gcc)
command -v i686-w64-mingw32-gcc >/dev/null && ccs+=(--cc i686-w64-mingw32-gcc)
[ -f "$dll" ] && ccs+=(--dll "$dll")
python3 scripts/check-abi-platforms.py "${ccs[@]}" || rc=1
exit $rc
