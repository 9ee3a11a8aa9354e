# Shared by package-unity.sh and package-unreal.sh (sourced): parses [--debug] [--no-build] [--ort], builds the
# library, and sets lib_path (the built library), lib_name, unity_dir, unreal_dir; defines copy_library DEST and
# dist_library TRIPLE FILE.
profile=release
build=1
# The library alone: no `cli` feature (the command-line tool's clap, png and indicatif), which default features add.
features=(--no-default-features --features tract)
for arg in "$@"; do
    case "$arg" in
        --debug) profile=debug ;;
        --no-build) build=0 ;;
        --ort) features=(--no-default-features --features tract,ort) ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "$(basename "$0"): unknown option $arg" >&2; exit 2 ;;
    esac
done
case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) lib_name=libdinof.so unity_dir=Linux/x86_64 unreal_dir=Linux ;;
    Darwin-*) lib_name=libdinof.dylib unity_dir=macOS unreal_dir=Mac ;;
    MINGW*-x86_64 | MSYS*-x86_64 | CYGWIN*-x86_64) lib_name=dinof.dll unity_dir=Windows/x86_64 unreal_dir=Win64 ;;
    *) echo "$(basename "$0"): no engine plugin layout for $(uname -s) $(uname -m)" >&2; exit 1 ;;
esac
if [ "$build" = 1 ]; then
    if [ "$profile" = release ]; then cargo build --locked --lib --release "${features[@]}"; else cargo build --locked --lib "${features[@]}"; fi
fi
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
lib_path="$target_dir/$profile/$lib_name"
[ -f "$lib_path" ] || { echo "$(basename "$0"): $lib_path not found (build first, or drop --no-build)" >&2; exit 1; }

# dist_library TRIPLE FILE: FILE (bin/dinof.dll, lib/libdinof.so, ...) of the archive tree scripts/build-platforms.sh
# made for TRIPLE; empty when that platform has not been built. The packaging scripts fill the folders of the other
# platforms they declare from these.
dist_version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
dist_library() {
    local f="dist/dinof-$dist_version-$1/$2"
    if [ -f "$f" ]; then echo "$f"; fi
}

copy_library() {
    # Debug info is most of a Linux build's size; players do not need it.
    if [ "$lib_name" = libdinof.so ] && command -v strip >/dev/null; then
        strip --strip-debug -o "$1" "$lib_path"
    else
        cp "$lib_path" "$1"
    fi
}
