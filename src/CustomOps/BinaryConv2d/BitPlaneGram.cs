using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// The moments of a one-word 1×1 binary conv's counts over an image, Σ_p popcount(x_p XOR w) and its squares for every
/// output channel, from the co-occurrences of the input's bits, M[b, b'] = Σ_p x_pb·x_pb', instead of from every
/// pixel's counts. With s_b = 1 − 2·w_b, popcount(x XOR w) = |w| + Σ_b s_b·x_b, so Σ_p popcount = N·|w| + Σ_b s_b·M[b, b]
/// and Σ_p popcount² = N·|w|² + 2·|w|·Σ_b s_b·M[b, b] + Σ_b Σ_b' s_b·s_b'·M[b, b']: exact integers, the same as the
/// counts give. M costs Cin²/2 pairs per 64 pixels where the counts cost Cout per pixel, so it pays where Cin is
/// small beside Cout (decode0's 16 → 16 and 35 → 16 at full resolution; <see cref="BinaryConvolution.GramPays"/>).
/// </summary>
/// <remarks>
/// The input's bits are first turned into bit planes, 64 pixels a word (<see cref="Planes"/>: each byte of eight pixels
/// transposed as an 8×8 bit matrix by one GF(2) affine transform, <c>vgf2p8affineqb</c>, then the bytes gathered by
/// permutes), then counted pairwise by the layer's own popcount kernel as a binary product of the planes with
/// themselves: X[b, b'] = Σ_w popcount(plane_b[w] XOR plane_b'[w]) = n_b + n_b' − 2·M[b, b'], with the planes as the
/// kernel's patches (8 lanes: 8 channels) and as its weights (rows, <see cref="Rows"/>), each block of 8 channels
/// against the rows from its own on (M is symmetric). Needs AVX-512 VBMI and GFNI and an 8-lane kernel that reads only
/// the weights' words (<see cref="IBinaryKernel.ReadsWeightWordsOnly"/>: VPOPCNTQ), where it starts at any row.
/// </remarks>
internal static unsafe class BitPlaneGram
{
    /// <summary>Whether this CPU forms the planes: 512-bit vectors, AVX-512 VBMI and GFNI.</summary>
    public static bool IsSupported => Vector512.IsHardwareAccelerated && Avx512Vbmi.IsSupported && Gfni.V512.IsSupported;

    /// <summary>Pixels per round of planes and counts: the planes as patches and as rows, 64 words each per channel, stay in L1 and L2.</summary>
    public const int RoundPixels = 4096;

    /// <summary>Rows of the XOR counts: the Cin planes and at least one zero plane (its column gives each plane's popcount), a multiple of the kernel's 4 channels.</summary>
    public static int XorRows(int cin) => (cin + 4) / 4 * 4;

    /// <summary>Row length of the co-occurrences <see cref="Cooccurrence"/> writes: Cin up to a multiple of 8 (zero past Cin).</summary>
    public static int Stride(int cin) => (cin + 7) / 8 * 8;

    /// <summary>Output byte 8j + g = input byte 8g + j: an 8×8 byte matrix per 64 bytes transposed.</summary>
    private static readonly Vector512<byte> ByteTranspose = Vector512.Create(
        (byte)0, 8, 16, 24, 32, 40, 48, 56, 1, 9, 17, 25, 33, 41, 49, 57, 2, 10, 18, 26, 34, 42, 50, 58, 3, 11, 19, 27, 35, 43, 51, 59,
        4, 12, 20, 28, 36, 44, 52, 60, 5, 13, 21, 29, 37, 45, 53, 61, 6, 14, 22, 30, 38, 46, 54, 62, 7, 15, 23, 31, 39, 47, 55, 63);

