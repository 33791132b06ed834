using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BiVM.CustomOps.Cpu;

namespace BiVM.CustomOps.Recurrent;

/// <summary>
/// The element-wise arithmetic of the decoder's ConvGRU around its two binary convs (docs/model-contract.md,
/// "ConvGRU glue"), one run of values at a time: the reset product r·h = σ(g)·h, the update gate z = σ(g), and the
/// blend h' = (1 − z)·h + z·tanh(c). The state h is either a run of values or one value repeated (the first
/// frame's [1, 1, 1, 1] zero state, broadcast). Subtraction, products and the sum are the unfused graph's float32
/// operations in its order (Sub, Mul, Mul, Add, no fused multiply-add).
/// </summary>
/// <remarks>
/// σ and tanh are ONNX Runtime's own CPU arithmetic, so that the fused ops give the unfused graph's bits: ORT's
/// Sigmoid and Tanh call MLAS, which on x86-64 with AVX2 and FMA runs its FMA3 kernels (LogisticKernelFma3,
/// TanhKernelFma3): Eigen's rational approximations, p(x)/q(x) with the polynomials in x² evaluated by fused
/// multiply-adds, x clamped first. <see cref="Sigmoid(float)"/> and <see cref="Tanh(float)"/> are those kernels for
/// one value (MathF.FusedMultiplyAdd rounds once, like VFMADD), the specification; the vector paths compute the same
/// instructions on 8 or 16 lanes and equal it bit for bit. Measured against ORT 1.31.1's own Sigmoid and Tanh nodes on
/// 380 008 values of [−20, 20] and of small magnitudes: identical (GruGlueTests repeats that on every run). On a
/// CPU without FMA, MLAS takes its SSE2 kernels (unfused multiply-adds, σ clamped to [0, 1] too) and this code its
/// scalar path (the same specification, slower): the values then differ from ORT's by float rounding, within 1e-6.
/// Both approximations are within 3.5e-7 of the exact functions.
/// </remarks>
internal static unsafe class ConvGru
{
    // Eigen's coefficients as MLAS lists them (logistic.cpp, tanh.cpp): σ(x) = x·P(x²)/Q(x²) + ½ on [−18, 18],
    // tanh(x) = x·P(x²)/Q(x²) on [−9, 9].
    private const float SigmoidLow = -18f, SigmoidHigh = 18f;
    private const float SA9 = 4.37031012579801e-11f, SA7 = 1.15627324459942e-07f, SA5 = 6.08574864600143e-05f, SA3 = 8.51377133304701e-03f, SA1 = 2.48287947061529e-01f;
    private const float SB10 = 6.10247389755681e-13f, SB8 = 5.76102136993427e-09f, SB6 = 6.29106785017040e-06f, SB4 = 1.70198817374094e-03f, SB2 = 1.16817656904453e-01f, SB0 = 9.93151921023180e-01f;
    private const float TanhLow = -9f, TanhHigh = 9f;
    private const float TA13 = -2.76076847742355e-16f, TA11 = 2.00018790482477e-13f, TA9 = -8.60467152213735e-11f, TA7 = 5.12229709037114e-08f, TA5 = 1.48572235717979e-05f, TA3 = 6.37261928875436e-04f, TA1 = 4.89352455891786e-03f;
    private const float TB6 = 1.19825839466702e-06f, TB4 = 1.18534705686654e-04f, TB2 = 2.26843463243900e-03f, TB0 = 4.89352518554385e-03f;

    /// <summary>Whether the 8-lane path runs: it needs AVX2's float ops and FMA (MLAS's FMA3 kernels need the same).</summary>
    public static bool VectorPath => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>σ(x), MLAS's FMA3 logistic for one value: the specification. NaN stays NaN.</summary>
    public static float Sigmoid(float x)
    {
        // The clamps as VMAXPS(low, x), VMINPS(high, x): a NaN x passes through.
        float v = x < SigmoidLow ? SigmoidLow : x;
        v = v > SigmoidHigh ? SigmoidHigh : v;
        float x2 = v * v;
        float p = MathF.FusedMultiplyAdd(x2, SA9, SA7);
        p = MathF.FusedMultiplyAdd(x2, p, SA5);
        p = MathF.FusedMultiplyAdd(x2, p, SA3);
        p = MathF.FusedMultiplyAdd(x2, p, SA1);
        float q = MathF.FusedMultiplyAdd(x2, SB10, SB8);
        q = MathF.FusedMultiplyAdd(x2, q, SB6);
        q = MathF.FusedMultiplyAdd(x2, q, SB4);
        q = MathF.FusedMultiplyAdd(x2, q, SB2);
        q = MathF.FusedMultiplyAdd(x2, q, SB0);
        float y = v * p / q + 0.5f;
        return y < 0f ? 0f : y; // VMAXPS(0, y)
    }

