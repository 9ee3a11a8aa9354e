#!/usr/bin/env python3
"""Drift check: the C# P/Invoke layer of the Unity package against include/dinof.h.

Parses the header (constants, int32_t typedefs, structs, callback typedefs, functions) and the C# declarations
(bindings/unity/Runtime/Native/DinofNative.cs and the enums of bindings/unity/Runtime/DinofEnums.cs) and fails when
they differ: a function missing on either side or with other parameter/return types, a struct field missing, extra,
out of order or of another type (so another offset or size), a constant with another value, a constant without
its enum member, a P/Invoke or delegate without the Cdecl convention. Struct sizes and offsets are computed for
64- and 32-bit targets from the types. Plain python3, no dependencies.

Usage: check-csharp-abi.py [--header include/dinof.h] [--csharp bindings/unity/Runtime]
Prints one line per problem, then "C# ABI drift check: N passed, M failed"; exit status 1 on any failure.
"""
import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

C_SCALARS = {"uint32_t": "u32", "int32_t": "i32", "uint64_t": "u64", "int64_t": "i64", "uint8_t": "u8", "int8_t": "i8",
             "uint16_t": "u16", "int16_t": "i16", "double": "f64", "float": "f32", "int": "i32", "size_t": "usize",
             "void": "void", "bool": "bool", "char": "char"}
CS_SCALARS = {"uint": "u32", "int": "i32", "ulong": "u64", "long": "i64", "byte": "u8", "sbyte": "i8", "ushort": "u16",
              "short": "i16", "double": "f64", "float": "f32", "UIntPtr": "usize", "void": "void"}
# SafeHandle classes standing for the opaque handle types.
CS_HANDLES = {"DinofModelHandle": "dinof_model", "DinofJobHandle": "dinof_job"}
SIZES = {"u32": 4, "i32": 4, "u64": 8, "i64": 8, "u8": 1, "i8": 1, "u16": 2, "i16": 2, "f64": 8, "f32": 4, "bool": 1}


def strip_c_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def c_type(decl, typedefs):
    """Canonical type of a C declaration without its name: 'u32', ('ptr', inner), ('fn', name), ('struct', name)."""
    stars = decl.count("*")
    base = re.sub(r"\b(const|struct)\b|\*", " ", decl).split()
    if len(base) != 1:
        raise ValueError("cannot read C type %r" % decl)
    b = base[0]
    if b in C_SCALARS:
        t = C_SCALARS[b]
    elif b in typedefs:
        t = typedefs[b]
    else:
        t = ("struct", b)
    for _ in range(stars):
        t = ("ptr", t)
    return t


def parse_header(path):
    text = strip_c_comments(open(path, encoding="utf-8").read())
    consts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^#define (DINOF_[A-Z0-9_]+) (-?\d+)\s*$", text, re.M)}
    text = re.sub(r"^#[^\n]*", " ", text, flags=re.M)  # preprocessor lines (macros defining DINOF_API etc.)
    typedefs = {m.group(2): C_SCALARS[m.group(1)]
                for m in re.finditer(r"typedef (u?int\d+_t) (dinof_\w+);", text)}
    for m in re.finditer(r"typedef [^;(]*\(DINOF_CALL \*(dinof_\w+)\)", text):
        typedefs[m.group(1)] = ("fn", m.group(1))
    structs = {}
    for m in re.finditer(r"typedef struct (dinof_\w+) \{(.*?)\} \1;", text, re.S):
        fields = []
        for line in m.group(2).split(";"):
            line = " ".join(line.split())
            if not line:
                continue
            fm = re.match(r"(.*?)(\w+)$", line)
            fields.append((fm.group(2), c_type(fm.group(1), typedefs)))
        structs[m.group(1)] = fields
    callbacks = {}
    for m in re.finditer(r"typedef ([^;{}()]*?)\(DINOF_CALL \*(dinof_\w+)\)\(([^;]*?)\);", text, re.S):
        callbacks[m.group(2)] = (c_type(m.group(1), typedefs), [c_type(re.sub(r"\w+$", "", p.strip()), typedefs)
                                                                 for p in m.group(3).split(",")])
    functions = {}
    for m in re.finditer(r"DINOF_API\s+([^;{}()]*?)\s*DINOF_CALL\s+(dinof_\w+)\(([^;]*?)\);", text, re.S):
        params = " ".join(m.group(3).split())
        plist = [] if params in ("void", "") else [c_type(re.sub(r"\w+$", "", p.strip()), typedefs)
                                                   for p in params.split(",")]
        functions[m.group(2)] = (c_type(m.group(1), typedefs), plist)
    return consts, structs, callbacks, functions


