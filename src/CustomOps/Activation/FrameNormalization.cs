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
/// The summation order is part of the specification, so that the vector path and <see cref="ReferenceStatistics"/>
/// give the same bits: eight running sums of d and eight of d², element i going to sums i mod 8 (the lanes of one
/// 256-bit load of floats, widened to two vectors of doubles); each eight combined as ((s₀+s₄) + (s₁+s₅)) +
/// ((s₂+s₆) + (s₃+s₇)); then the remaining count mod 8 elements added one by one.
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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static (double Mean, double Variance) Statistics(float* x, int count)
    {
        if (!Vector256.IsHardwareAccelerated) return ReferenceStatistics(x, count);
        int body = count & ~7;
        double shift = x[0];
        var k = Vector256.Create(shift);
        var sumLo = Vector256<double>.Zero;
        var sumHi = Vector256<double>.Zero;
        var squaresLo = Vector256<double>.Zero;
        var squaresHi = Vector256<double>.Zero;
        for (int i = 0; i < body; i += 8)
        {
            var (l, h) = Vector256.Widen(Vector256.Load(x + i));
            l -= k;
            h -= k;
            sumLo += l;
            sumHi += h;
            squaresLo += l * l;
            squaresHi += h * h;
        }
        double sum = Combine(sumLo + sumHi), squares = Combine(squaresLo + squaresHi);
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
        Span<double> s = stackalloc double[16];
        s.Clear(); // the assembly skips locals init: stackalloc memory starts as garbage
        var sums = s[..8];
        var squareSums = s[8..];
        double shift = x[0];
        int body = count & ~7;
        for (int i = 0; i < body; i++)
        {
            double d = x[i] - shift;
            sums[i & 7] += d;
            squareSums[i & 7] += d * d;
        }
        double sum = Combine(sums), squares = Combine(squareSums);
        for (int i = body; i < count; i++)
        {
            double d = x[i] - shift;
            sum += d;
            squares += d * d;
        }
        return Moments(shift, sum, squares, count);
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

    /// <summary>Lanes (s₀+s₄, s₁+s₅, s₂+s₆, s₃+s₇) combined pairwise.</summary>
    private static double Combine(Vector256<double> v) => (v.GetElement(0) + v.GetElement(1)) + (v.GetElement(2) + v.GetElement(3));

    private static double Combine(ReadOnlySpan<double> s) => ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}
