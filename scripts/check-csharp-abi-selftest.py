#!/usr/bin/env python3
"""Shows that check-csharp-abi.py fails when dinof.h and the C# declarations drift apart.

Each case copies include/dinof.h and bindings/unity/Runtime to a scratch directory, makes one edit on one side
(the committed files are never touched), runs the check and expects it to fail naming the difference; the
unedited copy, and a C bool field declared with [MarshalAs(UnmanagedType.U1)] on both sides, must pass.
Prints one line per case, then "drift check self-test: N passed, M failed".
"""
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECK = os.path.join(ROOT, "scripts", "check-csharp-abi.py")
NATIVE = os.path.join("Native", "DinofNative.cs")

# (name, file edited: "h" or a path under Runtime/, [(old, new), ...], expected: None = pass, else a message part)
CASES = [
    ("unedited copy", "h", [], None),
    ("field appended to a header struct, not to C#", "h",
     [("    uint64_t total;\n} dinof_progress;", "    uint64_t total;\n    double eta_seconds;\n} dinof_progress;")],
     "field eta_seconds"),
    ("function appended to the header, no [DllImport]", "h",
     [("DINOF_API dinof_status DINOF_CALL dinof_shutdown(int64_t timeout_ms);",
       "DINOF_API dinof_status DINOF_CALL dinof_shutdown(int64_t timeout_ms);\n"
       "DINOF_API dinof_status DINOF_CALL dinof_job_pause(struct dinof_job *job);")],
     "dinof_job_pause"),
    ("status appended to the header only", "h",
     [("#define DINOF_STATUS_BUSY 107", "#define DINOF_STATUS_BUSY 107\n#define DINOF_STATUS_PAUSED 108")],
     "DINOF_STATUS_PAUSED"),
    ("two C# struct fields swapped", NATIVE,
     [("        public byte random_seed;\n        public byte raw;", "        public byte raw;\n        public byte random_seed;")],
     "field #1 is random_seed"),
    ("C# field type changed (uint -> ulong)", NATIVE,
     [("        public uint corrector_steps;\n        public int langevin_norm;",
       "        public ulong corrector_steps;\n        public int langevin_norm;")],
     "corrector_steps"),
    ("C# constant value changed", NATIVE,
     [("DINOF_SOLVER_RK45 = 6;", "DINOF_SOLVER_RK45 = 7;")], "DINOF_SOLVER_RK45: 6 in dinof.h, 7"),
    ("C# enum member removed", "DinofEnums.cs",
     [("        Rk45 = DinofNative.DINOF_SOLVER_RK45,\n", "")], "no member for DINOF_SOLVER_RK45"),
    ("C# enum member with a literal value", "DinofEnums.cs",
     [("Busy = DinofNative.DINOF_STATUS_BUSY,", "Busy = 107,")], "DinofStatus.Busy = 107"),
    ("C# parameter type changed (int64_t -> int)", NATIVE,
     [("dinof_job_wait(DinofJobHandle job, long timeout_ms)", "dinof_job_wait(DinofJobHandle job, int timeout_ms)")],
     "dinof_job_wait: parameter 2 is i64"),
    ("C# parameter missing", NATIVE,
     [("dinof_job_progress(DinofJobHandle job, ref dinof_progress out_)", "dinof_job_progress(DinofJobHandle job)")],
     "dinof_job_progress: 2 parameters"),
    ("C# struct passed by value instead of by pointer", NATIVE,
     [("dinof_model_get_info(DinofModelHandle model, ref dinof_model_info out_)",
       "dinof_model_get_info(DinofModelHandle model, dinof_model_info out_)")],
     "dinof_model_get_info: parameter 2"),
    ("[DllImport] without Cdecl", NATIVE,
     [("[DllImport(Library, CallingConvention = CallingConvention.Cdecl)]\n        public static extern uint dinof_abi_version",
       "[DllImport(Library)]\n        public static extern uint dinof_abi_version")],
     "dinof_abi_version: DllImport without CallingConvention.Cdecl"),
    ("C bool field mirrored by a plain C# bool (4 bytes)", "both",
     [("    uint64_t total;\n} dinof_progress;", "    uint64_t total;\n    bool final;\n} dinof_progress;"),
      ("        public ulong total;\n    }", "        public ulong total;\n        public bool final;\n    }")],
     "final"),
    ("C bool field mirrored with [MarshalAs(UnmanagedType.U1)]", "both",
     [("    uint64_t total;\n} dinof_progress;", "    uint64_t total;\n    bool final;\n} dinof_progress;"),
      ("        public ulong total;\n    }",
       "        public ulong total;\n        [MarshalAs(UnmanagedType.U1)] public bool final;\n    }")],
     None),
]


def edit(path, old, new):
    text = open(path, encoding="utf-8").read()
    if old not in text:
        return False
    open(path, "w", encoding="utf-8").write(text.replace(old, new, 1))
    return True


def main():
    passed = failed = 0
    for name, where, edits, expect in CASES:
        with tempfile.TemporaryDirectory(prefix="dinof-drift-") as tmp:
            header = os.path.join(tmp, "dinof.h")
            runtime = os.path.join(tmp, "Runtime")
            shutil.copy(os.path.join(ROOT, "include", "dinof.h"), header)
            shutil.copytree(os.path.join(ROOT, "bindings", "unity", "Runtime"), runtime)
            ok = True
            for old, new in edits:
                targets = [header, os.path.join(runtime, NATIVE)] if where == "both" else \
                    [header if where == "h" else os.path.join(runtime, where)]
                if not any(edit(t, old, new) for t in targets):
                    ok = False
                    print("FAIL  %s: the edit no longer applies (update this self-test): %r" % (name, old[:60]))
            r = subprocess.run([sys.executable, CHECK, "--header", header, "--csharp", runtime],
                               capture_output=True, text=True)
            output = r.stdout + r.stderr
            if ok and expect is None:
                ok = r.returncode == 0
                why = "expected to pass:\n" + output
            elif ok:
                ok = r.returncode == 1 and expect in output
                why = "expected a failure mentioning %r, got exit %d:\n%s" % (expect, r.returncode, output)
            if ok:
                passed += 1
                first = next((l for l in output.splitlines() if l.startswith("DRIFT")), output.splitlines()[-1])
                print("ok    %-55s -> %s" % (name, first))
            else:
                failed += 1
                print("FAIL  %s: %s" % (name, why))
    print("drift check self-test: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
