using BiVM.CustomOps.BitPacking;

namespace BiVM.CustomOps.Tests.BitPacking;

public unsafe class ActivationPackerTests
{
    [Theory]
    [InlineData(3, 9)]
    [InlineData(17, 8)]
    [InlineData(64, 16)]
    [InlineData(65, 23)]
    [InlineData(130, 13)]
    [InlineData(64, 40)]   // 5 chunks: two 16-pixel compares and one 8-pixel one
    [InlineData(35, 531)]  // 66 chunks: more than the 64 one pass holds, a tail of 3
    public void Vector_packer_matches_bit_by_bit_packing(int cin, int w)
    {
        const int h = 3, batch = 2;
        var rng = new Random(cin * 31 + w);
        var x = Enumerable.Range(0, batch * cin * h * w).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var tau = Enumerable.Range(0, cin).Select(_ => (float)(rng.NextDouble() - 0.5) * 0.2f).ToArray();
        x[5] = tau[0]; // a tie: x − τ = 0 is +1, bit 0
        var packed = ActivationPacker.Pack(x, tau, batch, cin, h, w, wideTranspose: false);
        // The AVX-512 VBMI transpose, where this CPU has it, must give the same words as the scalar transposes.
        if (System.Runtime.Intrinsics.X86.Avx512Vbmi.IsSupported) Assert.Equal(packed, ActivationPacker.Pack(x, tau, batch, cin, h, w, wideTranspose: true));
        int words = PackedLayout.WordsFor(cin);
        for (int n = 0; n < batch; n++)
            for (int iy = 0; iy < h; iy++)
                for (int ix = 0; ix < w; ix++)
                    for (int c = 0; c < words * 64; c++)
                    {
                        ulong bit = (packed[((n * h + iy) * w + ix) * words + c / 64] >> (c % 64)) & 1;
                        ulong expected = c >= cin ? 0UL : x[((n * cin + c) * h + iy) * w + ix] - tau[c] >= 0 ? 0UL : 1UL;
                        Assert.True(expected == bit, $"n{n} y{iy} x{ix} c{c}: bit {bit}, expected {expected}");
                    }
    }

    [Theory]
    [InlineData(1, 100)]
    [InlineData(3, 13)]    // below a 16-pixel step: two overlapping 8-pixel steps, or below 8 the transposing path
    [InlineData(70, 24)]   // a step and an overlapping last one; 12 pixels from the middle
    [InlineData(16, 300)]  // 18 steps of 16: two blocks of 8 and a block of 2, then an overlapping last step
    [InlineData(256, 32)]  // the 18 × 32 layers' rows: one block of 2 steps, four words a pixel
    [InlineData(130, 50)]  // 3 steps: a block of 2 and a single step, then an overlapping last one
    [InlineData(31, 37)]
    [InlineData(32, 64)]
    [InlineData(33, 129)]
    [InlineData(35, 531)]
    [InlineData(64, 200)]
    [InlineData(65, 47)]
    [InlineData(130, 150)]
    [InlineData(256, 33)]
    public void Lane_packer_matches_the_transposing_packer_at_every_width_this_CPU_runs(int cin, int w)
    {
        const int h = 2, batch = 2;
        var rng = new Random(cin * 7 + w);
        var x = Enumerable.Range(0, batch * cin * h * w).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var tau = Enumerable.Range(0, cin).Select(_ => (float)(rng.NextDouble() - 0.5) * 0.2f).ToArray();
        // Ties (x − τ = 0 is +1), NaN (−1, as the lowered graph), signed zeros against τ = 0.
        for (int i = 0; i < x.Length; i += 7) x[i] = tau[i / (h * w) % cin];
        for (int i = 3; i < x.Length; i += 29) x[i] = float.NaN;
        tau[0] = 0f;
        for (int i = 1; i < Math.Min(w, x.Length); i += 2) x[i] = i % 4 == 1 ? -0f : 0f;
        var expected = ActivationPacker.Pack(x, tau, batch, cin, h, w, wideTranspose: false);
        int words = PackedLayout.WordsFor(cin);
        var lanes = new[] { 16, 8 }.Where(l => l <= ActivationPacker.BestLanes).ToArray();
        Assert.NotEmpty(lanes); // every x86-64 host of ours has at least AVX2
        foreach (int l in lanes)
            foreach (var (from, to) in new[] { (0, w), (Math.Min(3, w), Math.Max(Math.Min(3, w), w - 5)), (w / 2, w) })
            {
                var actual = Enumerable.Repeat(0xDEADBEEFUL, expected.Length).ToArray();
                fixed (float* px = x, pt = tau) fixed (ulong* pd = actual)
                    for (int n = 0; n < batch; n++)
                        for (int iy = 0; iy < h; iy++)
                            ActivationPacker.PackRowLanes(px, pt, cin, h, w, n, iy, from, to, pd + ((long)n * h + iy) * w * words, l);
                for (int i = 0; i < expected.Length; i++)
                {
                    int ix = i / words % w;
                    ulong want = ix >= from && ix < to ? expected[i] : 0xDEADBEEFUL; // pixels outside the range untouched
                    Assert.True(want == actual[i], $"{l} lanes, pixels [{from}, {to}): word {i} (pixel {ix}) is {actual[i]:X16}, expected {want:X16}");
                }
            }
    }

