using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.BitPacking;
using Xunit.Abstractions;

namespace BiVM.CustomOps.Tests.BinaryConv2d;

/// <summary>
/// The gather's [block][k][pixel] layout for every kernel's pixel block, including the 8, 16 and 32 of the AVX-512
/// kernels that may not run on this host: each must hold exactly the words of the one-pixel layout, transposed. With
/// 512-bit vectors the 3×3 layouts of ComposedPatches take the composed gather in blocks of 8, 16 and 32 (groups of
/// eight: consecutive, scattered, at the row's edges); scattered one-word lists of the other layouts, and of every
/// layout in 4-pixel blocks, take the gather by runs. The lists below give them runs of 1, 5 and 16 columns and runs of
/// many whole blocks, at both edges of the row.
/// </summary>
public class PatchGathererTests(ITestOutputHelper log)
{
    [Fact]
    public void The_composed_patches_take_the_3x3_layouts_of_fixed_tap_places_on_512_bit_hosts()
    {
        // The composed path writes the same words as the general one (the test below compares their blocks of 8, 16 and
        // 32 lanes with the one-pixel blocks), so only this says whether it is the path those layers take: four taps a
        // word, two, two bit-tight with spills (33–35 channels: 5 words), one (57–64), and two or four whole words a pixel
        // (65–128, 193–256 channels); one word a pixel at stride 2 as well. Not: other bit-tight widths, three or more
        // than four words, several words at stride 2, other or unequal strides, dilations, kernels, the AVX2 kernel's
        // 4-pixel blocks.
        bool wide = System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Avx512F.IsSupported;
        foreach (int cin in new[] { 1, 16, 17, 32, 33, 35, 57, 64, 65, 128, 193, 256 })
            foreach (int block in new[] { 8, 32 })
                Assert.Equal(wide, ComposedPatches.Takes(BinaryConv2dParams.Square(1, cin, 9, 40, 4, 3), block));
        foreach (int cin in new[] { 16, 32, 35, 64 }) // one word a pixel at stride 2 too
            Assert.Equal(wide, ComposedPatches.Takes(BinaryConv2dParams.Square(1, cin, 9, 40, 4, 3, stride: 2), 32));
        foreach (var p in new[] { BinaryConv2dParams.Square(1, 36, 9, 40, 4, 3), BinaryConv2dParams.Square(1, 56, 9, 40, 4, 3),
                     BinaryConv2dParams.Square(1, 128, 9, 40, 4, 3, stride: 2), BinaryConv2dParams.Square(1, 16, 9, 40, 4, 3, stride: 3), BinaryConv2dParams.Square(1, 16, 9, 40, 4, 3, dilation: 2),
                     new BinaryConv2dParams(1, 16, 9, 40, 4, 3, 3, 1, 2, 1, 1, 1, 1, 1, 1),
                     BinaryConv2dParams.Square(1, 16, 9, 40, 4, 5), BinaryConv2dParams.Square(1, 16, 9, 40, 4, 1), BinaryConv2dParams.Square(1, 129, 9, 40, 4, 3), BinaryConv2dParams.Square(1, 257, 9, 40, 4, 3),
                     BinaryConv2dParams.Square(1, 128, 9, 40, 4, 3, dilation: 2) })
            Assert.False(ComposedPatches.Takes(p, 32), p.ToString());
        Assert.False(ComposedPatches.Takes(BinaryConv2dParams.Square(1, 16, 9, 40, 4, 3), 4));
        log.WriteLine(wide ? "composed patches tested (512-bit vectors)" : "this CPU could not run the composed patches (no 512-bit vectors): the general gather took every layer");
    }

