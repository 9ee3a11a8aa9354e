#!/usr/bin/env bash
# ARM64 Linux: cross-builds libdinof.so (scripts/build-platforms.sh), then runs the C test suite compiled with
# aarch64-linux-gnu-gcc under qemu-user, and compares images with x86-64 Linux (scripts/test-cross.sh); and the
# C# struct layouts under the aarch64 compiler. Separate from scripts/test.sh: the emulated networks are slow.
set -uo pipefail
cd "$(dirname "$0")/.."
rc=0
bash scripts/test-cross.sh aarch64-unknown-linux-gnu || rc=1
python3 scripts/check-abi-platforms.py --cc aarch64-linux-gnu-gcc || rc=1
exit $rc