    [Theory]
    [InlineData(1, 100)]
    [InlineData(16, 512)]  // decode0's glue: 8 blocks of 64 pixels (16 of 32 on AVX2)
    [InlineData(20, 131)]  // blocks, then a tail packed once for each τ
    [InlineData(32, 64)]
    [InlineData(40, 97)]   // AVX2 packs more than 32 channels once for each τ
    [InlineData(64, 200)]
    [InlineData(7, 31)]    // below a block
    public void Packing_against_two_taus_at_once_gives_each_taus_words(int cin, int w)
    {
        const int h = 2, batch = 2;
        var rng = new Random(cin * 11 + w);
        var x = Enumerable.Range(0, batch * cin * h * w).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var tau = Enumerable.Range(0, cin).Select(_ => (float)(rng.NextDouble() - 0.5) * 0.2f).ToArray();
        var tauSecond = Enumerable.Range(0, cin).Select(_ => (float)(rng.NextDouble() - 0.5) * 0.2f).ToArray();
        // Ties with either τ and NaN (−1, as the lowered graph).
        for (int i = 0; i < x.Length; i += 7) x[i] = tau[i / (h * w) % cin];
        for (int i = 2; i < x.Length; i += 11) x[i] = tauSecond[i / (h * w) % cin];
        for (int i = 3; i < x.Length; i += 29) x[i] = float.NaN;
        var expected = ActivationPacker.Pack(x, tau, batch, cin, h, w, wideTranspose: false);
        var expectedSecond = ActivationPacker.Pack(x, tauSecond, batch, cin, h, w, wideTranspose: false);
        foreach (var (from, to) in new[] { (0, w), (Math.Min(5, w), w) })
        {
            var first = Enumerable.Repeat(0xDEADBEEFUL, expected.Length).ToArray();
            var second = Enumerable.Repeat(0xDEADBEEFUL, expected.Length).ToArray();
            fixed (float* px = x, pt = tau, pu = tauSecond) fixed (ulong* pd = first, pe = second)
                for (int n = 0; n < batch; n++)
                    for (int iy = 0; iy < h; iy++)
                        ActivationPacker.PackRowTwice(px, pt, pu, cin, h, w, n, iy, from, to, pd + ((long)n * h + iy) * w, pe + ((long)n * h + iy) * w);
            for (int i = 0; i < expected.Length; i++)
            {
                bool inside = i % w >= from;
                Assert.True((inside ? expected[i] : 0xDEADBEEFUL) == first[i], $"pixels [{from}, {to}): word {i} against τ");
                Assert.True((inside ? expectedSecond[i] : 0xDEADBEEFUL) == second[i], $"pixels [{from}, {to}): word {i} against the second τ");
            }
        }
    }

    [Fact]
    public void One_hot_pins_bit_order()
    {
        // 70 channels, 9 pixels (one vector chunk + a scalar tail); only channel 66 of pixel 8 and channel 5 of pixel 2 are negative.
        const int cin = 70, w = 9;
        var x = new float[cin * w];
        x[66 * w + 8] = -1f;
        x[5 * w + 2] = -1f;
        var packed = ActivationPacker.Pack(x, new float[cin], 1, cin, 1, w);
        Assert.Equal(18, packed.Length);
        for (int i = 0; i < packed.Length; i++)
        {
            ulong expected = i == 2 * 2 ? 1UL << 5 : i == 8 * 2 + 1 ? 1UL << 2 : 0UL;
            Assert.Equal(expected, packed[i]);
        }
    }

