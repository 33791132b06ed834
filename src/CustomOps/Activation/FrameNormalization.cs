using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BiVM.CustomOps.Activation;

/// <summary>
/// ONNX InstanceNormalization of one channel plane, as the affine map the fused glue applies:
/// x̂ = x·a + b with a = γ / √(σ² + ε) and b = β − μ·a. The statistics are taken in one pass over the plane, on the
/// values shifted by the plane's first value K (d = x − K in float32; μ = K + Σd/n, σ² = Σd²/n − (Σd/n)², the sums
/// in float64 over float32 partial sums of at most 16 values each): K lies within the data, so the shift cancels
/// what the unshifted E[x²] − μ² would lose, and a partial sum of 16 rounds at most 16 times in float32 (relative error
/// below 1e-6 of Σ|d|; ONNX Runtime's own float32 reductions over the whole plane round n times). From there on every
/// step is ONNX Runtime's own float32 formula (instance_norm.cc: inv = 1 / √(σ² + ε), a = inv·γ, b = β − μ·a,
/// x̂ = x·a + b, each rounded once, no fused multiply-add). So the fused op differs from the unfused graph only where
/// the two round μ or σ² differently, and not at all where the sums are exact (constant channels, small integers).
/// </summary>
/// <remarks>
/// The summation order is part of the specification, so that the vector paths and <see cref="ReferenceStatistics"/>
/// give the same bits on every CPU. The first 64⌊n/64⌋ values go to 64 lanes, value i to lane i mod 64, in blocks of
/// <see cref="BlockValues"/>: within a block each lane keeps a float32 sum of d and of d² (the square by a fused
/// multiply-add, d·d + s rounded once), and at the block's end adds both to its float64 sums. The 64 lanes' float64
/// sums are folded to sixteen as uⱼ = (sⱼ + sⱼ₊₁₆) + (sⱼ₊₃₂ + sⱼ₊₄₈), the sixteen to eight as tⱼ = uⱼ + uⱼ₊₈, those
/// combined as ((t₀+t₄) + (t₁+t₅)) + ((t₂+t₆) + (t₃+t₇)); then the remaining n mod 64 values are added one by one
/// (d in float32, its sum and square in float64). Until 2026-12-03 each value was widened to float64 first (16 lanes):
/// the pass was latency-bound on float64 adds and took twice as long (docs/kernels.md).
/// </remarks>
internal static unsafe class FrameNormalization
{
    /// <summary>Values per block: 16 per lane, so a float32 partial sum adds at most 16 values.</summary>
    internal const int BlockValues = 1024;

    /// <summary>Lanes of the specification: four 512-bit vectors of floats, or eight 256-bit ones.</summary>
    private const int Lanes = 64;

    /// <summary>The affine coefficients (a, b) of one plane: x̂ = x·a + b. <paramref name="count"/> must be at least 1.</summary>
    public static (float Scale, float Shift) Coefficients(float* x, int count, float gamma, float beta, float epsilon)
    {
        var (mean, variance) = Statistics(x, count);
        return Affine(mean, variance, gamma, beta, epsilon);
    }

    /// <summary>μ and σ² (the biased variance, as ONNX) of <paramref name="count"/> ≥ 1 values, vectorized where the CPU allows.</summary>
    public static (double Mean, double Variance) Statistics(float* x, int count) =>
        Vector512.IsHardwareAccelerated ? Statistics512(x, count)
        : Vector256.IsHardwareAccelerated ? Statistics256(x, count)
        : ReferenceStatistics(x, count);

    /// <summary>
    /// <see cref="Statistics"/> with 512-bit vectors: lanes 16m … 16m + 15 in accumulator m (four of them, independent
    /// chains), the 64 lanes' float64 sums in sixteen registers (no memory to clear or fold per plane: on a 1024-channel
    /// layer of 18 × 32 the plane's set-up and fold cost more than its 576 values) and folded as vectors, in the
    /// specification's order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static (double Mean, double Variance) Statistics512(float* x, int count)
    {
        int body = count & ~(Lanes - 1);
        float shift = x[0];
        if (body == 0) return Finish(x, count, 0, shift, 0, 0); // no lane has a value: both folds are 0
        var k = Vector512.Create(shift);
        // Lanes 8j … 8j + 7: the sums of d in aj, of d² in bj.
        Vector512<double> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector512<double> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
        for (int start = 0; start < body; start += BlockValues)
        {
            int end = Math.Min(body, start + BlockValues);
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default, q0 = default, q1 = default, q2 = default, q3 = default;
            for (int i = start; i < end; i += Lanes)
            {
                var d0 = Vector512.Load(x + i) - k;
                var d1 = Vector512.Load(x + i + 16) - k;
                var d2 = Vector512.Load(x + i + 32) - k;
                var d3 = Vector512.Load(x + i + 48) - k;
                s0 += d0;
                s1 += d1;
                s2 += d2;
                s3 += d3;
                q0 = Vector512.FusedMultiplyAdd(d0, d0, q0);
                q1 = Vector512.FusedMultiplyAdd(d1, d1, q1);
                q2 = Vector512.FusedMultiplyAdd(d2, d2, q2);
                q3 = Vector512.FusedMultiplyAdd(d3, d3, q3);
            }
            (a0, a1) = Add(a0, a1, s0);
            (a2, a3) = Add(a2, a3, s1);
            (a4, a5) = Add(a4, a5, s2);
            (a6, a7) = Add(a6, a7, s3);
            (b0, b1) = Add(b0, b1, q0);
            (b2, b3) = Add(b2, b3, q1);
            (b4, b5) = Add(b4, b5, q2);
            (b6, b7) = Add(b6, b7, q3);
        }
        return Finish(x, count, body, shift, Fold(a0, a1, a2, a3, a4, a5, a6, a7), Fold(b0, b1, b2, b3, b4, b5, b6, b7));
    }

