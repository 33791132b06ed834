#!/usr/bin/env python3
# Where inside one JIT-compiled method a perf profile's samples fall, by the JIT's instruction groups: perf cannot
# disassemble the runtime's code, but the JIT prints its listing with each group's offset from the method's start, and
# /tmp/perf-PID.map gives the method's start address (docs/kernels.md, "the copied channels' rows and the glue's Y rows
# fetched"). From the repository root, with the probe built as frame-loop.cs says:
#
#   DOTNET_JitDisasm="PairBlock" DOTNET_JitStdOutFile=/tmp/listing.asm DOTNET_PerfMapEnabled=1 \
#   DOTNET_EnableWriteXorExecute=0 DOTNET_TC_QuickJitForLoops=0 \
#       perf record -F 2999 -o /tmp/bivm.perf dotnet <frame-loop dll> models/bivm.onnx 300
#   python3 scripts/probes/listing-profile.py /tmp/bivm.perf /tmp/listing.asm /tmp/perf-PID.map \
#       "Upsample2xPacker::PairBlock" "PairBlock" [TOP] [LINES]
#
# SYMBOL is a part of the method's name as perf and the map write it, LISTING a part of its listing's first line (the
# last listing that matches is taken: a tiered method is listed once per tier). Prints the TOP groups by share of the
# method's samples, each with its first LINES instructions. A sample lands on the instruction after the one that made
# it wait, and a store waiting behind earlier stores shows where it waits, not why: read a hot group as a place to
# look, then measure a change with ab-frames.cs.
import bisect
import re
import subprocess
import sys

if len(sys.argv) < 6:
    sys.exit("usage: listing-profile.py PERF.DATA LISTING.asm PERF-PID.map SYMBOL LISTING [TOP] [LINES]")
perf_data, listing_path, map_path, symbol, listing_name = sys.argv[1:6]
top = int(sys.argv[6]) if len(sys.argv) > 6 else 10
shown = int(sys.argv[7]) if len(sys.argv) > 7 else 12

starts = [int(line.split()[0], 16) for line in open(map_path) if symbol in line]
if not starts:
    sys.exit(f"{map_path}: no method whose name holds '{symbol}'")
start = starts[-1]

script = subprocess.run(["perf", "script", "-i", perf_data, "-F", "ip,sym"], capture_output=True, text=True, check=True).stdout
offsets = [int(line.split()[0], 16) - start for line in script.splitlines() if symbol in line]

listings = [part for part in open(listing_path).read().split("; Assembly listing for method ") if listing_name in part.split("\n", 1)[0]]
if not listings:
    sys.exit(f"{listing_path}: no listing whose first line holds '{listing_name}'")
lines = listings[-1].split("\n")
groups = []
for index, line in enumerate(lines):
    found = re.search(r"(G_M\d+_IG\d+):.*offset=0x([0-9A-F]+)", line)
    if found:
        groups.append((int(found.group(2), 16), found.group(1), index))
groups.sort()
group_starts = [offset for offset, _, _ in groups]

counts = {}
for offset in offsets:
    at = bisect.bisect_right(group_starts, offset) - 1
    if at >= 0:
        counts[groups[at]] = counts.get(groups[at], 0) + 1
print(f"{symbol}: {len(offsets)} samples")
for (offset, name, index), count in sorted(counts.items(), key=lambda item: -item[1])[:top]:
    print(f"{100 * count / len(offsets):5.1f} %  {name} at 0x{offset:X}")
    for line in lines[index + 1:index + 1 + shown]:
        if re.search(r"G_M\d+_IG\d+:", line):
            break
        if line.strip():
            print("          " + line.strip())
