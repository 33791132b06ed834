using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BiVM.CustomOps.Recurrent;

/// <summary>
/// The element-wise arithmetic of the decoder's ConvGRU around its two binary convs (docs/model-contract.md,
/// "GruGates" and "GruUpdate"), one run of values at a time: the reset product r·h = σ(g)·h, the update gate
/// z = σ(g), and the blend h' = (1 − z)·h + z·tanh(c). The state h is either a run of values or one value repeated
/// (the first frame's [1, 1, 1, 1] zero state, broadcast). Subtraction, products and the sum are the unfused
/// graph's float32 operations in its order (Sub, Mul, Mul, Add, no fused multiply-add). σ and tanh are not ONNX
/// Runtime's (its MLAS kernels use their own rational approximations): the specification is the exact function
/// rounded to float32 (<see cref="Sigmoid(float)"/>, <see cref="Tanh(float)"/>), and the vector path is within
/// <see cref="VectorError"/> of it.
/// </summary>
internal static unsafe class ConvGru
{
    /// <summary>
    /// The largest |vector − specification| of σ and tanh over float32 (measured on a dense sweep of [−20, 20] and
    /// of [−1, 1]: 9e-8 and 1.4e-7), with a margin. MLAS's own approximations are about as far from the exact values.
    /// </summary>
    public const float VectorError = 2.5e-7f;

    /// <summary>
    /// Beyond |x| = 9, tanh(x) rounds to ±1 in float32 (1 − tanh(9) ≈ 3e-8 &lt; half an ulp of 1): the vector path
    /// clamps to this before e^2x.
    /// </summary>
    private const float TanhSaturation = 9f;

    /// <summary>σ(x) = 1 / (1 + e^−x), computed in float64 and rounded once: the specification.</summary>
    public static float Sigmoid(float x) => (float)(1.0 / (1.0 + Math.Exp(-(double)x)));

    /// <summary>tanh(x) in float64, rounded once: the specification.</summary>
    public static float Tanh(float x) => (float)Math.Tanh(x);

    /// <summary>One reset product, the specification: σ(g)·h rounded as ONNX's Mul(Sigmoid(g), h).</summary>
    public static float ResetProduct(float g, float h) => Sigmoid(g) * h;

    /// <summary>
    /// One blended state, the specification: keep = (1 − z)·h and update = z·tanh(c), each rounded (ONNX's Sub, Mul,
    /// Mul), then keep + update (Add).
    /// </summary>
    public static float Blend(float c, float z, float h)
    {
        float oneMinusZ = 1f - z;
        float keep = oneMinusZ * h;
        float update = z * Tanh(c);
        return keep + update;
    }

    /// <summary>z[i] = σ(g[i]) for <paramref name="count"/> values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Sigmoid(float* g, float* z, int count, bool vector = true)
    {
        int i = 0;
        if (vector && Vector256.IsHardwareAccelerated)
            for (; i + 8 <= count; i += 8) Sigmoid(Vector256.Load(g + i)).Store(z + i);
        for (; i < count; i++) z[i] = Sigmoid(g[i]);
    }

    /// <summary>
    /// y[i] = σ(g[i])·h[i], or σ(g[i])·h[0] for every i when <paramref name="stateRepeats"/> (a broadcast state).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ResetProduct(float* g, float* h, bool stateRepeats, float* y, int count, bool vector = true)
    {
        int i = 0;
        if (vector && Vector256.IsHardwareAccelerated)
        {
            if (stateRepeats)
            {
                var state = Vector256.Create(h[0]);
                for (; i + 8 <= count; i += 8) (Sigmoid(Vector256.Load(g + i)) * state).Store(y + i);
            }
            else
                for (; i + 8 <= count; i += 8) (Sigmoid(Vector256.Load(g + i)) * Vector256.Load(h + i)).Store(y + i);
        }
        for (; i < count; i++) y[i] = ResetProduct(g[i], stateRepeats ? h[0] : h[i]);
    }

    /// <summary>
    /// y[i] = (1 − z[i])·h[i] + z[i]·tanh(c[i]) (<see cref="Blend"/>), h[0] for every i when <paramref name="stateRepeats"/>.
    /// <paramref name="y"/> may be <paramref name="c"/> or <paramref name="z"/> (in place).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Update(float* c, float* z, float* h, bool stateRepeats, float* y, int count, bool vector = true)
    {
        int i = 0;
        if (vector && Vector256.IsHardwareAccelerated)
        {
            var one = Vector256<float>.One;
            if (stateRepeats)
            {
                var state = Vector256.Create(h[0]);
                for (; i + 8 <= count; i += 8)
                {
                    var zi = Vector256.Load(z + i);
                    ((one - zi) * state + zi * Tanh(Vector256.Load(c + i))).Store(y + i);
                }
            }
            else
                for (; i + 8 <= count; i += 8)
                {
                    var zi = Vector256.Load(z + i);
                    ((one - zi) * Vector256.Load(h + i) + zi * Tanh(Vector256.Load(c + i))).Store(y + i);
                }
        }
        for (; i < count; i++) y[i] = Blend(c[i], z[i], stateRepeats ? h[0] : h[i]);
    }

    /// <summary>σ on 8 lanes: 1 / (1 + e^−x) (for x below −87.3 e^−x saturates and σ is a denormal ≈ 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Sigmoid(Vector256<float> x) => Vector256<float>.One / (Vector256<float>.One + Exp(-x));

    /// <summary>tanh on 8 lanes: (e^2x − 1) / (e^2x + 1), x clamped to ±<see cref="TanhSaturation"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Tanh(Vector256<float> x)
    {
        var limit = Vector256.Create(TanhSaturation);
        var clamped = Vector256.Min(Vector256.Max(x, -limit), limit);
        var e = Exp(clamped + clamped);
        return (e - Vector256<float>.One) / (e + Vector256<float>.One);
    }

    /// <summary>
    /// e^x on 8 lanes, within 1e-7 relative (Cephes' expf, as in sse_mathfun): x = n·ln 2 + r with n = round(x·log₂e)
    /// and r reduced in two steps (ln 2 = C1 + C2, C1 exact in few bits), e^r = 1 + r + r²·P(r) with Cephes' degree-5
    /// minimax P, times 2ⁿ built in the exponent bits. x is clamped to [−87.3, 88.3] so that 2ⁿ stays a normal float.
    /// (.NET's Vector256.Exp is slower: see docs/kernels.md, "ConvGRU glue").
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Exp(Vector256<float> x)
    {
        x = Vector256.Min(Vector256.Max(x, Vector256.Create(-87.3f)), Vector256.Create(88.3f));
        var n = Vector256.Round(x * Vector256.Create(1.44269504088896341f));
        var r = x - n * Vector256.Create(0.693359375f) - n * Vector256.Create(-2.12194440e-4f);
        var p = Vector256.Create(1.9875691500e-4f);
        p = p * r + Vector256.Create(1.3981999507e-3f);
        p = p * r + Vector256.Create(8.3334519073e-3f);
        p = p * r + Vector256.Create(4.1665795894e-2f);
        p = p * r + Vector256.Create(1.6666665459e-1f);
        p = p * r + Vector256.Create(5.0000001201e-1f);
        p = p * (r * r) + r + Vector256<float>.One;
        var twoToN = (Vector256.ConvertToInt32(n) + Vector256.Create(127)) << 23;
        return p * twoToN.AsSingle();
    }
}
