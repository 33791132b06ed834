using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BiVM.CustomOps.Activation;

/// <summary>
/// The fused glue between binary layers, one channel plane at a time: y = PReLU(x + s·a + b₁, k) + b₂ (EBB's
/// shortcut add and ReActNet's RPReLU), with the float32 operations of the unfused ONNX graph in the same order:
/// m = a·s (Mul), t = x + m (Add), u = t + b₁ (Add), p = u ≥ 0 ? u : u·k (PRelu, as ONNX defines it and ONNX Runtime computes it: a zero of either sign passes unchanged),
/// y = p + b₂ (Add). Each is rounded once, with no fused multiply-add (.NET never contracts a·s + x into an FMA
/// on its own, and the vector path multiplies and adds in separate instructions), so the result is bit-identical
/// to the unfused graph's: the sign of y − τ that the next binary conv takes cannot change by fusing.
/// </summary>
internal static unsafe class ShortcutRPReLU
{
    /// <summary>
    /// Writes <paramref name="count"/> outputs. <paramref name="addend"/> may be null (no shortcut); otherwise its
    /// product with <paramref name="scale"/> is added (a scale of 1 multiplies exactly, so "no Mul" is scale 1).
    /// <paramref name="addendPair"/> (null, or with an addend) is a second addend plane summed with the first before the
    /// product, a + a₂ in one float32 add (the addend_chunks = 2 channel map). <paramref name="y"/> may be <paramref name="x"/> (in place).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply(float* x, float* addend, float* addendPair, float scale, float shiftIn, float slope, float shiftOut, float* y, int count)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var s = Vector256.Create(scale);
            var b1 = Vector256.Create(shiftIn);
            var k = Vector256.Create(slope);
            var b2 = Vector256.Create(shiftOut);
            var zero = Vector256<float>.Zero;
            if (addendPair is not null)
                for (; i + 8 <= count; i += 8)
                {
                    var m = (Vector256.Load(addend + i) + Vector256.Load(addendPair + i)) * s;
                    var u = (Vector256.Load(x + i) + m) + b1;
                    (Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(u, zero), u, u * k) + b2).Store(y + i);
                }
            else if (addend is not null)
                for (; i + 8 <= count; i += 8)
                {
                    var m = Vector256.Load(addend + i) * s;
                    var u = (Vector256.Load(x + i) + m) + b1;
                    (Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(u, zero), u, u * k) + b2).Store(y + i);
                }
            else
                for (; i + 8 <= count; i += 8)
                {
                    var u = Vector256.Load(x + i) + b1;
                    (Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(u, zero), u, u * k) + b2).Store(y + i);
                }
        }
        for (; i < count; i++) y[i] = One(x[i], Addend(addend, addendPair, i), addend is not null, scale, shiftIn, slope, shiftOut);
    }

    /// <summary>
    /// <see cref="Apply"/> on the normalized input x̂ = x·<paramref name="normScale"/> + <paramref name="normShift"/>
    /// (a folded InstanceNormalization, coefficients from <see cref="FrameNormalization"/>), multiplied and added in
    /// two roundings like ONNX Runtime's InstanceNormalization, in the same pass.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ApplyNormalized(float* x, float normScale, float normShift, float* addend, float* addendPair, float scale, float shiftIn, float slope, float shiftOut, float* y, int count)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var a = Vector256.Create(normScale);
            var b = Vector256.Create(normShift);
            var s = Vector256.Create(scale);
            var b1 = Vector256.Create(shiftIn);
            var k = Vector256.Create(slope);
            var b2 = Vector256.Create(shiftOut);
            var zero = Vector256<float>.Zero;
            if (addendPair is not null)
                for (; i + 8 <= count; i += 8)
                {
                    var m = (Vector256.Load(addend + i) + Vector256.Load(addendPair + i)) * s;
                    var u = ((Vector256.Load(x + i) * a + b) + m) + b1;
                    (Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(u, zero), u, u * k) + b2).Store(y + i);
                }
            else if (addend is not null)
                for (; i + 8 <= count; i += 8)
                {
                    var m = Vector256.Load(addend + i) * s;
                    var u = ((Vector256.Load(x + i) * a + b) + m) + b1;
                    (Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(u, zero), u, u * k) + b2).Store(y + i);
                }
            else
                for (; i + 8 <= count; i += 8)
                {
                    var u = (Vector256.Load(x + i) * a + b) + b1;
                    (Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(u, zero), u, u * k) + b2).Store(y + i);
                }
        }
        for (; i < count; i++) y[i] = One(Normalize(x[i], normScale, normShift), Addend(addend, addendPair, i), addend is not null, scale, shiftIn, slope, shiftOut);
    }

    /// <summary>Addend value i: a[i], a[i] + a₂[i] with a pair (one float32 add), 0 without an addend.</summary>
    private static float Addend(float* addend, float* addendPair, int i) =>
        addend is null ? 0f : addendPair is null ? addend[i] : addend[i] + addendPair[i];

    /// <summary>x̂ = x·a + b, two roundings (the specification of the folded InstanceNormalization's last step).</summary>
    public static float Normalize(float x, float normScale, float normShift)
    {
        float product = x * normScale;
        return product + normShift;
    }

    /// <summary>One value, the specification (the portable path and the tests' oracle).</summary>
    public static float One(float x, float addend, bool hasAddend, float scale, float shiftIn, float slope, float shiftOut)
    {
        float t = x;
        if (hasAddend)
        {
            float m = addend * scale;
            t = x + m;
        }
        float u = t + shiftIn;
        float p = u >= 0f ? u : u * slope; // ONNX PRelu: x for x >= 0, so both zeros pass unchanged (u·k could flip their sign)
        return p + shiftOut;
    }
}