    /// <summary>tanh(x), MLAS's FMA3 tanh for one value: the specification. NaN stays NaN.</summary>
    public static float Tanh(float x)
    {
        float v = x < TanhLow ? TanhLow : x;
        v = v > TanhHigh ? TanhHigh : v;
        float x2 = v * v;
        float p = MathF.FusedMultiplyAdd(x2, TA13, TA11);
        p = MathF.FusedMultiplyAdd(x2, p, TA9);
        p = MathF.FusedMultiplyAdd(x2, p, TA7);
        p = MathF.FusedMultiplyAdd(x2, p, TA5);
        p = MathF.FusedMultiplyAdd(x2, p, TA3);
        p = MathF.FusedMultiplyAdd(x2, p, TA1);
        float q = MathF.FusedMultiplyAdd(x2, TB6, TB4);
        q = MathF.FusedMultiplyAdd(x2, q, TB2);
        q = MathF.FusedMultiplyAdd(x2, q, TB0);
        return v * p / q;
    }

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

    /// <summary>
    /// Values per vector step on this CPU: 16 where .NET accelerates 512-bit vectors (and the CPU has FMA), 8 with AVX2
    /// and FMA (<see cref="VectorPath"/>), 1 (the scalar specification) otherwise. Every lane computes the same
    /// instructions, so every width gives the same bits; the 512-bit steps halve the instructions of the polynomials and
    /// the divides (measured in docs/kernels.md, "the ConvGRU's gates 16 lanes wide").
    /// </summary>
    public static int BestLanes => VectorPath && Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? 16 : VectorPath ? 8 : 1;

    private static void CheckLanes(int lanes)
    {
        if (lanes is not (1 or 8 or 16) || lanes == 16 && !(VectorPath && Avx512F.IsSupported) || lanes == 8 && !VectorPath)
            throw new ArgumentOutOfRangeException(nameof(lanes), lanes, "16 needs AVX-512F and FMA, 8 needs AVX2 and FMA, 1 always runs");
    }

    /// <summary>z[i] = σ(g[i]) for <paramref name="count"/> values, <paramref name="lanes"/> at a time (<see cref="BestLanes"/>; tests run each the CPU has).</summary>
    public static void Sigmoid(float* g, float* z, int count, int lanes)
    {
        CheckLanes(lanes);
        SigmoidRow(g, z, count, lanes);
    }

    /// <summary><see cref="Sigmoid(float*, float*, int, int)"/> for a width the caller has checked: <see cref="ConvGruCell"/>'s bands call it once per channel row, where the check was a call of its own (0.2 % of a 512×288 frame under perf).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void SigmoidRow(float* g, float* z, int count, int lanes)
    {
        int i = 0;
        if (lanes == 16) i = SigmoidSteps<FloatWidth512, Vector512<float>>(g, z, i, count);
        if (lanes >= 8) i = SigmoidSteps<FloatWidth256, Vector256<float>>(g, z, i, count);
        for (; i < count; i++) z[i] = Sigmoid(g[i]);
    }

    /// <summary>
    /// y[i] = σ(g[i])·h[i], or σ(g[i])·h[0] for every i when <paramref name="stateRepeats"/> (a broadcast state).
    /// </summary>
    public static void ResetProduct(float* g, float* h, bool stateRepeats, float* y, int count, int lanes)
    {
        CheckLanes(lanes);
        ResetProductRow(g, h, stateRepeats, y, count, lanes);
    }

    /// <summary><see cref="ResetProduct(float*, float*, bool, float*, int, int)"/> for a width the caller has checked (as <see cref="SigmoidRow"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ResetProductRow(float* g, float* h, bool stateRepeats, float* y, int count, int lanes)
    {
        int i = 0;
        if (lanes == 16) i = ResetSteps<FloatWidth512, Vector512<float>>(g, h, stateRepeats, y, i, count);
        if (lanes >= 8) i = ResetSteps<FloatWidth256, Vector256<float>>(g, h, stateRepeats, y, i, count);
        for (; i < count; i++) y[i] = ResetProduct(g[i], stateRepeats ? h[0] : h[i]);
    }

    /// <summary>
    /// y[i] = (1 − z[i])·h[i] + z[i]·tanh(c[i]) (<see cref="Blend"/>), h[0] for every i when <paramref name="stateRepeats"/>.
    /// <paramref name="y"/> may be <paramref name="c"/> or <paramref name="z"/> (in place).
    /// </summary>
    public static void Update(float* c, float* z, float* h, bool stateRepeats, float* y, int count, int lanes)
    {
        CheckLanes(lanes);
        UpdateRow(c, z, h, stateRepeats, y, count, lanes);
    }

    /// <summary><see cref="Update(float*, float*, float*, bool, float*, int, int)"/> for a width the caller has checked (as <see cref="SigmoidRow"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void UpdateRow(float* c, float* z, float* h, bool stateRepeats, float* y, int count, int lanes)
    {
        int i = 0;
        if (lanes == 16) i = UpdateSteps<FloatWidth512, Vector512<float>>(c, z, h, stateRepeats, y, i, count);
        if (lanes >= 8) i = UpdateSteps<FloatWidth256, Vector256<float>>(c, z, h, stateRepeats, y, i, count);
        for (; i < count; i++) y[i] = Blend(c[i], z[i], stateRepeats ? h[0] : h[i]);
    }

