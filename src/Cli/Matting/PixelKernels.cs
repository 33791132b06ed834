using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BiVM.Cli.Matting;

/// <summary>
/// The two per-pixel loops every frame of a matting run goes through, each in one pass over memory: interleaved BGR
/// bytes to the model's planar floats, and the composite α·F + (1 − α)·B straight to bytes. They replace chains of
/// whole-frame OpenCV and TensorPrimitives calls (extract channel, convert; subtract, multiply-add, scale, convert),
/// each of which wrote and re-read a full-resolution float plane: at 1080p that traffic, not arithmetic, was the cost.
/// Each loop has a plain reference (the spec, and the path on CPUs without AVX2) and an AVX2 path that gives the same
/// bits: the same float operations in the same order (no fused multiply-add), rounding half to even and saturating
/// to 0..255 as OpenCV's <c>saturate_cast</c> does.
/// </summary>
internal static class PixelKernels
{
    /// <summary>1/255 as OpenCV's <c>convertTo(CV_32F, 1.0 / 255)</c> applies it: its double scale rounded to float.</summary>
    public const float ByteToUnit = (float)(1.0 / 255);

    /// <summary>Whether the AVX2 paths run (otherwise the references do).</summary>
    public static bool Vectorized => Avx2.IsSupported;

    /// <summary>Reference: pixel i's B, G, R bytes times <see cref="ByteToUnit"/> into planes R, G, B.</summary>
    public static void ToPlanarReference(ReadOnlySpan<byte> bgr, Span<float> r, Span<float> g, Span<float> b)
    {
        CheckPlanar(bgr, r, g, b);
        for (int i = 0; i < r.Length; i++)
        {
            b[i] = bgr[3 * i] * ByteToUnit;
            g[i] = bgr[3 * i + 1] * ByteToUnit;
            r[i] = bgr[3 * i + 2] * ByteToUnit;
        }
    }

    /// <summary>Interleaved BGR bytes to planar R, G, B floats in 0..1 (<see cref="ToPlanarReference"/>, vectorized).</summary>
    public static void ToPlanar(ReadOnlySpan<byte> bgr, Span<float> r, Span<float> g, Span<float> b)
    {
        CheckPlanar(bgr, r, g, b);
        int done = Avx2.IsSupported ? ToPlanarAvx2(bgr, r, g, b) : 0;
        ToPlanarReference(bgr[(3 * done)..], r[done..], g[done..], b[done..]);
    }

    /// <summary>Reference: out[i] = saturate(round-half-even(((F[i] − B[i])·α[i] + B[i])·255)), as the old
    /// subtract, multiply-add and <c>convertTo(CV_8U, 255)</c> computed it. Out-of-range values saturate and NaN gives
    /// 0; beyond ±2³¹ (never from a model whose outputs are clipped to 0..1) the AVX2 path gives 0, as OpenCV's does.</summary>
    public static void CompositeReference(ReadOnlySpan<float> f, ReadOnlySpan<float> alpha, ReadOnlySpan<float> background, Span<byte> into)
    {
        CheckComposite(f, alpha, into);
        if (background.Length != f.Length) throw new ArgumentException("the background plane differs in size from the foreground plane", nameof(background));
        for (int i = 0; i < into.Length; i++) into[i] = ToByte(((f[i] - background[i]) * alpha[i] + background[i]) * 255f);
    }

    /// <summary>Reference for a uniform background (a colour): <see cref="CompositeReference(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{byte})"/> with every B[i] = <paramref name="background"/>.</summary>
    public static void CompositeReference(ReadOnlySpan<float> f, ReadOnlySpan<float> alpha, float background, Span<byte> into)
    {
        CheckComposite(f, alpha, into);
        for (int i = 0; i < into.Length; i++) into[i] = ToByte(((f[i] - background) * alpha[i] + background) * 255f);
    }

    /// <summary>One channel of the composite over a background plane, as bytes (the reference's bits, vectorized).</summary>
    public static void Composite(ReadOnlySpan<float> f, ReadOnlySpan<float> alpha, ReadOnlySpan<float> background, Span<byte> into)
    {
        CheckComposite(f, alpha, into);
        if (background.Length != f.Length) throw new ArgumentException("the background plane differs in size from the foreground plane", nameof(background));
        int done = Avx2.IsSupported ? CompositeAvx2(f, alpha, background, 0f, uniform: false, into) : 0;
        CompositeReference(f[done..], alpha[done..], background[done..], into[done..]);
    }

    /// <summary>One channel of the composite over a uniform background, as bytes: no background plane is read.</summary>
    public static void Composite(ReadOnlySpan<float> f, ReadOnlySpan<float> alpha, float background, Span<byte> into)
    {
        CheckComposite(f, alpha, into);
        int done = Avx2.IsSupported ? CompositeAvx2(f, alpha, default, background, uniform: true, into) : 0;
        CompositeReference(f[done..], alpha[done..], background, into[done..]);
    }

    /// <summary>OpenCV's saturate_cast&lt;uchar&gt;(float): round half to even, clamp to 0..255, NaN to 0.</summary>
    private static byte ToByte(float v)
    {
        float r = MathF.Round(v, MidpointRounding.ToEven);
        return r >= 255f ? (byte)255 : r > 0f ? (byte)r : (byte)0;   // NaN fails both comparisons: 0
    }