    /// <summary>
    /// The bit planes of <paramref name="count"/> pixels (one word each), <paramref name="words"/> = ⌈count / 64⌉ words
    /// a channel, in the 8-lane patch layout of <see cref="IBinaryKernel"/>: block K (channels 8K … 8K + 7, K &lt;
    /// <paramref name="blocks"/>) at <paramref name="patches"/> + 8K·words, word w of lane j at + 8w + j. Bit 8g + 7 − r
    /// of word w is pixel 64w + 8g + r's bit 8K + j (the order the transform leaves, the same for every channel);
    /// pixels from count on are zero.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Planes(ulong* pixels, int count, int blocks, ulong* patches, int words)
    {
        if (!IsSupported) throw new PlatformNotSupportedException("bit planes need AVX-512 VBMI and GFNI");
        if (blocks is < 1 or > 8 || words != (count + 63) / 64) throw new ArgumentOutOfRangeException(nameof(words), $"{blocks} blocks, {words} words for {count} pixels");
        var unit = Vector512.Create(0x8040201008040201UL).AsByte(); // byte i of each qword: 1 << i
        ulong* tail = stackalloc ulong[64];
        long block = 8L * words;
        for (int w = 0; w < words; w++)
        {
            ulong* src = pixels + 64L * w;
            if (64 * w + 64 > count)
            {
                // The last pixels, then zero words.
                int left = count - 64 * w;
                new Span<ulong>(tail, 64).Clear();
                new ReadOnlySpan<ulong>(src, left).CopyTo(new Span<ulong>(tail, left));
                src = tail;
            }
            var q0 = Transposed8(src, unit); var q1 = Transposed8(src + 8, unit); var q2 = Transposed8(src + 16, unit); var q3 = Transposed8(src + 24, unit);
            var q4 = Transposed8(src + 32, unit); var q5 = Transposed8(src + 40, unit); var q6 = Transposed8(src + 48, unit); var q7 = Transposed8(src + 56, unit);
            // Qword K of q_g: the bytes of channels 8K … 8K + 7 for pixels 8g … 8g + 7. Qword K of every group into one
            // vector (an 8×8 transpose of qwords), then its bytes transposed: qword j = channel 8K + j's word.
            Transpose8x8(ref q0, ref q1, ref q2, ref q3, ref q4, ref q5, ref q6, ref q7);
            ulong* d = patches + 8L * w;
            Store(q0, d, 0, block, blocks); Store(q1, d, 1, block, blocks); Store(q2, d, 2, block, blocks); Store(q3, d, 3, block, blocks);
            Store(q4, d, 4, block, blocks); Store(q5, d, 5, block, blocks); Store(q6, d, 6, block, blocks); Store(q7, d, 7, block, blocks);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector512<ulong> q, ulong* d, int k, long block, int blocks)
    {
        if (k < blocks) Avx512Vbmi.PermuteVar64x8(q.AsByte(), ByteTranspose).AsUInt64().Store(d + k * block);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> Transposed8(ulong* src, Vector512<byte> unit)
    {
        // Eight pixels: qword k = their bytes k (byte r: pixel r's); then each qword's 8×8 bit matrix transposed by the
        // affine transform with the unit vectors as data: byte c of qword k = the eight pixels' bit 8k + c, pixel r at
        // bit 7 − r (bit i of A·x is the parity of A's byte 7 − i and x).
        var t = Avx512Vbmi.PermuteVar64x8(Vector512.Load((byte*)src), ByteTranspose);
        return Gfni.V512.GaloisFieldAffineTransform(unit, t, 0).AsUInt64();
    }

    /// <summary>
    /// The planes of <see cref="Planes"/> as rows, the kernel's weights: plane b (b &lt; <paramref name="cin"/>) at
    /// <paramref name="rows"/> + b·words (word w: lane b % 8 of word w of block b / 8); rows cin … rowCount − 1 zero.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows(ulong* patches, int cin, int words, int rowCount, ulong* rows)
    {
        if (!IsSupported) throw new PlatformNotSupportedException("bit planes need AVX-512 VBMI and GFNI");
        int blocks = (cin + 7) / 8;
        for (int k = 0; k < blocks; k++)
        {
            ulong* block = patches + 8L * k * words;
            int w = 0, lanes = Math.Min(8, cin - 8 * k);
            if (lanes == 8)
                for (; w + 8 <= words; w += 8)
                {
                    // Eight words of the eight lanes, transposed: vector j = lane j's words w … w + 7.
                    ulong* src = block + 8L * w;
                    var u0 = Vector512.Load(src); var u1 = Vector512.Load(src + 8); var u2 = Vector512.Load(src + 16); var u3 = Vector512.Load(src + 24);
                    var u4 = Vector512.Load(src + 32); var u5 = Vector512.Load(src + 40); var u6 = Vector512.Load(src + 48); var u7 = Vector512.Load(src + 56);
                    Transpose8x8(ref u0, ref u1, ref u2, ref u3, ref u4, ref u5, ref u6, ref u7);
                    ulong* d = rows + 8L * k * words + w;
                    u0.Store(d); u1.Store(d + words); u2.Store(d + 2L * words); u3.Store(d + 3L * words);
                    u4.Store(d + 4L * words); u5.Store(d + 5L * words); u6.Store(d + 6L * words); u7.Store(d + 7L * words);
                }
            for (; w < words; w++)
                for (int j = 0; j < lanes; j++) rows[(8L * k + j) * words + w] = block[8L * w + j];
        }
        new Span<ulong>(rows + (long)cin * words, (rowCount - cin) * words).Clear();
    }

    /// <summary>The 8×8 matrix of qwords whose row g is u_g, transposed in place: afterwards u_j's qword g is row g's qword j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(ref Vector512<ulong> u0, ref Vector512<ulong> u1, ref Vector512<ulong> u2, ref Vector512<ulong> u3,
        ref Vector512<ulong> u4, ref Vector512<ulong> u5, ref Vector512<ulong> u6, ref Vector512<ulong> u7)
    {
        // Pairs of rows interleaved by qwords (a0: u0.0 u1.0 u0.2 u1.2 u0.4 u1.4 u0.6 u1.6, a1 the odd qwords), then
        // pairs of pairs (b0: u0.0 u1.0 u2.0 u3.0 u0.4 u1.4 u2.4 u3.4), then the halves of four rows each.
        var a0 = Avx512F.UnpackLow(u0, u1); var a1 = Avx512F.UnpackHigh(u0, u1);
        var a2 = Avx512F.UnpackLow(u2, u3); var a3 = Avx512F.UnpackHigh(u2, u3);
        var a4 = Avx512F.UnpackLow(u4, u5); var a5 = Avx512F.UnpackHigh(u4, u5);
        var a6 = Avx512F.UnpackLow(u6, u7); var a7 = Avx512F.UnpackHigh(u6, u7);
        var even = Vector512.Create(0UL, 1, 8, 9, 4, 5, 12, 13);
        var odd = Vector512.Create(2UL, 3, 10, 11, 6, 7, 14, 15);
        var b0 = Avx512F.PermuteVar8x64x2(a0, even, a2); var b2 = Avx512F.PermuteVar8x64x2(a0, odd, a2);
        var b1 = Avx512F.PermuteVar8x64x2(a1, even, a3); var b3 = Avx512F.PermuteVar8x64x2(a1, odd, a3);
        var b4 = Avx512F.PermuteVar8x64x2(a4, even, a6); var b6 = Avx512F.PermuteVar8x64x2(a4, odd, a6);
        var b5 = Avx512F.PermuteVar8x64x2(a5, even, a7); var b7 = Avx512F.PermuteVar8x64x2(a5, odd, a7);
        var low = Vector512.Create(0UL, 1, 2, 3, 8, 9, 10, 11);
        var high = Vector512.Create(4UL, 5, 6, 7, 12, 13, 14, 15);
        u0 = Avx512F.PermuteVar8x64x2(b0, low, b4); u1 = Avx512F.PermuteVar8x64x2(b1, low, b5);
        u2 = Avx512F.PermuteVar8x64x2(b2, low, b6); u3 = Avx512F.PermuteVar8x64x2(b3, low, b7);
        u4 = Avx512F.PermuteVar8x64x2(b0, high, b4); u5 = Avx512F.PermuteVar8x64x2(b1, high, b5);
        u6 = Avx512F.PermuteVar8x64x2(b2, high, b6); u7 = Avx512F.PermuteVar8x64x2(b3, high, b7);
    }

    /// <summary>
    /// M[b, b'] = Σ_p x_pb·x_pb' for b, b' &lt; <paramref name="cin"/> into <paramref name="m"/> (rows of
    /// <see cref="Stride"/>, whole and symmetric; the rest left as it is) from the XOR counts <paramref name="xors"/> of
    /// <see cref="BinaryConvolution.PointwiseGram"/> (rows of <see cref="XorRows"/>): n_b = X[b, Cin] (the zero plane),
    /// M[b, b'] = (n_b + n_b' − X[b, b']) / 2 for b &lt; b'.
    /// </summary>
    public static void Cooccurrence(long* xors, int cin, long* m)
    {
        int rows = XorRows(cin), stride = Stride(cin);
        for (int b = 0; b < cin; b++)
        {
            long nb = xors[(long)b * rows + cin];
            m[(long)b * stride + b] = nb;
            for (int b2 = b + 1; b2 < cin; b2++)
                m[(long)b * stride + b2] = m[(long)b2 * stride + b] = (nb + xors[(long)b2 * rows + cin] - xors[(long)b * rows + b2]) / 2;
        }
    }

    /// <summary>
    /// Σ_p popcount(x_p XOR w) and Σ_p popcount(x_p XOR w)² over the <paramref name="count"/> pixels whose
    /// co-occurrences are <paramref name="m"/> (<see cref="Cooccurrence"/>, zero past Cin in each row), for one output
    /// channel's weight word <paramref name="weight"/> (bits from Cin on count for every pixel, as the kernel counts them).
    /// </summary>
    public static (long Sum, long Squares) Moments(long* m, int cin, long count, ulong weight)
    {
        int stride = Stride(cin);
        long w = System.Numerics.BitOperations.PopCount(weight);
        // s_b·v as (v XOR σ_b) − σ_b, σ_b = −w_b (all ones where w_b is set).
        long* sign = stackalloc long[stride];
        for (int b = 0; b < stride; b++) sign[b] = b < cin ? -(long)((weight >> b) & 1) : 0;
        long linear = 0, quadratic = 0;
        for (int b = 0; b < cin; b++)
        {
            long* row = m + (long)b * stride;
            var acc = Vector512<long>.Zero;
            for (int b2 = 0; b2 < stride; b2 += 8)
            {
                var g = Vector512.Load(sign + b2);
                acc += (Vector512.Load(row + b2) ^ g) - g;
            }
            long t = Vector512.Sum(acc), sb = sign[b];
            quadratic += (t ^ sb) - sb;
            linear += (row[b] ^ sb) - sb;
        }
        return (count * w + linear, count * w * w + 2 * w * linear + quadratic);
    }
}
