#!/usr/bin/env bash
# Runs every test project (Release) and ends with one summary line: "tests: N passed, M failed".
# Build first with ./install.sh. Set BIVM_TEST_FILTER to pass a --filter expression.
set -euo pipefail
cd "$(dirname "$0")"
# TorchSharp frees the Scalars of implicit conversions from the GC's finalizer thread
# (dotnet/TorchSharp#1496); a GC that lands inside a LibTorch call can free one in use and make
# LibTorch fail with an impossible error. A 1 GiB gen0 budget makes GCs rare during the tests.
export DOTNET_GCgen0size="${DOTNET_GCgen0size:-0x40000000}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
args=(test BiVM.Onnx.sln -c Release --nologo)
if [[ -n "${BIVM_TEST_FILTER:-}" ]]; then args+=(--filter "$BIVM_TEST_FILTER"); fi
status=0
dotnet "${args[@]}" 2>&1 | tee "$log" || status=$?
# dotnet test prints one line per test assembly: "Passed!  - Failed: 0, Passed: 12, Skipped: 1, Total: 13, ..."
awk -F'[:,]' '/(Passed|Failed)! +- +Failed:/ { f += $2; p += $4; s += $6 }
  END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
