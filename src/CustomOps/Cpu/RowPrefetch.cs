using System.Runtime.CompilerServices;
using X86 = System.Runtime.Intrinsics.X86;

namespace BiVM.CustomOps.Cpu;

/// <summary>
/// A plane's row two rows on fetched into L2 ahead of its stores, for the passes that write one row of each of many
/// channel planes at a time (a conv's output stage, the ConvGRU's new state, the glue's rows into Y): C planes are C
/// streams a plane apart, more than the hardware prefetchers follow, and without this the stores wait for their lines.
/// Measured on whole 512×288 frames (docs/kernels.md, *the packer's edge outputs by gathers*; Zen 4, 1000–1500 rounds
/// each): the conv output stage fetching the next row 0.994 and 0.988 of the frame against nothing, two rows on 0.992
/// and 0.994 of the next row, three or four rows on 1.004 of two; into L1 instead of L2, 1.000; on the 256-bit paths
/// the next row cost more than it gave (AVX2 frames 1.012), so the callers use it on their 512-bit paths only. The
/// ConvGRU's state rows: 0.993 of the frame with the next row, the same with two rows on (0.999 and 1/1.002). The
/// glue's rows into Y (a glue whose rows a folded conv computes, as decode1–3's): 0.994 and 1/1.013 (twenty-second
/// session).
/// </summary>
internal static unsafe class RowPrefetch
{
    /// <summary>
    /// <c>prefetcht1</c> of each cache line of the <paramref name="count"/> floats that start 2·<paramref name="count"/>
    /// after <paramref name="row"/>: where a row of <paramref name="count"/> is what the caller writes, the same channel's
    /// row two rows on. A prefetch never faults, so lines past a plane's last row cost nothing but the instruction.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Ahead(float* row, int count)
    {
        for (int i = 0; i < count; i += 16) Line(row, count, i);
    }

    /// <summary>
    /// <see cref="Ahead"/>'s line for float <paramref name="i"/> of the row alone, for a pass that fetches a line per
    /// vector inside its own loop (the conv output stage's 512-bit rows: 0.994 and 1/1.006 of a frame against
    /// <see cref="Ahead"/> before the row, twenty-third session).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Line(float* row, int count, int i) => X86.Sse.Prefetch1(row + 2 * count + i);
}