    [Fact]
    public void Nan_is_minus_one_like_the_lowered_graph()
    {
        var packed = ActivationPacker.Pack([float.NaN, 0f, -0f, 1f], [0f], 1, 1, 1, 4);
        Assert.Equal([1UL, 0UL, 0UL, 0UL], packed);
    }

    /// <summary>Values where a compare could go astray: zeros, subnormals, neighbours, the largest, infinities, NaN.</summary>
    private static readonly float[] Special =
    [
        0f, -0f, float.Epsilon, -float.Epsilon, 2 * float.Epsilon, 1e-39f, -1e-39f, 1.1754944e-38f, -1.1754944e-38f, 1.1754942e-38f,
        1f, -1f, BitConverter.Int32BitsToSingle(0x3F800001), 0.99999994f, float.MaxValue, -float.MaxValue, float.PositiveInfinity,
        float.NegativeInfinity, float.NaN, 3.5f, -2.25f,
    ];

    [Fact]
    public void Threshold_compare_is_the_sign_of_x_minus_tau_for_every_pair_of_special_values()
    {
        // The packers compare x with Threshold(τ) instead of forming x − τ: the same bit for every x and τ (ties, signed
        // zeros, subnormals, the largest values whose difference overflows, infinities of either sign, NaN), and only
        // because of the mapping: with τ itself, x = τ = ±∞ would give 0 where x − τ is NaN.
        foreach (float tau in Special)
            foreach (float x in Special)
                Assert.True(PackedLayout.SignBit(x - tau) == (x >= PackedLayout.Threshold(tau) ? 0UL : 1UL), $"x = {x:R}, τ = {tau:R}");
        float infinity = float.PositiveInfinity;
        Assert.True(infinity >= Same(infinity) && PackedLayout.SignBit(infinity - infinity) == 1UL);
        static float Same(float v) => v;
    }

    [Theory]
    [InlineData(21, 37)]   // 16-lane steps, an overlapping last one, the transposing path's chunks and scalar tail
    [InlineData(21, 13)]   // two 8-pixel steps, or the transposing path alone
    [InlineData(70, 40)]   // two words a pixel
    public void Special_values_and_tau_pack_as_the_sign_of_x_minus_tau_on_every_path(int cin, int w)
    {
        // Every pair of special x and τ meets somewhere: channel c takes τ = Special[c % n], pixel i of it x = Special[(i + c) % n].
        const int h = 2;
        int n = Special.Length;
        var tau = Enumerable.Range(0, cin).Select(c => Special[c % n]).ToArray();
        var x = new float[cin * h * w];
        for (int c = 0; c < cin; c++)
            for (int i = 0; i < h * w; i++) x[c * h * w + i] = Special[(i + c) % n];
        int words = PackedLayout.WordsFor(cin);
        var expected = new ulong[h * w * words];
        for (int c = 0; c < cin; c++)
            for (int i = 0; i < h * w; i++) expected[i * words + c / 64] |= PackedLayout.SignBit(x[c * h * w + i] - tau[c]) << (c % 64);
        Assert.Equal(expected, ActivationPacker.Pack(x, tau, 1, cin, h, w, wideTranspose: false));
        if (System.Runtime.Intrinsics.X86.Avx512Vbmi.IsSupported) Assert.Equal(expected, ActivationPacker.Pack(x, tau, 1, cin, h, w, wideTranspose: true));
        foreach (int lanes in new[] { 16, 8 }.Where(l => l <= ActivationPacker.BestLanes))
        {
            var actual = new ulong[expected.Length];
            fixed (float* px = x, pt = tau) fixed (ulong* pd = actual)
                for (int iy = 0; iy < h; iy++) ActivationPacker.PackRowLanes(px, pt, cin, h, w, 0, iy, 0, w, pd + (long)iy * w * words, lanes);
            Assert.Equal(expected, actual);
        }
    }

    [Fact]
    public void Transpose8x8_moves_row_r_column_c_to_row_c_column_r()
    {
        for (int r = 0; r < 8; r++)
            for (int c = 0; c < 8; c++)
                Assert.Equal(1UL << (8 * c + r), ActivationPacker.Transpose8x8(1UL << (8 * r + c)));
    }
}
