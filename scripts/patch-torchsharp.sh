#!/usr/bin/env bash
# Make TorchSharp 0.107's native wrapper load on Debian 12 (libstdc++ from GCC 12).
# Background and the verified recipe: docs/torchsharp-on-debian12.md.
# Idempotent; does nothing where the system libstdc++ already has GLIBCXX_3.4.32.
# --check: change nothing; exit 1 with one line on stderr where the library would not load (not patched yet).
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
if [[ "${1:-}" == "--check" ]]; then check=1; fi

SHIM_NAME=libbivm_ios_base_init.so
SHIM_PATH=/usr/local/lib/$SHIM_NAME
PKG_ROOT="$(dotnet nuget locals global-packages --list | sed 's/^global-packages: //')"
SO="$PKG_ROOT/torchsharp/0.107.0/runtimes/linux-x64/native/libLibTorchSharp.so"

if [[ ! -f "$SO" ]]; then
  echo "patch-torchsharp: $SO not found (run dotnet restore first)" >&2
  exit 1
fi

LIBSTDCXX="$(/sbin/ldconfig -p | awk '/libstdc\+\+\.so\.6 .*x86-64/ {print $NF}' | head -n1)"
if grep -q GLIBCXX_3.4.32 "$LIBSTDCXX"; then
  (( check )) || echo "patch-torchsharp: $LIBSTDCXX provides GLIBCXX_3.4.32, nothing to do"
  exit 0
fi
if (( check )); then
  # Patched: the shim is installed and the wrapper needs it (the last step below).
  if [[ -f "$SHIM_PATH" ]] && grep -qx "$SHIM_NAME" <<< "$(patchelf --print-needed "$SO" 2>/dev/null)"; then exit 0; fi
  echo "patch-torchsharp: $SO needs GLIBCXX_3.4.32, which $LIBSTDCXX lacks, and is not patched yet: run ./install.sh" >&2
  exit 1
fi

# 1. The shim: std::ios_base_library_init() has an empty body in GCC 13 too.
if [[ ! -f "$SHIM_PATH" ]]; then
  tmp="$(mktemp -d)"
  printf 'namespace std { void ios_base_library_init() {} }\n' > "$tmp/shim.cpp"
  g++ -shared -fPIC -O2 -o "$tmp/$SHIM_NAME" "$tmp/shim.cpp"
  install -m 0644 "$tmp/$SHIM_NAME" "$SHIM_PATH"
  rm -rf "$tmp"
  /sbin/ldconfig
fi

# 2. Weak version requirement, unversioned symbol, and the shim as a dependency.
python3 scripts/elf_weaken_version.py "$SO" GLIBCXX_3.4.32 >/dev/null
# (grep reads whole outputs here: with pipefail, grep -q would SIGPIPE the producer.)
if [[ "$(readelf --dyn-syms -W "$SO")" == *'_ZSt21ios_base_library_initv@GLIBCXX_3.4.32'* ]]; then
  patchelf --clear-symbol-version _ZSt21ios_base_library_initv "$SO"
fi
if ! grep -qx "$SHIM_NAME" <<< "$(patchelf --print-needed "$SO")"; then
  patchelf --add-needed "$SHIM_NAME" "$SO"
fi
echo "patch-torchsharp: $SO patched for $LIBSTDCXX"
