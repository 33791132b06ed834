using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.BitPacking;

namespace BiVM.CustomOps.Tests.BinaryConv2d;

/// <summary>
/// The gather's [block][k][pixel] layout for every kernel's pixel block, including the 8, 16 and 32 of the AVX-512
/// kernels that may not run on this host: each must hold exactly the words of the one-pixel layout, transposed. With
/// 512-bit vectors, a scattered list of one-word pixels at stride 1 takes the gather by runs: the lists below give it
/// runs of 1, 5 and 16 columns, at both edges of the row.
/// </summary>
public class PatchGathererTests
{
    [Fact]
    public unsafe void Every_pixel_block_holds_the_same_words_as_one_pixel_per_block()
    {
        // Plus rows wide enough for whole 32-pixel blocks inside the image (the contiguous-copy fast path).
        var wide = new[] { BinaryConv2dParams.Square(1, 64, 4, 75, 4, 3), BinaryConv2dParams.Square(1, 40, 4, 150, 4, 3, stride: 2), BinaryConv2dParams.Square(1, 20, 3, 70, 4, 3) };
        foreach (var (p, i) in ConvCase.Shapes().Concat(wide).Select((p, i) => (p, i)))
        {
            var c = new ConvCase(p, seed: 300 + i);
            var packed = ActivationPacker.Pack(c.X, c.Tau, p.Batch, p.InChannels, p.InHeight, p.InWidth);
            int pw = p.KernelWords, wOut = p.OutWidth;
            // Every column, then scattered lists as the sparse conv makes them: every other column, runs of 16 as
            // from mask cells of 16 (from the left edge, or to the right one), runs of 5 across the vector stretches.
            var lists = new[]
            {
                Enumerable.Range(0, wOut).ToArray(), Enumerable.Range(0, wOut).Where(x => x % 2 == 1).ToArray(),
                Enumerable.Range(0, wOut).Where(x => x / 16 % 2 == 0).ToArray(), Enumerable.Range(0, wOut).Where(x => x / 16 % 2 == 1 || x == wOut - 1).ToArray(),
                Enumerable.Range(0, wOut).Where(x => x / 5 % 2 == 1).ToArray(),
            };
            foreach (var xs in lists)
            {
                if (xs.Length == 0) continue;
                for (int oy = 0; oy < p.OutHeight; oy++)
                {
                    var one = Gather(p, packed, oy, xs, 1);
                    foreach (int block in new[] { 4, 8, 16, 32 })
                    {
                        var blocked = Gather(p, packed, oy, xs, block);
                        for (int x = 0; x < xs.Length; x++)
                            for (int k = 0; k < pw; k++)
                                Assert.True(one[x * pw + k] == blocked[(x / block * pw + k) * block + x % block],
                                    $"{c}: row {oy}, column {xs[x]}, word {k}, block {block}");
                        for (int x = xs.Length; x < (xs.Length + block - 1) / block * block; x++)
                            for (int k = 0; k < pw; k++)
                                Assert.Equal(0UL, blocked[(x / block * pw + k) * block + x % block]); // fill lanes are zero
                    }
                }
            }
        }
    }

    private static unsafe ulong[] Gather(BinaryConv2dParams p, ulong[] packed, int oy, int[] xs, int block)
    {
        var dst = new ulong[(xs.Length + block - 1) / block * block * p.KernelWords];
        Array.Fill(dst, 0xA5A5A5A5A5A5A5A5UL); // the gather must write every word, fill lanes included
        fixed (ulong* a = packed) fixed (int* x = xs) fixed (ulong* d = dst)
            PatchGatherer.Gather(p, a, oy, x, xs.Length, block, d);
        return dst;
    }
}
