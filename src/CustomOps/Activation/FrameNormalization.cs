using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BiVM.CustomOps.Activation;

/// <summary>
/// ONNX InstanceNormalization of one channel plane, as the affine map the fused glue applies:
/// x̂ = x·a + b with a = γ / √(σ² + ε) and b = β − μ·a. The statistics are taken in float64 in one pass over the
/// plane, on the values shifted by the plane's first value K (d = x − K, exact in float64; μ = K + Σd/n,
/// σ² = Σd²/n − (Σd/n)²): K lies within the data, so the subtraction cancels at most (range/σ)² of float64's 53 bits,
/// where the unshifted E[x²] − μ² would lose (μ/σ)² of them. From there on every step is ONNX Runtime's own float32
/// formula (instance_norm.cc: inv = 1 / √(σ² + ε), a = inv·γ, b = β − μ·a, x̂ = x·a + b, each rounded once, no
/// fused multiply-add). So the fused op differs from the unfused graph only where ORT's float32 reductions round μ or
/// σ² differently, and not at all where they are exact (constant channels of short planes, small integers).
/// </summary>
/// <remarks>
/// The summation order is part of the specification, so that the vector paths and <see cref="ReferenceStatistics"/>
/// give the same bits on every CPU: sixteen running sums of d and sixteen of d², element i going to sums i mod 16 (the
/// lanes of one 512-bit load of floats, widened to two vectors of doubles, or of two 256-bit loads widened to four);
/// the sixteen folded into eight as tⱼ = sⱼ + sⱼ₊₈, those combined as ((t₀+t₄) + (t₁+t₅)) + ((t₂+t₆) + (t₃+t₇)); then
/// the remaining count mod 16 elements added one by one. Sixteen sums rather than eight (until 2026-12-02) because the
/// eight were four dependent chains of float64 adds, latency-bound: the pass took 6 % of BiVM's frame.
/// </remarks>
internal static unsafe class FrameNormalization
{
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

    /// <summary><see cref="Statistics"/> with 512-bit vectors: sums 0–7 in one vector of doubles, 8–15 in another.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static (double Mean, double Variance) Statistics512(float* x, int count)
    {
        int body = count & ~15;
        double shift = x[0];
        var k = Vector512.Create(shift);
        var sumLo = Vector512<double>.Zero;
        var sumHi = Vector512<double>.Zero;
        var squaresLo = Vector512<double>.Zero;
        var squaresHi = Vector512<double>.Zero;
        for (int i = 0; i < body; i += 16)
        {
            var (l, h) = Vector512.Widen(Vector512.Load(x + i));
            l -= k;
            h -= k;
            sumLo += l;
            sumHi += h;
            squaresLo += l * l;
            squaresHi += h * h;
        }
        return Finish(x, count, body, shift, Combine(sumLo + sumHi), Combine(squaresLo + squaresHi));
    }

    /// <summary><see cref="Statistics"/> with 256-bit vectors: sums 0–3, 4–7, 8–11 and 12–15 in four vectors of doubles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static (double Mean, double Variance) Statistics256(float* x, int count)
    {
        int body = count & ~15;
        double shift = x[0];
        var k = Vector256.Create(shift);
        Vector256<double> s0 = default, s1 = default, s2 = default, s3 = default;
        Vector256<double> q0 = default, q1 = default, q2 = default, q3 = default;
        for (int i = 0; i < body; i += 16)
        {
            var (a, b) = Vector256.Widen(Vector256.Load(x + i));
            var (c, d) = Vector256.Widen(Vector256.Load(x + i + 8));
            a -= k;
            b -= k;
            c -= k;
            d -= k;
            s0 += a;
            s1 += b;
            s2 += c;
            s3 += d;
            q0 += a * a;
            q1 += b * b;
            q2 += c * c;
            q3 += d * d;
        }
        // tⱼ = sⱼ + sⱼ₊₈: lanes 0–3 from s0 + s2, lanes 4–7 from s1 + s3.
        return Finish(x, count, body, shift, Combine(s0 + s2, s1 + s3), Combine(q0 + q2, q1 + q3));
    }

    /// <summary>The tail after <paramref name="body"/> elements, one by one, then the moments.</summary>
    private static (double Mean, double Variance) Finish(float* x, int count, int body, double shift, double sum, double squares)
    {
        for (int i = body; i < count; i++)
        {
            double d = x[i] - shift;
            sum += d;
            squares += d * d;
        }
        return Moments(shift, sum, squares, count);
    }

    /// <summary>The specification of <see cref="Statistics"/>, one value at a time in the documented order (the portable path and the tests' oracle).</summary>
    public static (double Mean, double Variance) ReferenceStatistics(float* x, int count)
    {
        Span<double> s = stackalloc double[32];
        s.Clear(); // the assembly skips locals init: stackalloc memory starts as garbage
        var sums = s[..16];
        var squareSums = s[16..];
        double shift = x[0];
        int body = count & ~15;
        for (int i = 0; i < body; i++)
        {
            double d = x[i] - shift;
            sums[i & 15] += d;
            squareSums[i & 15] += d * d;
        }
        return Finish(x, count, body, shift, Combine(sums), Combine(squareSums));
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

    /// <summary>The eight tⱼ = sⱼ + sⱼ₊₈ in one vector, combined as ((t₀+t₄) + (t₁+t₅)) + ((t₂+t₆) + (t₃+t₇)).</summary>
    private static double Combine(Vector512<double> t) => Combine(t.GetLower(), t.GetUpper());

    /// <summary>t₀–t₃ in <paramref name="low"/>, t₄–t₇ in <paramref name="high"/>.</summary>
    private static double Combine(Vector256<double> low, Vector256<double> high)
    {
        var pairs = low + high; // (t₀+t₄, t₁+t₅, t₂+t₆, t₃+t₇)
        return (pairs.GetElement(0) + pairs.GetElement(1)) + (pairs.GetElement(2) + pairs.GetElement(3));
    }

    /// <summary>Sixteen sums: tⱼ = sⱼ + sⱼ₊₈, then as above.</summary>
    private static double Combine(ReadOnlySpan<double> s)
    {
        Span<double> t = stackalloc double[8];
        for (int j = 0; j < 8; j++) t[j] = s[j] + s[j + 8];
        return ((t[0] + t[4]) + (t[1] + t[5])) + ((t[2] + t[6]) + (t[3] + t[7]));
    }
}