    // The vector loops, one description for both widths: each returns the first index it left to the narrower paths.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int SigmoidSteps<TW, TV>(float* g, float* z, int i, int count) where TW : struct, IFloatWidth<TV> where TV : struct
    {
        for (; i + TW.Lanes <= count; i += TW.Lanes) TW.Store(Sigmoid<TW, TV>(TW.Load(g + i)), z + i);
        return i;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ResetSteps<TW, TV>(float* g, float* h, bool stateRepeats, float* y, int i, int count) where TW : struct, IFloatWidth<TV> where TV : struct
    {
        if (stateRepeats)
        {
            var state = TW.Create(h[0]);
            for (; i + TW.Lanes <= count; i += TW.Lanes) TW.Store(TW.Multiply(Sigmoid<TW, TV>(TW.Load(g + i)), state), y + i);
        }
        else
            for (; i + TW.Lanes <= count; i += TW.Lanes) TW.Store(TW.Multiply(Sigmoid<TW, TV>(TW.Load(g + i)), TW.Load(h + i)), y + i);
        return i;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int UpdateSteps<TW, TV>(float* c, float* z, float* h, bool stateRepeats, float* y, int i, int count) where TW : struct, IFloatWidth<TV> where TV : struct
    {
        // (1 − z)·h + z·tanh(c): a subtraction, two products and a sum, each rounded once.
        var one = TW.Create(1f);
        if (stateRepeats)
        {
            var state = TW.Create(h[0]);
            for (; i + TW.Lanes <= count; i += TW.Lanes)
            {
                var zi = TW.Load(z + i);
                TW.Store(TW.Add(TW.Multiply(TW.Subtract(one, zi), state), TW.Multiply(zi, Tanh<TW, TV>(TW.Load(c + i)))), y + i);
            }
        }
        else
            for (; i + TW.Lanes <= count; i += TW.Lanes)
            {
                var zi = TW.Load(z + i);
                TW.Store(TW.Add(TW.Multiply(TW.Subtract(one, zi), TW.Load(h + i)), TW.Multiply(zi, Tanh<TW, TV>(TW.Load(c + i)))), y + i);
            }
        return i;
    }

    /// <summary><see cref="Sigmoid(float)"/> on every lane, instruction for instruction.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Sigmoid<TW, TV>(TV x) where TW : struct, IFloatWidth<TV> where TV : struct
    {
        var v = TW.Min(TW.Create(SigmoidHigh), TW.Max(TW.Create(SigmoidLow), x));
        var x2 = TW.Multiply(v, v);
        var p = TW.MultiplyAdd(x2, TW.Create(SA9), TW.Create(SA7));
        p = TW.MultiplyAdd(x2, p, TW.Create(SA5));
        p = TW.MultiplyAdd(x2, p, TW.Create(SA3));
        p = TW.MultiplyAdd(x2, p, TW.Create(SA1));
        var q = TW.MultiplyAdd(x2, TW.Create(SB10), TW.Create(SB8));
        q = TW.MultiplyAdd(x2, q, TW.Create(SB6));
        q = TW.MultiplyAdd(x2, q, TW.Create(SB4));
        q = TW.MultiplyAdd(x2, q, TW.Create(SB2));
        q = TW.MultiplyAdd(x2, q, TW.Create(SB0));
        var y = TW.Add(TW.Divide(TW.Multiply(v, p), q), TW.Create(0.5f));
        return TW.Max(TW.Create(0f), y);
    }

    /// <summary><see cref="Tanh(float)"/> on every lane, instruction for instruction.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Tanh<TW, TV>(TV x) where TW : struct, IFloatWidth<TV> where TV : struct
    {
        var v = TW.Min(TW.Create(TanhHigh), TW.Max(TW.Create(TanhLow), x));
        var x2 = TW.Multiply(v, v);
        var p = TW.MultiplyAdd(x2, TW.Create(TA13), TW.Create(TA11));
        p = TW.MultiplyAdd(x2, p, TW.Create(TA9));
        p = TW.MultiplyAdd(x2, p, TW.Create(TA7));
        p = TW.MultiplyAdd(x2, p, TW.Create(TA5));
        p = TW.MultiplyAdd(x2, p, TW.Create(TA3));
        p = TW.MultiplyAdd(x2, p, TW.Create(TA1));
        var q = TW.MultiplyAdd(x2, TW.Create(TB6), TW.Create(TB4));
        q = TW.MultiplyAdd(x2, q, TW.Create(TB2));
        q = TW.MultiplyAdd(x2, q, TW.Create(TB0));
        return TW.Divide(TW.Multiply(v, p), q);
    }
}
