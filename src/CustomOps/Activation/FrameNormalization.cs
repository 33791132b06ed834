using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BiVM.CustomOps.Activation;

/// <summary>
/// ONNX InstanceNormalization of one channel plane, as the affine map the fused glue applies:
/// x̂ = x·a + b with a = γ / √(σ² + ε) and b = β − μ·a. The statistics are taken in float64 in two passes (mean,
/// then the mean of squared deviations), so they are nearly correctly rounded whatever the plane's offset; from
/// there on every step is ONNX Runtime's own float32 formula (instance_norm.cc: inv = 1 / √(σ² + ε), a = inv·γ,
/// b = β − μ·a, x̂ = x·a + b, each rounded once, no fused multiply-add). So the fused op differs from the unfused
/// graph only where ORT's float32 reductions round μ or σ² differently, and not at all where they are exact
/// (constant channels of short planes, small integers).
/// </summary>
/// <remarks>
/// The summation order is part of the specification, so that the vector path and <see cref="Reference"/> give the
/// same bits: eight running sums, element i going to sum i mod 8 (the lanes of one 256-bit load of floats, widened
/// to two vectors of doubles); the sums combined as ((s₀+s₄) + (s₁+s₅)) + ((s₂+s₆) + (s₃+s₇)); then the
/// remaining count mod 8 elements added one by one.
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
        var lo = Vector256<double>.Zero;
        var hi = Vector256<double>.Zero;
        for (int i = 0; i < body; i += 8)
        {
            var (l, h) = Vector256.Widen(Vector256.Load(x + i));
            lo += l;
            hi += h;
        }
        double sum = Combine(lo + hi);
        for (int i = body; i < count; i++) sum += x[i];
        double mean = sum / count;
        var m = Vector256.Create(mean);
        lo = hi = Vector256<double>.Zero;
        for (int i = 0; i < body; i += 8)
        {
            var (l, h) = Vector256.Widen(Vector256.Load(x + i));
            l -= m;
            h -= m;
            lo += l * l;
            hi += h * h;
        }
        double squares = Combine(lo + hi);
        for (int i = body; i < count; i++)
        {
            double d = x[i] - mean;
            squares += d * d;
        }
        return (mean, squares / count);
    }

    /// <summary>The specification of <see cref="Statistics"/>, one value at a time in the documented order (the portable path and the tests' oracle).</summary>
    public static (double Mean, double Variance) ReferenceStatistics(float* x, int count)
    {
        Span<double> s = stackalloc double[8];
        s.Clear(); // the assembly skips locals init: stackalloc memory starts as garbage
        int body = count & ~7;
        for (int i = 0; i < body; i++) s[i & 7] += x[i];
        double sum = Combine(s);
        for (int i = body; i < count; i++) sum += x[i];
        double mean = sum / count;
        s.Clear();
        for (int i = 0; i < body; i++)
        {
            double d = x[i] - mean;
            s[i & 7] += d * d;
        }
        double squares = Combine(s);
        for (int i = body; i < count; i++)
        {
            double d = x[i] - mean;
            squares += d * d;
        }
        return (mean, squares / count);
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
