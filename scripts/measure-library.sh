#!/usr/bin/env bash
# The dinof library with and without the `cli` feature (the command-line tool's clap, png and indicatif, on by
# default): its crates and the size of the release libdinof.so / libdinof.a. Prints the Markdown table of
# docs/library-size.md. Builds the release library twice (thin LTO: minutes each on 2 cores).
#
# crates: the distinct packages (name + version) `cargo tree -e normal` lists for the feature set, the dinof crate
# itself left out: what an engine that links the library compiles and ships.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mb() { awk -v b="$1" 'BEGIN { printf "%.2f MB", b / 1e6 }'; }
row() {
    local label=$1
    shift
    cargo build --quiet --locked --release --lib "$@"
    local crates so a
    crates=$(cargo tree --locked -e normal --prefix none "$@" | sed 's/ (\*)$//' | grep -v '^dinof ' | sort -u | wc -l)
    so="$target_dir/release/libdinof.so"
    a="$target_dir/release/libdinof.a"
    # Stripped of debug info as scripts/install.sh and the engine packages ship it.
    strip --strip-debug -o "$work/so" "$so"
    strip --strip-debug -o "$work/a" "$a"
    printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$crates" "$(mb "$(stat -c %s "$so")")" \
        "$(mb "$(stat -c %s "$work/so")")" "$(mb "$(stat -c %s "$a")")" "$(mb "$(stat -c %s "$work/a")")"
}

echo "| features | crates | libdinof.so | stripped | libdinof.a | stripped |"
echo "|---|---|---|---|---|---|"
row "tract, cli (default)"
row "tract (--no-default-features --features tract)" --no-default-features --features tract
