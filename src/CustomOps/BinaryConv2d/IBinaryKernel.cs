using System.Runtime.Intrinsics;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// The popcount-accumulate stage (Larq's bgemm): for a block of output pixels and every output channel,
/// counts[co, p] = Σ_k popcount(patch[p, k] XOR weights[co, k]). Nothing else: padding and scale come later.
/// </summary>
/// <remarks>
/// Memory layout the kernels expect (written by <see cref="PatchGatherer"/>):
/// patches are grouped in blocks of <see cref="PixelBlock"/> pixels, each block stored k-major, pixel-minor
/// ([block][k][pixel]), so one vector load gives word k of <see cref="PixelBlock"/> neighbouring pixels and one
/// broadcast of weights[co, k] serves them all. Weights are three planes of [coutPadded][patchWords] words, with
/// coutPadded a multiple of <see cref="CoutBlock"/> (zero rows pad): the packed words, then their low nibbles
/// (w &amp; 0x0F0F…) and their high nibbles ((w &gt;&gt; 4) &amp; 0x0F0F…), prepared once per layer for the lookup
/// kernels. counts is [coutPadded][countsStride] ints.
/// </remarks>
internal unsafe interface IBinaryKernel
{
    /// <summary>Name used to force a kernel and in reports (a <see cref="KernelSelector"/> row: "avx2-jit", "avx2", …).</summary>
    string Name { get; }

    /// <summary>Pixels per block of the patch layout: 64-bit lanes per register × registers per word.</summary>
    int PixelBlock { get; }

    /// <summary>Output channels computed together (register blocking).</summary>
    const int CoutBlock = 4;

    /// <summary>
    /// How many times the L1-sized segment of <see cref="BinaryConvolution"/> a call of this kernel should cover: 1, or 2
    /// for the emitted AVX2 lookup, whose calls split their patches first (<see cref="SplitNibbles"/>) and whose
    /// 4-pixel blocks make each call's set-up weigh more (AVX2 frames 0.987 and 1/1.012 with twice the segment; four
    /// times gave nothing more, and the AVX-512 kernels nothing at twice: docs/kernels.md, twenty-third session).
    /// </summary>
    int SegmentScale => 1;

    /// <summary>
    /// Whether the kernel reads only the first of the weights' three planes (the packed words: a native popcount), so
    /// that a call may start its weights at any row (<see cref="BitPlaneGram"/> does); the lookup kernels also read the
    /// nibble planes, found at <c>coutPadded · patchWords</c> words from the weights they are given.
    /// </summary>
    bool ReadsWeightWordsOnly => false;

    void Accumulate(ulong* patches, int blocks, ulong* weights, int coutPadded, int patchWords, int* counts, int countsStride);

    /// <summary>Writes planes 1 and 2 (low and high nibbles) from plane 0 of <paramref name="weights"/>, each <paramref name="plane"/> words.</summary>
    static void WriteNibblePlanes(ulong* weights, long plane)
    {
        for (long i = 0; i < plane; i++)
        {
            weights[plane + i] = weights[i] & 0x0F0F0F0F0F0F0F0FUL;
            weights[2 * plane + i] = (weights[i] >> 4) & 0x0F0F0F0F0F0F0F0FUL;
        }
    }

    /// <summary>
    /// The patches as the AVX2 lookup kernel's code reads them (<c>Avx2LookupVariant</c>): each group of four words (one
    /// patch word of a 4-pixel block) as its low nibbles (w &amp; 0x0F0F…) then its high nibbles ((w &gt;&gt; 4) &amp;
    /// 0x0F0F…), eight words in <paramref name="into"/> for every four of <paramref name="patches"/>
    /// (<paramref name="words"/>, a multiple of 4). Split once per call rather than once per block of output channels.
    /// </summary>
    static void SplitNibbles(ulong* patches, long words, ulong* into)
    {
        if (words % 4 != 0) throw new ArgumentOutOfRangeException(nameof(words), words, "a multiple of 4 (4-pixel blocks)");
        var low = Vector256.Create(0x0F0F0F0F0F0F0F0FUL);
        for (long i = 0; i < words; i += 4)
        {
            var v = Vector256.Load(patches + i);
            (v & low).Store(into + 2 * i);
            (Vector256.ShiftRightLogical(v, 4) & low).Store(into + 2 * i + 4);
        }
    }
}
