#!/usr/bin/env python3
"""Checks the Unity package's layout (bindings/unity), what Unity itself would complain about on import.

- every asset (file or folder; not hidden, not in a "~" folder, which Unity ignores) has a .meta with a unique guid,
  and every .meta has its asset, except the native libraries (built, not committed: scripts/package-unity.sh);
- the native-library .meta files enable exactly their platform (Editor + Standalone) with the right CPU;
- package.json: reverse-domain name, the crate's version, a minimum Unity version, samples that exist;
- .asmdef files: valid, references resolvable, Dinof.Runtime free of engine references, and no UnityEngine/UnityEditor
  use in the engine-independent sources (everything in Runtime/ outside Runtime/Unity).

--write-missing creates missing .meta files (deterministic guids from the path) instead of failing on them.
Prints one line per problem, then "Unity package layout: N passed, M failed".
"""
import hashlib
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(ROOT, "bindings", "unity")

# Native library -> (Editor OS, Editor CPU, Standalone target enabled, its CPU).
PLUGINS = {
    "Plugins/Linux/x86_64/libdinof.so": ("Linux", "x86_64", "Linux64", "x86_64"),
    "Plugins/Windows/x86_64/dinof.dll": ("Windows", "x86_64", "Win64", "x86_64"),
    "Plugins/macOS/libdinof.dylib": ("OSX", "AnyCPU", "OSXUniversal", "AnyCPU"),
}
STANDALONE = ["Linux64", "OSXUniversal", "Win", "Win64"]

HEADER = "fileFormatVersion: 2\nguid: {guid}\n"
TAIL = "  userData: \n  assetBundleName: \n  assetBundleVariant: \n"
IMPORTERS = {
    "folder": "folderAsset: yes\nDefaultImporter:\n  externalObjects: {}\n" + TAIL,
    ".cs": "MonoImporter:\n  externalObjects: {}\n  serializedVersion: 2\n  defaultReferences: []\n  executionOrder: 0\n"
           "  icon: {instanceID: 0}\n" + TAIL,
    ".asmdef": "AssemblyDefinitionImporter:\n  externalObjects: {}\n" + TAIL,
    "package.json": "PackageManifestImporter:\n  externalObjects: {}\n" + TAIL,
    ".md": "TextScriptImporter:\n  externalObjects: {}\n" + TAIL,
    "other": "DefaultImporter:\n  externalObjects: {}\n" + TAIL,
}


def plugin_meta(editor_os, editor_cpu, target, cpu):
    lines = ["PluginImporter:", "  externalObjects: {}", "  serializedVersion: 2", "  iconMap: {}",
             "  executionOrder: {}", "  defineConstraints: []", "  isPreloaded: 0", "  isOverridable: 1",
             "  isExplicitlyReferenced: 0", "  validateReferences: 1", "  platformData:",
             "  - first:", "      : Any", "    second:", "      enabled: 0", "      settings:",
             "        Exclude Editor: 0"]
    lines += ["        Exclude %s: %d" % (t, 0 if t == target else 1) for t in STANDALONE]
    lines += ["  - first:", "      Any: ", "    second:", "      enabled: 0", "      settings: {}",
              "  - first:", "      Editor: Editor", "    second:", "      enabled: 1", "      settings:",
              "        CPU: " + editor_cpu, "        DefaultValueInitialized: true", "        OS: " + editor_os]
    for t in STANDALONE:
        lines += ["  - first:", "      Standalone: " + t, "    second:", "      enabled: %d" % (t == target),
                  "      settings:", "        CPU: " + (cpu if t == target else "None")]
    return "\n".join(lines) + "\n" + TAIL


def guid_for(rel):
    return hashlib.md5(("com.dinof.runtime/" + rel).encode()).hexdigest()


def meta_text(rel, is_dir):
    if rel in PLUGINS:
        body = plugin_meta(*PLUGINS[rel])
    elif is_dir:
        body = IMPORTERS["folder"]
    elif os.path.basename(rel) == "package.json":
        body = IMPORTERS["package.json"]
    else:
        body = IMPORTERS.get(os.path.splitext(rel)[1], IMPORTERS["other"])
    return HEADER.format(guid=guid_for(rel)) + body


