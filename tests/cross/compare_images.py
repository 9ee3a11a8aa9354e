#!/usr/bin/env python3
"""Compares the images dump_images wrote on two platforms (REF_DIR: x86-64 Linux; OTHER_DIR: the cross build).

For every NAME.f32 / NAME.rgba in REF_DIR: the largest absolute float difference, how many floats and RGBA bytes
differ, and the largest RGBA difference. --exact: every bit must match. Otherwise --float-tol (an absolute bound on
|a - b| per value, in image units [0, 1]) and --rgba-tol (a bound in 8-bit quanta; the float bound implies one:
a difference d moves round(255 x) by at most ceil(255 d) quanta) bound them; the reasoning for the values is in
the calling script. Plain python3.

Usage: compare_images.py REF_DIR OTHER_DIR [--exact | --float-tol X --rgba-tol Q]
Prints one line per bundle and "image comparison: N passed, M failed"; exit status 1 on any failure.
"""
import argparse
import array
import os
import sys


def read(path, typecode):
    a = array.array(typecode)
    with open(path, "rb") as f:
        a.frombytes(f.read())
    if typecode == "f" and sys.byteorder != "little":
        a.byteswap()
    return a


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ref")
    ap.add_argument("other")
    ap.add_argument("--exact", action="store_true")
    ap.add_argument("--float-tol", type=float, default=0.0)
    ap.add_argument("--rgba-tol", type=int, default=0)
    args = ap.parse_args()
    names = sorted(f[:-4] for f in os.listdir(args.ref) if f.endswith(".f32"))
    passed = failed = 0
    for name in names:
        try:
            fa, fb = read(os.path.join(args.ref, name + ".f32"), "f"), read(os.path.join(args.other, name + ".f32"), "f")
            ra, rb = read(os.path.join(args.ref, name + ".rgba"), "B"), read(os.path.join(args.other, name + ".rgba"), "B")
        except OSError as e:
            print("FAIL  %-14s %s" % (name, e))
            failed += 1
            continue
        if len(fa) != len(fb) or len(ra) != len(rb):
            print("FAIL  %-14s sizes differ" % name)
            failed += 1
            continue
        fdiff = [abs(x - y) for x, y in zip(fa, fb)]
        ba, bb = fa.tobytes(), fb.tobytes()
        fbits = sum(1 for i in range(0, len(ba), 4) if ba[i:i + 4] != bb[i:i + 4])
        rdiff = [abs(x - y) for x, y in zip(ra, rb)]
        max_f, max_r = max(fdiff), max(rdiff)
        n_r = sum(1 for d in rdiff if d)
        if args.exact:
            ok = fbits == 0 and n_r == 0
        else:
            ok = max_f <= args.float_tol and max_r <= args.rgba_tol
        print("%s  %-14s %d floats: %d differ in any bit, max |diff| %.3g; %d RGBA bytes: %d differ, max %d quanta"
              % ("PASS" if ok else "FAIL", name, len(fa), fbits, max_f, len(ra), n_r, max_r))
        passed += ok
        failed += not ok
    if not names:
        print("FAIL  no images in %s" % args.ref)
        failed += 1
    print("image comparison: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