def strip_cs_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def cs_type(decl, structs, delegates):
    decl = " ".join(decl.split())
    u1 = "[MarshalAs(UnmanagedType.U1)]" in decl.replace(" ", "")
    decl = re.sub(r"\[[A-Za-z][^\]]*\]", " ", decl).strip()  # attributes, not array brackets
    words = decl.split()
    wrap = None
    if words[0] in ("ref", "out", "in"):
        wrap = words.pop(0)
    b = words[0]
    array = b.endswith("[]")
    b = b[:-2] if array else b
    if b == "bool":
        t = "bool" if u1 else "bool-without-MarshalAs-U1"
    elif b in CS_SCALARS:
        t = CS_SCALARS[b]
    elif b == "IntPtr":
        t = ("ptr", "any")
    elif b in CS_HANDLES:
        t = ("ptr", ("struct", CS_HANDLES[b]))
    elif b in delegates:
        t = ("fn", b)
    elif b in structs:
        t = ("struct", b)
    else:
        raise ValueError("cannot read C# type %r" % decl)
    if wrap or array:
        t = ("ptr", t)
    return t


def parse_csharp(runtime_dir):
    path = os.path.join(runtime_dir, "Native", "DinofNative.cs")
    raw = open(path, encoding="utf-8").read()
    text = strip_cs_comments(raw)
    consts = {m.group(1): int(m.group(2)) for m in re.finditer(r"public const int (DINOF_\w+) = (-?\d+);", text)}
    struct_bodies = {m.group(1): m.group(2) for m in re.finditer(r"public struct (dinof_\w+)\s*\{(.*?)\}", text, re.S)}
    delegates_raw = {m.group(3): (m.group(1), m.group(2), m.group(4)) for m in re.finditer(
        r"(\[UnmanagedFunctionPointer\([^\]]*\)\]\s*)?public delegate (\w+) (dinof_\w+)\((.*?)\);", text, re.S)}
    structs = {}
    for name, body in struct_bodies.items():
        fields = []
        for fm in re.finditer(r"((?:\[[^\]]*\]\s*)*)public ([\w\[\]]+) (\w+);", body):
            fields.append((fm.group(3), cs_type(fm.group(1) + " " + fm.group(2), struct_bodies, delegates_raw)))
        structs[name] = fields
    problems = []
    delegates = {}
    for name, (attr, ret, params) in delegates_raw.items():
        if not attr or "CallingConvention.Cdecl" not in attr:
            problems.append("C# delegate %s: not [UnmanagedFunctionPointer(CallingConvention.Cdecl)]" % name)
        delegates[name] = (cs_type(ret, struct_bodies, delegates_raw), cs_params(params, struct_bodies, delegates_raw))
    functions = {}
    for m in re.finditer(r"\[DllImport\(([^\]]*)\)\]\s*public static extern (\w+) (dinof_\w+)\((.*?)\);", text, re.S):
        if "CallingConvention.Cdecl" not in m.group(1):
            problems.append("C# %s: DllImport without CallingConvention.Cdecl" % m.group(3))
        functions[m.group(3)] = (cs_type(m.group(2), struct_bodies, delegates_raw),
                                 cs_params(m.group(4), struct_bodies, delegates_raw))
    enums = {}
    enum_path = os.path.join(runtime_dir, "DinofEnums.cs")
    enum_text = strip_cs_comments(open(enum_path, encoding="utf-8").read())
    for m in re.finditer(r"public enum (\w+)\s*\{(.*?)\}", enum_text, re.S):
        for em in re.finditer(r"(\w+)\s*=\s*([^,\s]+)", m.group(2)):
            enums.setdefault(m.group(1), []).append((em.group(1), em.group(2)))
    return consts, structs, delegates, functions, enums, problems


