#!/usr/bin/env bash
# Whole-file `bivm matte` speed against the model alone (issue #13): vtest.avi at its default downsample, and a
# 1080p clip made from it (vtest.avi scaled to 1920x1080, with a 440 Hz AAC tone so the audio mux is measured too)
# at downsample 0.25. Usage: scripts/bench-matte.sh [FRAMES] [ROUNDS]   (defaults 200 and 3)
# Extra arguments after those two go to both bench runs (e.g. --threads 2 to measure that schedule instead).
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${1:-200}
rounds=${2:-3}
shift $(( $# < 2 ? $# : 2 ))
vtest=.data/debian/opencv-doc/usr/share/doc/opencv-doc/examples/data/vtest.avi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ffmpeg -v error -y -i "$vtest" -f lavfi -i sine=frequency=440:sample_rate=48000 -frames:v "$frames" -vf scale=1920:1080 \
  -map 0:v -map 1:a -shortest -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p -c:a aac "$tmp/vtest1080.mp4"
# The host's load before each run: on a shared host the ratio means little when other work holds the CPUs.
uptime
./bivm bench --matte "$vtest" --frames "$frames" --rounds "$rounds" "$@"
uptime
./bivm bench --matte "$tmp/vtest1080.mp4" --downsample 0.25 --frames "$frames" --rounds "$rounds" "$@"
uptime