    [Fact]
    public unsafe void Every_pixel_block_holds_the_same_words_as_one_pixel_per_block()
    {
        // Plus rows wide enough for whole 32-pixel blocks inside the image (the contiguous-copy fast path).
        var wide = new[] { BinaryConv2dParams.Square(1, 64, 4, 75, 4, 3), BinaryConv2dParams.Square(1, 40, 4, 150, 4, 3, stride: 2), BinaryConv2dParams.Square(1, 20, 3, 70, 4, 3),
            // Two, four and sixteen words a pixel at stride 1 (the 4×4 word transposes), blocks inside the row.
            BinaryConv2dParams.Square(1, 128, 3, 44, 4, 3), BinaryConv2dParams.Square(1, 256, 3, 40, 4, 3), BinaryConv2dParams.Square(1, 1024, 3, 36, 4, 3, dilation: 2),
            // Rows that are edge blocks from end to end (the zero-padded copy): 256 channels at the backbone's width of
            // 32, stride 2 with one word and with two (no vector form: lane by lane), 80 channels (two words) at 36.
            BinaryConv2dParams.Square(1, 256, 3, 32, 4, 3), BinaryConv2dParams.Square(1, 64, 4, 36, 4, 3, stride: 2),
            BinaryConv2dParams.Square(1, 128, 3, 30, 4, 3, stride: 2), BinaryConv2dParams.Square(1, 80, 3, 36, 4, 3),
            // The composed patches' layouts (ComposedPatches) on rows of whole and partial groups of eight: four taps a
            // word, two, two bit-tight (33–35 channels, each odd tap spilling into the next word), one; padding 1 and 2.
            BinaryConv2dParams.Square(1, 5, 4, 45, 4, 3), BinaryConv2dParams.Square(1, 32, 4, 53, 4, 3), BinaryConv2dParams.Square(1, 35, 4, 75, 4, 3),
            BinaryConv2dParams.Square(1, 34, 3, 41, 4, 3, pad: 2), BinaryConv2dParams.Square(1, 33, 5, 24, 4, 3), BinaryConv2dParams.Square(1, 59, 4, 67, 4, 3),
            // And two and four words a pixel (decode2's and decode3's sparse 3×3s: 115 and 195 channels).
            BinaryConv2dParams.Square(1, 115, 4, 45, 4, 3), BinaryConv2dParams.Square(1, 195, 3, 37, 4, 3), BinaryConv2dParams.Square(2, 100, 3, 21, 4, 3, pad: 2),
            // And one word a pixel at stride 2 (the even words of two loads), odd and even widths; at 31 and 47 columns a
            // group of eight reads up to the row's last word (one more would be the next row's first).
            BinaryConv2dParams.Square(1, 16, 5, 70, 4, 3, stride: 2), BinaryConv2dParams.Square(1, 35, 5, 67, 4, 3, stride: 2), BinaryConv2dParams.Square(1, 30, 4, 40, 4, 3, stride: 2),
            BinaryConv2dParams.Square(1, 20, 5, 31, 4, 3, stride: 2), BinaryConv2dParams.Square(1, 64, 5, 47, 4, 3, stride: 2) };
        foreach (var (p, i) in ConvCase.Shapes().Concat(wide).Select((p, i) => (p, i)))
        {
            var c = new ConvCase(p, seed: 300 + i);
            var packed = ActivationPacker.Pack(c.X, c.Tau, p.Batch, p.InChannels, p.InHeight, p.InWidth);
            int pw = p.KernelWords, wOut = p.OutWidth;
            // Every column, then scattered lists as the sparse conv makes them: every other column, runs of 16 as
            // from mask cells of 16 (from the left edge, or to the right one), runs of 5 across the vector stretches,
            // two long runs, one from each edge, around a gap of one column (runs of many whole blocks, their first and
            // last blocks reading the padding), and runs of 4 and 8 as from cells of 4 (decode2's), several to a group.
            var lists = new[]
            {
                Enumerable.Range(0, wOut).ToArray(), Enumerable.Range(0, wOut).Where(x => x % 2 == 1).ToArray(),
                Enumerable.Range(0, wOut).Where(x => x / 16 % 2 == 0).ToArray(), Enumerable.Range(0, wOut).Where(x => x / 16 % 2 == 1 || x == wOut - 1).ToArray(),
                Enumerable.Range(0, wOut).Where(x => x / 5 % 2 == 1).ToArray(), Enumerable.Range(0, wOut).Where(x => x != wOut / 2).ToArray(),
                Enumerable.Range(0, wOut).Where(x => x / 4 % 5 is 0 or 2 or 3).ToArray(),
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

    [Theory]
    [InlineData(35, 3, 35, 5)]
    [InlineData(40, 3, 40, 6)]
    [InlineData(56, 3, 56, 8)]
    [InlineData(57, 3, 64, 9)] // no word saved: whole words
    [InlineData(48, 5, 48, 19)]
    [InlineData(48, 1, 64, 1)]
    [InlineData(33, 3, 33, 5)]
    [InlineData(20, 3, 32, 5)]
    [InlineData(16, 3, 16, 3)]
    public unsafe void A_patch_holds_tap_t_channel_c_at_bit_t_times_TapBits_plus_c(int cin, int k, int tapBits, int kernelWords)
    {
        // The layout as the weights and the kernels assume it, from the channels' own bits (not from the gather's code):
        // bit t·TapBits + c of the patch is channel c of tap t, and every other bit is zero.
        // 100 columns: whole 32-pixel blocks inside the row too (the gather's word-by-word path for them).
        var p = BinaryConv2dParams.Square(1, cin, k + 2, 100, 4, k);
        Assert.Equal(tapBits, p.TapBits);
        Assert.Equal(kernelWords, p.KernelWords);
        var c = new ConvCase(p, seed: cin * 10 + k);
        var packed = ActivationPacker.Pack(c.X, c.Tau, 1, cin, p.InHeight, p.InWidth);
        int oy = p.OutHeight / 2;
        var xs = Enumerable.Range(0, p.OutWidth).ToArray();
        foreach (int block in new[] { 1, 8, 32 })
        {
            var blocked = Gather(p, packed, oy, xs, block);
            foreach (int x in new[] { 0, 1, 17, 32, 50, 63, 64, 95, p.OutWidth - 1 }) // the left edge (padding taps), inside, the right edge
            {
                var expected = new ulong[kernelWords];
                for (int t = 0; t < p.Taps; t++)
                {
                    int iy = oy - p.PadTop + t / k, ix = x - p.PadLeft + t % k;
                    for (int ch = 0; ch < cin; ch++)
                    {
                        bool inside = iy >= 0 && iy < p.InHeight && ix >= 0 && ix < p.InWidth;
                        bool bit = inside && !(c.X[(ch * p.InHeight + iy) * p.InWidth + ix] - c.Tau[ch] >= 0f); // bit set: −1
                        long at = (long)t * tapBits + ch;
                        if (bit) expected[at / 64] |= 1UL << (int)(at % 64);
                    }
                }
                for (int w = 0; w < kernelWords; w++)
                    Assert.True(expected[w] == blocked[(x / block * kernelWords + w) * block + x % block],
                        $"Cin {cin}, {k}×{k}, block {block}, column {x}, word {w}: {blocked[(x / block * kernelWords + w) * block + x % block]:X16}, expected {expected[w]:X16}");
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
