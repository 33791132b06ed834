#!/usr/bin/env bash
# Real sample media from Debian packages, unpacked (never installed system-wide, never
# committed) into .data/debian/<package>/. Licences: see docs/media.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.data/debian
PACKAGES=(opencv-doc python3-skimage mate-backgrounds plasma-workspace-wallpapers darknet tuxpaint-stamps-default)
mkdir -p "$DEST"
need_update=1
for pkg in "${PACKAGES[@]}"; do
  if [[ -f "$DEST/$pkg/.done" ]]; then continue; fi
  if ((need_update)); then apt-get update -qq; need_update=0; fi
  tmp="$(mktemp -d)"; chmod 777 "$tmp"   # apt-get download runs as _apt
  (cd "$tmp" && apt-get download -qq "$pkg" >/dev/null)
  rm -rf "${DEST:?}/$pkg"
  dpkg -x "$tmp"/"$pkg"_*.deb "$DEST/$pkg"
  cp "$tmp"/"$pkg"_*.deb "$DEST/$pkg/"
  rm -rf "$tmp"
  touch "$DEST/$pkg/.done"
  echo "fetch-media: $pkg unpacked into $DEST/$pkg"
done
