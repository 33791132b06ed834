#!/usr/bin/env bash
# Runs every test project (Release) and ends with one summary line: "tests: N passed, M failed, K skipped".
# Build first with ./install.sh. Set BIVM_TEST_FILTER to pass a --filter expression.
set -euo pipefail
cd "$(dirname "$0")"
# TorchSharp frees the Scalars of implicit conversions from the GC's finalizer thread
# (dotnet/TorchSharp#1496); a GC that lands inside a LibTorch call can free one in use and make
# LibTorch fail with an impossible error. A 1 GiB gen0 budget makes GCs rare during the tests.
export DOTNET_GCgen0size="${DOTNET_GCgen0size:-0x40000000}"
work="$(mktemp -d)"
# Every dotnet command (build or test) leaves two empty directories with random six-character names in the temp
# folder (the SDK's, not our tests'); with one command per project that is 22 a run. Those that appear during the run
# and are still empty at its end are removed; anything else a test leaves stays for its own test to catch.
tmp="${TMPDIR:-/tmp}"
ls -A "$tmp" > "$work/temp-before"
cleanup() {
  ls -A "$tmp" | grep -Fvx -f "$work/temp-before" | grep -E '^[A-Za-z0-9]{6}$' | while read -r d; do
    rmdir "$tmp/$d" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

if ! dotnet build BiVM.Onnx.sln -c Release --nologo > "$work/build.log" 2>&1; then
  grep -E ': (error|warning) ' "$work/build.log" | sort -u || tail -30 "$work/build.log"
  echo "test.sh: the build failed"
  exit 1
fi
grep -E ': warning ' "$work/build.log" | sort -u || true
# Without the install step's TorchSharp fix every LibTorch test fails with the loader's long trace: one line instead.
if ! reason="$(scripts/patch-torchsharp.sh --check 2>&1)"; then
  echo "test.sh: $reason"
  exit 1
fi

# One project at a time: a test host that crashes is then known by name, and the projects do not add up
# their memory (a LibTorch test host holds up to ~4 GiB with that gen0 budget). --blame names the test
# that was running when a host crashed.
args=(-c Release --nologo --no-build --blame --results-directory "$work/results")
if [[ -n "${BIVM_TEST_FILTER:-}" ]]; then args+=(--filter "$BIVM_TEST_FILTER"); fi
mapfile -t projects < <(dotnet sln BiVM.Onnx.sln list | grep -E '^tests/.*\.Tests\.csproj$')
status=0
for project in "${projects[@]}"; do
  name="$(basename "$project" .csproj)"
  log="$work/$name.log"
  code=0
  dotnet test "$project" "${args[@]}" > "$log" 2>&1 || code=$?
  cat "$log"
  # A second run, once, for the two faults that are not ours: every failure a LibTorch error (the race
  # above), or the test host dying without a managed exception (a native crash, or the kernel's OOM
  # killer; the run shows no stack). A real defect fails again; the second run replaces the first.
  failed=$(grep -c '^  Failed ' "$log" || true)
  libtorch=$(grep -A1 '^  Error Message:' "$log" | grep -c 'System.Runtime.InteropServices.ExternalException' || true)
  reason=""
  if (( code != 0 )) && grep -q 'Test host process crashed' "$log"; then
    reason="its test host crashed (running: $(grep -A1 'The test running when the crash occurred' "$log" | tail -1 | tr -d '\r'); memory now: $(free -m | awk '/Mem:/ { print $7 " MiB available of " $2 }'))"
  elif (( code != 0 && failed > 0 && failed == libtorch )); then
    reason="$failed test(s) failed with LibTorch errors (dotnet/TorchSharp#1496)"
  fi
  if [[ -n "$reason" ]]; then
    echo "test.sh: $name: $reason; running it once more"
    code=0
    dotnet test "$project" "${args[@]}" > "$log" 2>&1 || code=$?
    cat "$log"
  fi
  # A run that was aborted (a host that crashed again) counts as one failure beside what it reported.
  if (( code != 0 )) && { grep -q 'Test host process crashed' "$log" || ! grep -qE '^(Passed|Failed)! +- +Failed:' "$log"; }; then
    echo "Failed!  - Failed:     1, Passed:     0, Skipped:     0, Total:     1 - $name.dll (the run was aborted)" >> "$log"
  fi
  grep -E '^(Passed|Failed)! +- +Failed:' "$log" >> "$work/summary" || true
  if (( code != 0 )); then status=$code; fi
done
# On an AVX-512 host the 256-bit paths that an AVX2-only host (Zen 3) takes are chosen at run time and would go
# untested: the CustomOps tests once more with .NET's AVX-512 support switched off (DOTNET_EnableAVX512=0), which makes
# this process an AVX2 host (kernel avx2-jit; Vector512 not accelerated).
if grep -qw avx512f /proc/cpuinfo; then
  log="$work/avx2-paths.log"
  code=0
  DOTNET_EnableAVX512=0 dotnet test tests/CustomOps.Tests/BiVM.CustomOps.Tests.csproj "${args[@]}" > "$log" 2>&1 || code=$?
  echo "test.sh: BiVM.CustomOps.Tests again as an AVX2-only host runs them (DOTNET_EnableAVX512=0):"
  cat "$log"
  if ! grep -qE '^(Passed|Failed)! +- +Failed:' "$log"; then
    echo "Failed!  - Failed:     1, Passed:     0, Skipped:     0, Total:     1 - BiVM.CustomOps.Tests.dll as an AVX2 host (the run was aborted)" >> "$log"
  fi
  grep -E '^(Passed|Failed)! +- +Failed:' "$log" >> "$work/summary-avx2" || true
  if (( code != 0 )); then status=$code; fi
fi
# dotnet test prints one line per test assembly: "Passed!  - Failed: 0, Passed: 12, Skipped: 1, Total: 13, ..."
awk -F'[:,]' '/(Passed|Failed)! +- +Failed:/ { f += $2; p += $4; s += $6 }
  END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$work/summary"
if [[ -f "$work/summary-avx2" ]]; then
  awk -F'[:,]' '/(Passed|Failed)! +- +Failed:/ { f += $2; p += $4; s += $6 }
    END { printf "tests as an AVX2-only host (CustomOps, DOTNET_EnableAVX512=0): %d passed, %d failed, %d skipped\n", p, f, s }' "$work/summary-avx2"
fi
exit "$status"