    /// <summary>A block's float32 sums of sixteen lanes added to their float64 sums (the low eight lanes' and the high eight's).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<double> Low, Vector512<double> High) Add(Vector512<double> low, Vector512<double> high, Vector512<float> block)
    {
        var (blockLow, blockHigh) = Vector512.Widen(block);
        return (low + blockLow, high + blockHigh);
    }

    /// <summary>
    /// <see cref="Fold(double*)"/> of the 64 lanes held as eight vectors (lanes 8j … 8j + 7 in vj), the same additions in
    /// the same order: u = (v0 + v2) + (v4 + v6) and (v1 + v3) + (v5 + v7), t = the two added, then
    /// ((t₀+t₄) + (t₁+t₅)) + ((t₂+t₆) + (t₃+t₇)).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Fold(Vector512<double> v0, Vector512<double> v1, Vector512<double> v2, Vector512<double> v3,
        Vector512<double> v4, Vector512<double> v5, Vector512<double> v6, Vector512<double> v7)
    {
        var t = ((v0 + v2) + (v4 + v6)) + ((v1 + v3) + (v5 + v7));
        var pairs = t.GetLower() + t.GetUpper(); // t₀+t₄, t₁+t₅, t₂+t₆, t₃+t₇
        return (pairs.GetElement(0) + pairs.GetElement(1)) + (pairs.GetElement(2) + pairs.GetElement(3));
    }

    /// <summary>
    /// <see cref="Statistics"/> with 256-bit vectors: each block in two halves, lanes 0–31 then 32–63 (four accumulators
    /// of eight lanes each: the sixteen registers of AVX2 hold them without spilling).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static (double Mean, double Variance) Statistics256(float* x, int count)
    {
        int body = count & ~(Lanes - 1);
        float shift = x[0];
        if (body == 0) return Finish(x, count, 0, shift, 0, 0); // no lane has a value: both folds are 0
        var k = Vector256.Create(shift);
        double* sums = stackalloc double[2 * Lanes];
        new Span<double>(sums, 2 * Lanes).Clear();
        for (int start = 0; start < body; start += BlockValues)
        {
            int end = Math.Min(body, start + BlockValues);
            for (int half = 0; half < Lanes; half += 32)
            {
                Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default, q0 = default, q1 = default, q2 = default, q3 = default;
                for (int i = start + half; i < end; i += Lanes)
                {
                    var d0 = Vector256.Load(x + i) - k;
                    var d1 = Vector256.Load(x + i + 8) - k;
                    var d2 = Vector256.Load(x + i + 16) - k;
                    var d3 = Vector256.Load(x + i + 24) - k;
                    s0 += d0;
                    s1 += d1;
                    s2 += d2;
                    s3 += d3;
                    q0 = Vector256.FusedMultiplyAdd(d0, d0, q0);
                    q1 = Vector256.FusedMultiplyAdd(d1, d1, q1);
                    q2 = Vector256.FusedMultiplyAdd(d2, d2, q2);
                    q3 = Vector256.FusedMultiplyAdd(d3, d3, q3);
                }
                AddBlock(sums, half, s0, q0);
                AddBlock(sums, half + 8, s1, q1);
                AddBlock(sums, half + 16, s2, q2);
                AddBlock(sums, half + 24, s3, q3);
            }
        }
        return Finish(x, count, body, shift, Fold256(sums), Fold256(sums + Lanes));
    }

    /// <summary>
    /// <see cref="Fold(double*)"/> in 256-bit vectors of four lanes, the same additions in the same order: Sₖ holds lanes
    /// 4k … 4k + 3, so u = (S₀ + S₄) + (S₈ + S₁₂) … holds u₀ … u₁₅ in four vectors, t = u's first half plus its second,
    /// and the last four sums pair t₀ … t₃ with t₄ … t₇ before the final two (the scalar fold's 60 loads and adds per
    /// plane were 0.5 % of an AVX2 frame, where the 1024-channel layer's planes have 576 values; AVX2 frames 0.997 with
    /// this, 800 rounds on Zen 4 with AVX-512 off in .NET).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Fold256(double* s)
    {
        Vector256<double> U(int k) => (Vector256.Load(s + 4 * k) + Vector256.Load(s + 4 * k + 16)) + (Vector256.Load(s + 4 * k + 32) + Vector256.Load(s + 4 * k + 48));
        var t0 = U(0) + U(2); // t₀ … t₃
        var t1 = U(1) + U(3); // t₄ … t₇
        var pairs = t0 + t1;  // t₀+t₄, t₁+t₅, t₂+t₆, t₃+t₇
        return (pairs.GetElement(0) + pairs.GetElement(1)) + (pairs.GetElement(2) + pairs.GetElement(3));
    }

    /// <summary>A block's float32 sums of lanes <paramref name="lane"/> … + 7 added to their float64 sums (squares <see cref="Lanes"/> further on).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddBlock(double* sums, int lane, Vector256<float> s, Vector256<float> q)
    {
        var (sLow, sHigh) = Vector256.Widen(s);
        var (qLow, qHigh) = Vector256.Widen(q);
        (Vector256.Load(sums + lane) + sLow).Store(sums + lane);
        (Vector256.Load(sums + lane + 4) + sHigh).Store(sums + lane + 4);
        (Vector256.Load(sums + Lanes + lane) + qLow).Store(sums + Lanes + lane);
        (Vector256.Load(sums + Lanes + lane + 4) + qHigh).Store(sums + Lanes + lane + 4);
    }

    /// <summary>The values after <paramref name="body"/> one by one, then the moments.</summary>
    private static (double Mean, double Variance) Finish(float* x, int count, int body, float shift, double sum, double squares)
    {
        for (int i = body; i < count; i++)
        {
            double d = x[i] - shift; // the float32 difference, widened
            sum += d;
            squares += d * d;
        }
        return Moments(shift, sum, squares, count);
    }

    /// <summary>The specification of <see cref="Statistics"/>, one value at a time in the documented order (the portable path and the tests' oracle).</summary>
    public static (double Mean, double Variance) ReferenceStatistics(float* x, int count)
    {
        double* sums = stackalloc double[2 * Lanes];
        float* partial = stackalloc float[2 * Lanes];
        new Span<double>(sums, 2 * Lanes).Clear(); // the assembly skips locals init: stackalloc memory starts as garbage
        float shift = x[0];
        int body = count & ~(Lanes - 1);
        for (int start = 0; start < body; start += BlockValues)
        {
            new Span<float>(partial, 2 * Lanes).Clear();
            for (int i = start; i < Math.Min(body, start + BlockValues); i++)
            {
                float d = x[i] - shift;
                int lane = i % Lanes;
                partial[lane] += d;
                partial[Lanes + lane] = MathF.FusedMultiplyAdd(d, d, partial[Lanes + lane]);
            }
            for (int lane = 0; lane < 2 * Lanes; lane++) sums[lane] += partial[lane];
        }
        return Finish(x, count, body, shift, Fold(sums), Fold(sums + Lanes));
    }

    /// <summary>μ = K + S₁/n and σ² = S₂/n − (S₁/n)² from the sums of d = x − K and of d² (never below 0).</summary>
    private static (double Mean, double Variance) Moments(double shift, double sum, double squares, int count)
    {
        double meanShift = sum / count;
        return (shift + meanShift, Math.Max(0, squares / count - meanShift * meanShift));
    }

    /// <summary>ONNX Runtime's float32 steps from μ and σ² on (instance_norm.cc): μ and σ² rounded to float32, then a, b.</summary>
    public static (float Scale, float Shift) Affine(double mean, double variance, float gamma, float beta, float epsilon)
    {
        float mu = (float)mean;
        float inv = 1f / MathF.Sqrt((float)variance + epsilon);
        float a = inv * gamma;
        float product = mu * a;
        return (a, beta - product);
    }

    /// <summary>
    /// The 64 lanes' sums as one: uⱼ = (sⱼ + sⱼ₊₁₆) + (sⱼ₊₃₂ + sⱼ₊₄₈), tⱼ = uⱼ + uⱼ₊₈, then
    /// ((t₀+t₄) + (t₁+t₅)) + ((t₂+t₆) + (t₃+t₇)).
    /// </summary>
    private static double Fold(double* s)
    {
        double* u = stackalloc double[16];
        for (int j = 0; j < 16; j++) u[j] = (s[j] + s[j + 16]) + (s[j + 32] + s[j + 48]);
        double* t = stackalloc double[8];
        for (int j = 0; j < 8; j++) t[j] = u[j] + u[j + 8];
        return ((t[0] + t[4]) + (t[1] + t[5])) + ((t[2] + t[6]) + (t[3] + t[7]));
    }
}
