#!/usr/bin/env bash
# Long-run memory check of `bivm matte` (README, "Reliability"): FRAMES frames (default 10000) of a generated 128x72
# video (ffmpeg's testsrc2 with a moving ball), matted with the shipped model, while the process's resident memory
# (VmRSS) is sampled every second. Prints the samples as CSV (seconds,rss_mb) and a summary line. Too slow for CI.
# Usage: scripts/long-run.sh [FRAMES]
set -euo pipefail
frames="${1:-10000}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/bivm-long-run-XXXXXX")"
trap 'rm -rf "$work"' EXIT

ffmpeg -v error -f lavfi -i "testsrc2=size=128x72:rate=25,drawbox=x='mod(t*40,100)':y=20:w=24:h=24:color=white:t=fill" \
  -frames:v "$frames" -c:v ffv1 "$work/in.mkv"
"$root/bivm" matte "$work/in.mkv" --out "$work/out.mp4" --threads 1 > "$work/stdout" &
pid=$!
echo "seconds,rss_mb"
start=$SECONDS
while kill -0 "$pid" 2> /dev/null; do
  rss=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status" 2> /dev/null || true)
  [[ -n "$rss" ]] && echo "$((SECONDS - start)),$rss"
  sleep 1
done
wait "$pid"
cat "$work/stdout"
