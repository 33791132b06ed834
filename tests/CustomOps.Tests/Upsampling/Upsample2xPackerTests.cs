using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.Upsampling;
using Xunit.Abstractions;

namespace BiVM.CustomOps.Tests.Upsampling;

/// <summary>
/// Upsample2xPacker (Upsample2xConcat writing only bits) against its specification: every value by
/// <see cref="Upsample2x.One"/> (or copied), then <see cref="ActivationPacker.PackOne"/>, word for word, for rows with
/// no vector block, one, several and an overlapping last one, crops, one row at a time and two (interior pairs and
/// others), 1 to 64 channels split between upsampled and copied, one and two τ, ties (τ equal to a value), NaN, ±0 and
/// infinities (in the values, the edge columns included, and in τ).
/// </summary>
public unsafe class Upsample2xPackerTests(ITestOutputHelper log)
{
    public static TheoryData<int, int, int, int> Sizes => new()
    {
        { 2, 5, 4, 10 },      // no block: the scalar formula alone
        { 3, 17, 6, 34 },     // exactly one block, outputs 0 and 33 at the edges
        { 2, 18, 3, 35 },     // one block and a cropped last column
        { 4, 40, 8, 80 },     // two blocks and an overlapping last one
        { 3, 33, 5, 65 },     // odd crop on both axes
        { 2, 48, 4, 50 },     // a crop far inside the doubled width
        { 1, 256, 2, 512 },   // decode0's row width
    };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void A_packed_row_is_the_upsampled_values_packed_by_the_specification(int h, int w, int height, int width)
    {
        if (!Upsample2xPacker.IsSupported)
        {
            log.WriteLine("this CPU accelerates neither 512-bit vectors nor AVX2: Upsample2xPacker cannot run here (Upsample2xConcat takes the plane path)");
            return;
        }
        var r = new Random(h * 1000 + w);
        var ys = BilinearAxis.Doubled(h, height);
        var xs = BilinearAxis.Doubled(w, width);
        foreach (var (total, upsampled) in new[] { (1, 1), (3, 0), (19, 16), (31, 31), (32, 29), (33, 33), (35, 32), (40, 7), (64, 61), (64, 64) })
        {
            // Channel c < upsampled is an h × w plane, the others height × width; special values here and there.
            var planes = new float[total][];
            for (int c = 0; c < total; c++)
            {
                var v = planes[c] = new float[c < upsampled ? h * w : height * width];
                for (int i = 0; i < v.Length; i++)
                    v[i] = (i * 7 + c) % 97 switch
                    {
                        3 => float.NaN,
                        5 => -0f,
                        8 => 0f,
                        13 => float.PositiveInfinity,
                        21 => float.NegativeInfinity,
                        _ => (float)(r.NextDouble() * 4 - 2),
                    };
                // The edge columns (outputs 0 and the last ones read them alone) hold special values in a third of the
                // rows, in every channel: the pattern above rarely puts one there.
                int columns = c < upsampled ? w : width;
                float[] specials = [float.NaN, -0f, float.PositiveInfinity, float.NegativeInfinity, 0f];
                for (int row = 0; row < v.Length / columns; row++)
                    if ((row + c) % 3 == 0)
                    {
                        v[row * columns] = specials[(row + c) % 5];
                        v[row * columns + columns - 1] = specials[(row + 2 * c) % 5];
                    }
            }
            var values = new float[total * height * width]; // the specification's NCHW rows, channel-major
            for (int c = 0; c < total; c++)
                fixed (float* x = planes[c])
                    for (int oy = 0; oy < height; oy++)
                        for (int ox = 0; ox < width; ox++)
                            values[(c * height + oy) * width + ox] = c < upsampled ? Upsample2x.One(x, w, ys, xs, oy, ox) : x[oy * width + ox];
            // τ of each channel is one of its values (a tie somewhere, an infinity or NaN at times), or 0; the second set another value.
            float Tie(int c) => r.Next(4) == 0 ? 0f : values[(c * height + r.Next(height)) * width + r.Next(width)];
            var tau = Enumerable.Range(0, total).Select(Tie).ToArray();
            var tauSecond = Enumerable.Range(0, total).Select(Tie).ToArray();
            var handles = planes.Select(p => System.Runtime.InteropServices.GCHandle.Alloc(p, System.Runtime.InteropServices.GCHandleType.Pinned)).ToArray();
            try
            {
                var pointers = handles.Select(x => x.AddrOfPinnedObject()).ToArray();
                foreach (bool two in new[] { false, true })
                {
                    var words = new ulong[width];
                    var wordsSecond = new ulong[width];
                    var expected = new ulong[1];
                    fixed (nint* p = pointers) fixed (float* t = tau, t2 = tauSecond, v = values) fixed (ulong* d = words, d2 = wordsSecond, e = expected)
                        for (int oy = 0; oy < height; oy++)
                        {
                            Upsample2xPacker.PackRow((float**)p, upsampled, total, w, ys, xs, oy, t, d, two ? t2 : null, two ? d2 : null);
                            for (int ox = 0; ox < width; ox++)
                            {
                                ActivationPacker.PackOne(v + (long)oy * width + ox, (long)height * width, t, total, 1, e);
                                Assert.True(e[0] == d[ox], $"{h}×{w} → {height}×{width}, {upsampled} of {total} upsampled: row {oy} pixel {ox} is {d[ox]:X16}, the specification {e[0]:X16}");
                                if (!two) continue;
                                ActivationPacker.PackOne(v + (long)oy * width + ox, (long)height * width, t2, total, 1, e);
                                Assert.True(e[0] == d2[ox], $"{h}×{w} → {height}×{width}, {upsampled} of {total} upsampled, second τ: row {oy} pixel {ox} is {d2[ox]:X16}, the specification {e[0]:X16}");
                            }
                        }
                    // Every two consecutive rows by PackRowPair: the interior pairs (2i + 1, 2i + 2) by its shared
                    // loads and products, the others (a pair starting at an even row) as two rows; the same words.
                    var pair = new ulong[2 * width];
                    var pairSecond = new ulong[2 * width];
                    fixed (nint* p = pointers) fixed (float* t = tau, t2 = tauSecond, v = values) fixed (ulong* d = pair, d2 = pairSecond, e = expected)
                        for (int oy = 0; oy + 1 < height; oy++)
                        {
                            Upsample2xPacker.PackRowPair((float**)p, upsampled, total, w, ys, xs, oy, t, d, two ? t2 : null, two ? d2 : null);
                            for (int k = 0; k < 2; k++)
                                for (int ox = 0; ox < width; ox++)
                                {
                                    ActivationPacker.PackOne(v + (long)(oy + k) * width + ox, (long)height * width, t, total, 1, e);
                                    Assert.True(e[0] == d[k * width + ox], $"{h}×{w} → {height}×{width}, {upsampled} of {total} upsampled: pair at row {oy}, row {oy + k} pixel {ox} is {d[k * width + ox]:X16}, the specification {e[0]:X16}");
                                    if (!two) continue;
                                    ActivationPacker.PackOne(v + (long)(oy + k) * width + ox, (long)height * width, t2, total, 1, e);
                                    Assert.True(e[0] == d2[k * width + ox], $"{h}×{w} → {height}×{width}, {upsampled} of {total} upsampled, second τ: pair at row {oy}, row {oy + k} pixel {ox} is {d2[k * width + ox]:X16}, the specification {e[0]:X16}");
                                }
                        }
                }
            }
            finally
            {
                foreach (var handle in handles) handle.Free();
            }
        }
    }

    [Fact]
    public void More_than_one_word_a_pixel_is_refused()
    {
        if (!Upsample2xPacker.IsSupported) return;
        var axis = BilinearAxis.Doubled(2, 4);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Upsample2xPacker.PackRow(null, 65, 65, 2, axis, axis, 0, null, null, null, null));
        Assert.Contains("at most 64, one word a pixel", e.Message);
    }
}