    private static void CheckPlanar(ReadOnlySpan<byte> bgr, Span<float> r, Span<float> g, Span<float> b)
    {
        if (g.Length != r.Length || b.Length != r.Length) throw new ArgumentException("the three planes differ in size");
        if (bgr.Length != 3 * r.Length) throw new ArgumentException($"{bgr.Length} BGR bytes for planes of {r.Length} pixels", nameof(bgr));
    }

    private static void CheckComposite(ReadOnlySpan<float> f, ReadOnlySpan<float> alpha, Span<byte> into)
    {
        if (alpha.Length != f.Length || into.Length != f.Length) throw new ArgumentException("the foreground, alpha and output planes differ in size");
    }

    // Byte k of the result takes byte 3k + c of the 48 input bytes, from the 16-byte load that holds it (0x80: none).
    private static Vector128<byte> DeinterleaveMask(int channel, int load)
    {
        Span<byte> mask = stackalloc byte[16];
        for (int k = 0; k < 16; k++)
        {
            int source = 3 * k + channel;
            mask[k] = source / 16 == load ? (byte)(source % 16) : (byte)0x80;
        }
        return Vector128.Create((ReadOnlySpan<byte>)mask);
    }

    private static readonly Vector128<byte>[] Masks =
        [.. Enumerable.Range(0, 9).Select(i => DeinterleaveMask(i / 3, i % 3))];   // [channel·3 + load]

    /// <summary>Sixteen pixels per step; returns how many it did (a multiple of 16), the rest is the reference's.</summary>
    private static int ToPlanarAvx2(ReadOnlySpan<byte> bgr, Span<float> r, Span<float> g, Span<float> b)
    {
        int n = r.Length & ~15;
        var scale = Vector256.Create(ByteToUnit);
        ref byte src = ref MemoryMarshal.GetReference(bgr);
        // BGR byte order: channel 0 is blue.
        ref float p0 = ref MemoryMarshal.GetReference(b), p1 = ref MemoryMarshal.GetReference(g), p2 = ref MemoryMarshal.GetReference(r);
        for (int i = 0; i < n; i += 16)
        {
            nuint at = (nuint)(3 * i);
            var v0 = Vector128.LoadUnsafe(ref src, at);
            var v1 = Vector128.LoadUnsafe(ref src, at + 16);
            var v2 = Vector128.LoadUnsafe(ref src, at + 32);
            Store(Channel(v0, v1, v2, 0), ref p0, (nuint)i, scale);
            Store(Channel(v0, v1, v2, 1), ref p1, (nuint)i, scale);
            Store(Channel(v0, v1, v2, 2), ref p2, (nuint)i, scale);
        }
        return n;

        static Vector128<byte> Channel(Vector128<byte> v0, Vector128<byte> v1, Vector128<byte> v2, int c) =>
            Sse2.Or(Sse2.Or(Ssse3.Shuffle(v0, Masks[3 * c]), Ssse3.Shuffle(v1, Masks[3 * c + 1])), Ssse3.Shuffle(v2, Masks[3 * c + 2]));

        static void Store(Vector128<byte> bytes, ref float plane, nuint at, Vector256<float> scale)
        {
            Avx.Multiply(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(bytes)), scale).StoreUnsafe(ref plane, at);
            Avx.Multiply(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(bytes, 8))), scale).StoreUnsafe(ref plane, at + 8);
        }
    }

    /// <summary>32 pixels per step; returns how many it did (a multiple of 32), the rest is the reference's.</summary>
    private static int CompositeAvx2(ReadOnlySpan<float> f, ReadOnlySpan<float> alpha, ReadOnlySpan<float> background, float uniformBackground, bool uniform, Span<byte> into)
    {
        int n = f.Length & ~31;
        var s255 = Vector256.Create(255f);
        var constant = Vector256.Create(uniformBackground);
        // packs/packus work within 128-bit lanes; this puts the four 8-pixel groups back in order.
        var order = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
        ref float pf = ref MemoryMarshal.GetReference(f), pa = ref MemoryMarshal.GetReference(alpha);
        // An empty background span (the uniform case) is never read.
        ref float pb = ref MemoryMarshal.GetReference(background);
        ref byte dst = ref MemoryMarshal.GetReference(into);
        for (int i = 0; i < n; i += 32)
        {
            var q0 = Pixel(ref pf, ref pa, ref pb, (nuint)i, uniform, constant, s255);
            var q1 = Pixel(ref pf, ref pa, ref pb, (nuint)i + 8, uniform, constant, s255);
            var q2 = Pixel(ref pf, ref pa, ref pb, (nuint)i + 16, uniform, constant, s255);
            var q3 = Pixel(ref pf, ref pa, ref pb, (nuint)i + 24, uniform, constant, s255);
            var bytes = Avx2.PackUnsignedSaturate(Avx2.PackSignedSaturate(q0, q1), Avx2.PackSignedSaturate(q2, q3));
            Avx2.PermuteVar8x32(bytes.AsInt32(), order).AsByte().StoreUnsafe(ref dst, (nuint)i);
        }
        return n;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Pixel(ref float f, ref float a, ref float b, nuint i, bool uniform, Vector256<float> constant, Vector256<float> s255)
    {
        var bg = uniform ? constant : Vector256.LoadUnsafe(ref b, i);
        var v = Avx.Multiply(Avx.Add(Avx.Multiply(Avx.Subtract(Vector256.LoadUnsafe(ref f, i), bg), Vector256.LoadUnsafe(ref a, i)), bg), s255);
        return Avx.ConvertToVector256Int32(v);   // cvtps2dq: round half to even; NaN and overflow give int.MinValue, packed to 0
    }
}
