using System.Numerics;
using BiVM.CustomOps.Activation;
using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.BitPacking;
using Xunit.Abstractions;

namespace BiVM.CustomOps.Tests.BinaryConv2d;

/// <summary>
/// The moments of a one-word 1×1 conv from the co-occurrences of its input's bits (<see cref="BitPlaneGram"/>): the
/// planes bit by bit against their definition, and the moments against every pixel's counts (the other path,
/// <see cref="FoldedPointwiseConv.MomentsRow"/>) and a scalar oracle, over channel counts around the 8-channel blocks
/// and pixel counts around the 64-pixel words and the rounds. On a CPU without AVX-512 VBMI, GFNI and an 8-lane VPOPCNTQ
/// kernel the co-occurrences are never taken, and the tests say so.
/// </summary>
public sealed unsafe class BitPlaneGramTests(ITestOutputHelper log)
{
    private static ulong[] Pixels(Random r, int count, int cin, double density) =>
        Enumerable.Range(0, count).Select(_ =>
        {
            ulong word = 0;
            for (int b = 0; b < cin; b++) if (r.NextDouble() < density) word |= 1UL << b;
            return word;
        }).ToArray();

    [Theory]
    [InlineData(1, 1)]
    [InlineData(8, 63)]
    [InlineData(9, 64)]
    [InlineData(35, 65)]
    [InlineData(59, 200)]
    [InlineData(64, 4096)]
    public void Planes_hold_each_channels_bits_in_their_order_and_rows_transpose_them(int cin, int count)
    {
        if (!BitPlaneGram.IsSupported)
        {
            log.WriteLine("this CPU cannot form the bit planes (AVX-512 VBMI and GFNI): not tested here");
            return;
        }
        var pixels = Pixels(new Random(cin * 7 + count), count, cin, 0.5);
        int blocks = (cin + 7) / 8, words = (count + 63) / 64, rowCount = BitPlaneGram.XorRows(cin);
        var patches = new ulong[8 * blocks * words];
        var rows = Enumerable.Repeat(ulong.MaxValue, rowCount * words).ToArray(); // the rows past Cin must be cleared
        fixed (ulong* p = pixels, d = patches, o = rows)
        {
            BitPlaneGram.Planes(p, count, blocks, d, words);
            BitPlaneGram.Rows(d, cin, words, rowCount, o);
        }
        for (int b = 0; b < 8 * blocks; b++)
            for (int w = 0; w < words; w++)
            {
                // Bit 8g + 7 − r of word w: pixel 64w + 8g + r; zero past the pixels (and for the block's lanes past Cin).
                ulong expected = 0;
                for (int g = 0; g < 8; g++)
                    for (int r = 0; r < 8; r++)
                    {
                        int pixel = 64 * w + 8 * g + r;
                        if (pixel < count && (pixels[pixel] >> b & 1) != 0) expected |= 1UL << (8 * g + 7 - r);
                    }
                Assert.True(expected == patches[(b / 8 * words + w) * 8 + b % 8], $"Cin {cin}, {count} pixels: channel {b}, word {w}");
                if (b < rowCount) Assert.True((b < cin ? expected : 0) == rows[b * words + w], $"Cin {cin}, {count} pixels: row {b}, word {w}");
            }
    }

    [Fact]
    public void Moments_by_cooccurrence_are_the_counts_moments_to_the_integer()
    {
        var r = new Random(3);
        int tested = 0;
        foreach (int cin in new[] { 1, 2, 7, 8, 9, 16, 35, 59, 63, 64 })
        foreach (int cout in new[] { 1, 5, 16 })
        foreach (var (h, w) in new[] { (1, 1), (3, 37), (2, 64), (19, 520) }) // 1 pixel to 9880: past a word and past a round
        foreach (double density in new[] { 0.0, 0.3, 1.0 })
        {
            var signs = Enumerable.Range(0, cout * cin).Select(_ => r.Next(2) == 0 ? 1f : -1f).ToArray();
            using var conv = new FoldedPointwiseConv(WeightPacker.Pack(signs, cout, cin, 1, 1), new float[cout], new float[cin], []);
            if (!BitPlaneGram.IsSupported || conv.KernelName is not ("avx512-vpopcntq-jit" or "avx512-vpopcntq8-jit"))
            {
                log.WriteLine($"kernel {conv.KernelName}{(BitPlaneGram.IsSupported ? "" : ", no AVX-512 VBMI and GFNI")}: the co-occurrences are not taken on this CPU, not tested here");
                return;
            }
            const int n = 2;
            var pixels = Pixels(r, n * h * w, cin, density);
            var byGram = new long[2 * n * cout];
            var byCounts = new long[2 * n * cout];
            fixed (ulong* p = pixels) fixed (long* g = byGram, c = byCounts)
            {
                conv.Moments(ParallelRunners.Threads(2), p, n, h, w, g, g + n * cout, gram: true);
                conv.Moments(ParallelRunners.Sequential, p, n, h, w, c, c + n * cout, gram: false);
            }
            Assert.True(byCounts.SequenceEqual(byGram), $"Cin {cin}, Cout {cout}, {h}×{w}, density {density}: [{string.Join(", ", byGram)}] against [{string.Join(", ", byCounts)}]");
            // And against popcounts counted here, image by image.
            for (int i = 0; i < n; i++)
                for (int co = 0; co < cout; co++)
                {
                    ulong weight = WeightPacker.Pack(signs.AsSpan(co * cin, cin), 1, cin, 1, 1)[0];
                    long sum = 0, squares = 0;
                    for (int q = i * h * w; q < (i + 1) * h * w; q++)
                    {
                        long count = BitOperations.PopCount(pixels[q] ^ weight);
                        sum += count;
                        squares += count * count;
                    }
                    Assert.Equal((sum, squares), (byGram[i * cout + co], byGram[n * cout + i * cout + co]));
                }
            tested++;
        }
        log.WriteLine($"{tested} cases by co-occurrence on {KernelSelector.SupportedNames.First()}");
    }

    [Theory]
    // Cin, Cout, whether the co-occurrences pay (BinaryConvolution.GramPays): decode0's two, decode1's, a full word.
    [InlineData(16, 16, true)]
    [InlineData(35, 16, true)]
    [InlineData(59, 32, false)]
    [InlineData(64, 8, false)]
    public void The_glue_takes_the_cooccurrences_where_they_pay(int cin, int cout, bool pays)
    {
        var signs = Enumerable.Repeat(1f, cout * cin).ToArray();
        using var conv = new FoldedPointwiseConv(WeightPacker.Pack(signs, cout, cin, 1, 1), new float[cout], new float[cin], []);
        bool possible = BitPlaneGram.IsSupported && conv.KernelName is "avx512-vpopcntq-jit" or "avx512-vpopcntq8-jit";
        Assert.Equal(pays && possible, conv.TakesGram);
        if (!possible) log.WriteLine($"kernel {conv.KernelName}: the co-occurrences are never taken on this CPU");
    }
}