def assets():
    """Package-relative paths Unity imports: (path, is_dir)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(PKG):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not d.endswith("~"))
        rel_dir = os.path.relpath(dirpath, PKG)
        for d in dirnames:
            out.append((os.path.normpath(os.path.join(rel_dir, d)), True))
        for f in sorted(filenames):
            if f.startswith(".") or f.endswith(".meta"):
                continue
            out.append((os.path.normpath(os.path.join(rel_dir, f)), False))
    return out


def main():
    write = "--write-missing" in sys.argv
    results = []

    def check(name, ok, detail=""):
        results.append(ok)
        if not ok:
            print("FAIL  %s%s" % (name, (": " + detail) if detail else ""))

    present = assets()
    expected = present + [(p, False) for p in PLUGINS if (p, False) not in present]
    guids = {}
    for rel, is_dir in expected:
        meta = os.path.join(PKG, rel + ".meta")
        if not os.path.exists(meta) and write:
            open(meta, "w").write(meta_text(rel, is_dir))
            print("wrote " + rel + ".meta")
        if not os.path.exists(meta):
            check(rel, False, "no .meta (run scripts/check-unity-package.py --write-missing)")
            continue
        m = re.search(r"^guid: ([0-9a-f]{32})$", open(meta).read(), re.M)
        check(rel + ".meta guid", m is not None)
        if m:
            check(rel + ".meta guid unique", m.group(1) not in guids, "same guid as " + guids.get(m.group(1), ""))
            guids[m.group(1)] = rel
    # Orphaned .meta files (Unity warns and, in a project, deletes them).
    known = {rel for rel, _ in expected}
    for dirpath, dirnames, filenames in os.walk(PKG):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and not d.endswith("~")]
        for f in filenames:
            if f.endswith(".meta"):
                rel = os.path.normpath(os.path.join(os.path.relpath(dirpath, PKG), f[:-5]))
                check(rel + ".meta has its asset", rel in known)

    # Native-library import settings: exactly one standalone platform each.
    for rel, (editor_os, editor_cpu, target, cpu) in PLUGINS.items():
        path = os.path.join(PKG, rel + ".meta")
        if os.path.exists(path):
            text = open(path).read()
            check(rel + ".meta is a PluginImporter", "PluginImporter:" in text)
            enabled = re.findall(r"Standalone: (\w+)\n    second:\n      enabled: 1\n      settings:\n        CPU: (\w+)", text)
            check(rel + ".meta platforms", enabled == [(target, cpu)], "enabled %s, want %s" % (enabled, [(target, cpu)]))
            check(rel + ".meta editor", "OS: " + editor_os in text and "CPU: " + editor_cpu in text)

    # package.json.
    pkg = json.load(open(os.path.join(PKG, "package.json")))
    crate_version = re.search(r'^version = "([^"]+)"', open(os.path.join(ROOT, "Cargo.toml")).read(), re.M).group(1)
    check("package.json name", re.match(r"^com\.[a-z0-9-]+\.[a-z0-9.-]+$", pkg.get("name", "")) is not None, pkg.get("name"))
    check("package.json version = Cargo.toml", pkg.get("version") == crate_version, "%s vs %s" % (pkg.get("version"), crate_version))
    check("package.json unity", re.match(r"^\d{4}\.\d+$", pkg.get("unity", "")) is not None)
    for s in pkg.get("samples", []):
        check("sample " + s["path"], os.path.isdir(os.path.join(PKG, s["path"])))
    for f in ("CHANGELOG.md", "LICENSE.md", "Documentation~/index.md"):
        check(f, os.path.isfile(os.path.join(PKG, f)))

    # Assembly definitions.
    asmdefs = {}
    for rel, is_dir in present:
        if rel.endswith(".asmdef"):
            try:
                asmdefs[rel] = json.load(open(os.path.join(PKG, rel)))
                check(rel, True)
            except ValueError as e:
                check(rel, False, str(e))
    names = {a["name"] for a in asmdefs.values()}
    for rel, a in asmdefs.items():
        for r in a.get("references", []):
            check(rel + " reference " + r, r in names)
    runtime = asmdefs.get("Runtime/Dinof.Runtime.asmdef", {})
    check("Dinof.Runtime has noEngineReferences", runtime.get("noEngineReferences") is True)
    editor = asmdefs.get("Editor/Dinof.Editor.asmdef", {})
    check("Dinof.Editor is editor-only", editor.get("includePlatforms") == ["Editor"])
    for rel, is_dir in present:
        if rel.startswith("Runtime/") and not rel.startswith("Runtime/Unity/") and rel.endswith(".cs"):
            text = open(os.path.join(PKG, rel)).read()
            check(rel + " is engine-independent", re.search(r"\bUnity(Engine|Editor)\b", text) is None)

    passed = sum(results)
    print("Unity package layout: %d passed, %d failed" % (passed, len(results) - passed))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
