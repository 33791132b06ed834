using System.Runtime.CompilerServices;
using X86 = System.Runtime.Intrinsics.X86;

namespace BiVM.CustomOps.Cpu;

/// <summary>
/// The next row of a plane fetched into L2 ahead of its stores, for the passes that write one row of each of many
/// channel planes at a time (a conv's output stage, the ConvGRU's new state): C planes are C streams a plane apart,
/// more than the hardware prefetchers follow, and without this the stores wait for their lines. Measured per pass
/// (docs/kernels.md, *the packer's edge outputs by gathers*): into L2, not L1 (there 1.000 of a frame); on the 256-bit
/// paths it cost more than it gave (AVX2 frames 1.012), so the callers use it on their 512-bit paths only.
/// </summary>
internal static unsafe class RowPrefetch
{
    /// <summary>
    /// <c>prefetcht1</c> of each cache line of the <paramref name="count"/> floats after <paramref name="row"/>'s
    /// <paramref name="count"/>: the same channel's next row where a row is what the caller writes. A prefetch never
    /// faults, so the lines past a plane's last row cost nothing but the instruction.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Next(float* row, int count)
    {
        for (int i = 0; i < count; i += 16) X86.Sse.Prefetch1(row + count + i);
    }
}