def cs_params(params, structs, delegates):
    params = " ".join(params.split())
    if not params:
        return []
    out = []
    for p in split_params(params):
        p = re.sub(r"\s*=\s*[^,]+$", "", p.strip())  # default values
        out.append(cs_type(re.sub(r"\s*@?\w+$", "", p), structs, delegates))
    return out


def split_params(params):
    depth, cur, out = 0, "", []
    for ch in params:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
        # attributes like [MarshalAs(UnmanagedType.U1)] never hold commas at depth 0
    out.append(cur)
    return out


def compatible(c, cs):
    """Whether a C# canonical type may stand for a C one."""
    if c == cs:
        return True
    if isinstance(c, tuple) and isinstance(cs, tuple) and c[0] == "ptr" and cs[0] == "ptr":
        inner_c, inner_cs = c[1], cs[1]
        if inner_cs == "any":  # IntPtr: any pointer
            return True
        if inner_c in ("char", "void") and inner_cs == "u8":  # byte[] for char* / void* buffers
            return True
        return compatible(inner_c, inner_cs)
    if isinstance(c, tuple) and c[0] == "fn" and isinstance(cs, tuple) and cs[0] == "fn":
        return c[1] == cs[1]
    return False


def show(t):
    if isinstance(t, tuple):
        return {"ptr": lambda: show(t[1]) + "*", "fn": lambda: t[1], "struct": lambda: t[1]}[t[0]]()
    return t


def layout(fields, pointer):
    """Offsets and total size under natural alignment (what LayoutKind.Sequential and C compilers do)."""
    off, align_max, out = 0, 1, []
    for name, t in fields:
        size = pointer if isinstance(t, tuple) else SIZES.get(t, 0)
        off = (off + size - 1) // size * size if size else off
        out.append((name, off, size))
        off += size
        align_max = max(align_max, size)
    return out, (off + align_max - 1) // align_max * align_max


