#!/usr/bin/env python3
"""The C# layer's struct layouts checked by each platform's own C compiler, and a DLL's exports against the header.

scripts/check-csharp-abi.py compares the C# declarations with include/dinof.h by computing layouts from the field
types with one rule (natural alignment). This is the second instrument: for every struct it writes the C#
declaration's layout (that rule, for the compiler's pointer size) as C11 static assertions on sizeof/offsetof of
the header's struct and compiles them with each given compiler: x86_64-w64-mingw32-gcc is the Windows x64 ABI
(LLP64: `long` is 32-bit; MSVC lays out these structs identically: fixed-width fields, natural alignment),
i686-w64-mingw32-gcc 32-bit Windows, aarch64-linux-gnu-gcc ARM64 Linux. With --dll it also compares the DLL's
export table (objdump -p) with the header's functions: every function exported under its plain name (no
stdcall @N decoration, no missing or extra dinof_ export).

Usage: check-abi-platforms.py [--csharp bindings/unity/Runtime] [--cc COMPILER]... [--dll dinof.dll [--objdump x86_64-w64-mingw32-objdump]]
Prints one line per check, then "platform ABI check: N passed, M failed"; exit status 1 on any failure.
"""
import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("drift", os.path.join(ROOT, "scripts", "check-csharp-abi.py"))
drift = importlib.util.module_from_spec(spec)
spec.loader.exec_module(drift)


def assertions(cs_structs, h_structs, pointer):
    lines = ['#include <stddef.h>', '#include "dinof.h"',
             '_Static_assert(sizeof(void *) == %d, "pointer size");' % pointer]
    for name in sorted(set(cs_structs) & set(h_structs)):
        fields, size = drift.layout(cs_structs[name], pointer)
        lines.append('_Static_assert(sizeof(%s) == %d, "%s: size %d in C#");' % (name, size, name, size))
        for field, off, fsize in fields:
            lines.append('_Static_assert(offsetof(%s, %s) == %d && sizeof(((%s *)0)->%s) == %d, '
                         '"%s.%s: offset %d, size %d in C#");'
                         % (name, field, off, name, field, fsize, name, field, off, fsize))
    return "\n".join(lines) + "\n"


def pointer_size(cc):
    out = subprocess.run([cc, "-dM", "-E", "-x", "c", os.devnull], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"#define __SIZEOF_POINTER__ (\d+)", out).group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cc", action="append", default=[])
    ap.add_argument("--csharp", default=os.path.join(ROOT, "bindings", "unity", "Runtime"))
    ap.add_argument("--dll")
    ap.add_argument("--objdump", default="x86_64-w64-mingw32-objdump")
    args = ap.parse_args()
    header = os.path.join(ROOT, "include", "dinof.h")
    _, h_structs, _, h_functions = drift.parse_header(header)
    _, cs_structs, _, cs_functions, _, _ = drift.parse_csharp(args.csharp)
    passed = failed = 0

    def report(ok, what, detail=""):
        nonlocal passed, failed
        passed, failed = passed + ok, failed + (not ok)
        print("%s  %s%s" % ("PASS" if ok else "FAIL", what, (": " + detail) if detail else ""))

    # LLP64 and friends: a C `long` in the header would change size between platforms (C# long is always 64-bit).
    text = drift.strip_c_comments(open(header, encoding="utf-8").read())
    longs = re.findall(r"\b(?:unsigned\s+)?long\b[^;,)]*", text)
    report(not longs, "dinof.h uses no C long (32-bit on Windows, 64-bit on Linux)", "; ".join(longs[:3]))

    for cc in args.cc:
        if shutil.which(cc) is None:
            report(False, cc, "not installed")
            continue
        pointer = pointer_size(cc)
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "layout.c")
            with open(src, "w") as f:
                f.write(assertions(cs_structs, h_structs, pointer))
            r = subprocess.run([cc, "-std=c11", "-fsyntax-only", "-I", os.path.join(ROOT, "include"), src],
                               capture_output=True, text=True)
        n = sum(len(f) + 1 for f in cs_structs.values())
        errors = [l for l in r.stderr.splitlines() if "error" in l]
        report(r.returncode == 0, "%s (%d-bit): %d C# struct sizes and field offsets as its compiler lays out dinof.h"
               % (cc, pointer * 8, n), "; ".join(errors[:3]))

    if args.dll:
        dump = subprocess.run([args.objdump, "-p", args.dll], capture_output=True, text=True, check=True).stdout
        table = dump.split("[Ordinal/Name Pointer] Table", 1)[-1].split("\n\n", 1)[0]
        exports = set(re.findall(r"\]\s+(\S+)", table))
        dinof_exports = {e for e in exports if e.startswith("dinof")}
        missing = sorted(set(h_functions) - exports)
        extra = sorted(dinof_exports - set(h_functions))
        report(not missing and not extra, "%s exports the header's %d functions under their plain names"
               % (os.path.basename(args.dll), len(h_functions)),
               "missing %s; extra %s" % (missing[:5], extra[:5]) if missing or extra else "")
        report(not set(cs_functions) - exports, "every C# [DllImport] entry point (%d) is exported" % len(cs_functions),
               str(sorted(set(cs_functions) - exports)[:5]))
        imports = re.findall(r"DLL Name: (\S+)", dump)
        print("      %s imports: %s" % (os.path.basename(args.dll), ", ".join(imports)))

    print("platform ABI check: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