ENUM_GROUPS = {"STATUS": "DinofStatus", "BACKEND": "DinofBackend", "EXECUTION_PROVIDER": "DinofExecutionProvider",
               "START": "DinofStart", "METHOD": "DinofMethod", "PREDICTOR": "DinofPredictor",
               "CORRECTOR": "DinofCorrector", "SOLVER": "DinofSolver", "SCHEDULE": "DinofSchedule",
               "LANGEVIN_NORM": "DinofLangevinNorm", "DENOISE": "DinofDenoise", "SDE": "DinofSde",
               "PHASE": "DinofPhase", "LOG": "DinofLogLevel"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--header", default=os.path.join(ROOT, "include", "dinof.h"))
    ap.add_argument("--csharp", default=os.path.join(ROOT, "bindings", "unity", "Runtime"))
    args = ap.parse_args()

    h_consts, h_structs, h_callbacks, h_functions = parse_header(args.header)
    cs_consts, cs_structs, cs_delegates, cs_functions, cs_enums, problems = parse_csharp(args.csharp)
    items = []  # every item compared: a constant, an enum, a struct, a callback, a function
    bad = set()

    def item(name):
        items.append(name)

    def fail(msg):
        bad.add(items[-1] if items else "declarations")
        print("DRIFT  " + msg)

    for p in problems:
        item("convention: " + p)
        fail(p)

    # Constants: same names, same values.
    for name in sorted(set(h_consts) | set(cs_consts)):
        item(name)
        if name not in cs_consts:
            fail("constant %s = %d is in dinof.h but not in DinofNative.cs" % (name, h_consts[name]))
        elif name not in h_consts:
            fail("constant %s is in DinofNative.cs but not in dinof.h" % name)
        elif h_consts[name] != cs_consts[name]:
            fail("constant %s: %d in dinof.h, %d in DinofNative.cs" % (name, h_consts[name], cs_consts[name]))

    # Enum members: every constant of an enum group has a member defined by that constant, and nothing else.
    for group, enum in ENUM_GROUPS.items():
        item(enum)
        want = sorted(n for n in h_consts if n.startswith("DINOF_%s_" % group)
                      and not any(n.startswith("DINOF_%s_" % g) for g in ENUM_GROUPS if g != group and len(g) > len(group)))
        members = cs_enums.get(enum)
        if members is None:
            fail("enum %s (DINOF_%s_*) is missing from DinofEnums.cs" % (enum, group))
            continue
        used = [v.replace("DinofNative.", "") for _, v in members]
        for n in want:
            if n not in used:
                fail("enum %s has no member for %s" % (enum, n))
        for member, v in members:
            if not v.startswith("DinofNative.DINOF_%s_" % group):
                fail("enum %s.%s = %s: members must be defined by their DinofNative constant" % (enum, member, v))

    # Structs: same fields in the same order with the same types; sizes and offsets on 64- and 32-bit targets.
    for name in sorted(set(h_structs) | set(cs_structs)):
        item(name)
        if name not in cs_structs:
            fail("struct %s is in dinof.h but not in DinofNative.cs" % name)
            continue
        if name not in h_structs:
            fail("struct %s is in DinofNative.cs but not in dinof.h" % name)
            continue
        hf, cf = h_structs[name], cs_structs[name]
        for k in range(max(len(hf), len(cf))):
            if k >= len(cf):
                fail("struct %s: field %s (%s, #%d) is in dinof.h but not in C#" % (name, hf[k][0], show(hf[k][1]), k))
            elif k >= len(hf):
                fail("struct %s: field %s (#%d) is in C# but not in dinof.h" % (name, cf[k][0], k))
            elif hf[k][0] != cf[k][0]:
                fail("struct %s: field #%d is %s in dinof.h but %s in C#" % (name, k, hf[k][0], cf[k][0]))
            elif not compatible(hf[k][1], cf[k][1]):
                fail("struct %s.%s: %s in dinof.h, %s in C#" % (name, hf[k][0], show(hf[k][1]), show(cf[k][1])))
        for pointer in (8, 4):
            (ho, hs), (co, cs) = layout(hf, pointer), layout(cf, pointer)
            if hs != cs or ho != co:
                moved = next(("%s at %d in dinof.h, %s at %d in C#" % (a[0], a[1], b[0], b[1])
                              for a, b in zip(ho, co) if a[:2] != b[:2]), "")
                fail("struct %s: %d-bit layout differs (size %d in dinof.h, %d in C#%s)"
                     % (name, pointer * 8, hs, cs, "; first difference: " + moved if moved else ""))
                break

    # Callbacks.
    for name in sorted(set(h_callbacks) | set(cs_delegates)):
        item(name)
        if name not in cs_delegates:
            fail("callback %s is in dinof.h but has no C# delegate" % name)
        elif name not in h_callbacks:
            fail("C# delegate %s is not a callback of dinof.h" % name)
        else:
            check_signature("callback " + name, h_callbacks[name], cs_delegates[name], fail)

    # Functions.
    for name in sorted(set(h_functions) | set(cs_functions)):
        item(name)
        if name not in cs_functions:
            fail("function %s is in dinof.h but has no [DllImport] in DinofNative.cs" % name)
        elif name not in h_functions:
            fail("[DllImport] %s is not a function of dinof.h" % name)
        else:
            check_signature("function " + name, h_functions[name], cs_functions[name], fail)

    print("C# ABI drift check: %d passed, %d failed (%d constants, %d enums, %d structs, %d callbacks, %d functions)"
          % (len(items) - len(bad), len(bad), len(h_consts), len(ENUM_GROUPS), len(h_structs), len(h_callbacks),
             len(h_functions)))
    return 1 if bad else 0


def check_signature(what, c, cs, fail):
    (cret, cparams), (sret, sparams) = c, cs
    if not compatible(cret, sret):
        fail("%s returns %s in dinof.h, %s in C#" % (what, show(cret), show(sret)))
    if len(cparams) != len(sparams):
        fail("%s: %d parameters in dinof.h, %d in C#" % (what, len(cparams), len(sparams)))
        return
    for k, (a, b) in enumerate(zip(cparams, sparams)):
        if not compatible(a, b):
            fail("%s: parameter %d is %s in dinof.h, %s in C#" % (what, k + 1, show(a), show(b)))


if __name__ == "__main__":
    sys.exit(main())
