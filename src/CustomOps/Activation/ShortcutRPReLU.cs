using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BiVM.CustomOps.BinaryConv2d;

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
    public static void Apply(float* x, float* addend, float* addendPair, float scale, float shiftIn, float slope, float shiftOut, float* y, int count) =>
        WithAddend(new Plain(x), addend, addendPair, scale, shiftIn, slope, shiftOut, y, count);

    /// <summary>
    /// <see cref="Apply"/> on the normalized input x̂ = x·<paramref name="normScale"/> + <paramref name="normShift"/>
    /// (a folded InstanceNormalization, coefficients from <see cref="FrameNormalization"/>), multiplied and added in
    /// two roundings like ONNX Runtime's InstanceNormalization, in the same pass.
    /// </summary>
    public static void ApplyNormalized(float* x, float normScale, float normShift, float* addend, float* addendPair, float scale, float shiftIn, float slope, float shiftOut, float* y, int count)
    {
        // The coefficients broadcast once per call, at the width the loop runs: on AVX2, 512-bit fields (not accelerated
        // there) cost more than the broadcasts they save (1.012 of an AVX2 frame).
        if (Vector512.IsHardwareAccelerated) WithAddend(new NormalizedWide(x, normScale, normShift), addend, addendPair, scale, shiftIn, slope, shiftOut, y, count);
        else WithAddend(new Normalized(x, normScale, normShift), addend, addendPair, scale, shiftIn, slope, shiftOut, y, count);
    }

    /// <summary>
    /// <see cref="Apply"/> or <see cref="ApplyNormalized"/> (where <paramref name="normalized"/>) on a folded 1×1 conv's
    /// output computed from its popcounts in the same pass: x = <see cref="OutputTransform.One"/>(Cin − 2·count,
    /// alpha, bias) with <paramref name="fullTaps"/> = Cin, the conv's own operations (so the same values), instead of
    /// the conv writing its rows for this pass to read back. For 512-bit hosts: on AVX2 the loop's constants
    /// and its temporaries do not fit the sixteen registers (1.009–1.015 of an AVX2 frame), and the glue keeps the rows.
    /// </summary>
    public static void ApplyFromCounts(int* counts, int fullTaps, float alpha, float bias, bool normalized, float normScale, float normShift,
        float* addend, float* addendPair, float scale, float shiftIn, float slope, float shiftOut, float* y, int count)
    {
        if (normalized) WithAddend(new FromCounts<Normalizing>(counts, fullTaps, alpha, bias, normScale, normShift), addend, addendPair, scale, shiftIn, slope, shiftOut, y, count);
        else WithAddend(new FromCounts<NotNormalizing>(counts, fullTaps, alpha, bias, 1f, 0f), addend, addendPair, scale, shiftIn, slope, shiftOut, y, count);
    }

    // The input (plain or normalized) and the addend (none, one plane, or a pair) are type parameters, so that the JIT
    // compiles one loop per combination with no per-element branch, from a single description of the arithmetic.
    private static void WithAddend<TInput>(TInput input, float* addend, float* addendPair, float scale, float shiftIn, float slope, float shiftOut, float* y, int count)
        where TInput : struct, IInput
    {
        if (addend is null) Run(input, default(NoAddend), scale, shiftIn, slope, shiftOut, y, count);
        else if (addendPair is null) Run(input, new OneAddend(addend), scale, shiftIn, slope, shiftOut, y, count);
        else Run(input, new AddendPair(addend, addendPair), scale, shiftIn, slope, shiftOut, y, count);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run<TInput, TAddend>(TInput input, TAddend addend, float scale, float shiftIn, float slope, float shiftOut, float* y, int count)
        where TInput : struct, IInput where TAddend : struct, IAddend
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            // The same operations as below, sixteen lanes at a time (each lane rounds exactly as the 8-wide path).
            var s = Vector512.Create(scale);
            var b1 = Vector512.Create(shiftIn);
            var k = Vector512.Create(slope);
            var b2 = Vector512.Create(shiftOut);
            var zero = Vector512<float>.Zero;
            for (; i + 16 <= count; i += 16)
            {
                var t = input.Wide(i);
                if (TAddend.Present) t += addend.Wide(i) * s;
                var u = t + b1;
                // u·k where u is not ≥ 0, as a multiply under the compare's mask (vcmpngeps, vmulps {k}): one instruction
                // fewer than a multiply and a blend; NaN takes u·k = NaN either way.
                (Vector512.ConditionalSelect(Avx512F.CompareNotGreaterThanOrEqual(u, zero), u * k, u) + b2).Store(y + i);
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var s = Vector256.Create(scale);
            var b1 = Vector256.Create(shiftIn);
            var k = Vector256.Create(slope);
            var b2 = Vector256.Create(shiftOut);
            var zero = Vector256<float>.Zero;
            for (; i + 8 <= count; i += 8)
            {
                var t = input.Vector(i);
                if (TAddend.Present) t += addend.Vector(i) * s; // no addend: no add (x + 0 would turn −0 into +0)
                var u = t + b1;
                (Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(u, zero), u, u * k) + b2).Store(y + i);
            }
        }
        for (; i < count; i++) y[i] = One(input.Scalar(i), addend.Scalar(i), TAddend.Present, scale, shiftIn, slope, shiftOut);
    }

    private interface IInput
    {
        Vector512<float> Wide(int i);
        Vector256<float> Vector(int i);
        float Scalar(int i);
    }

    private readonly struct Plain(float* x) : IInput
    {
        public Vector512<float> Wide(int i) => Vector512.Load(x + i);
        public Vector256<float> Vector(int i) => Vector256.Load(x + i);
        public float Scalar(int i) => x[i];
    }

    /// <summary>
    /// x·a + b with a and b broadcast once, when the struct is made, for the 256-bit loop: formed in each step, the JIT
    /// broadcast both again in every step (two shuffles of the loop's fourteen operations). 512-bit hosts take
    /// <see cref="NormalizedWide"/>. AVX2 frames 0.995 (Zen 4 with AVX-512 off in .NET, twenty-fourth session).
    /// </summary>
    private readonly struct Normalized(float* x, float normScale, float normShift) : IInput
    {
        private readonly Vector256<float> _scale = Vector256.Create(normScale), _shift = Vector256.Create(normShift);
        public Vector512<float> Wide(int i) => Vector512.Load(x + i) * Vector512.Create(normScale) + Vector512.Create(normShift);
        public Vector256<float> Vector(int i) => Vector256.Load(x + i) * _scale + _shift;
        public float Scalar(int i) => Normalize(x[i], normScale, normShift);
    }

    /// <summary><see cref="Normalized"/> for the 512-bit loop (the 256-bit one takes at most a row's last 8 to 15 values): frames 0.997 and 1/1.007.</summary>
    private readonly struct NormalizedWide(float* x, float normScale, float normShift) : IInput
    {
        private readonly Vector512<float> _scale = Vector512.Create(normScale), _shift = Vector512.Create(normShift);
        public Vector512<float> Wide(int i) => Vector512.Load(x + i) * _scale + _shift;
        public Vector256<float> Vector(int i) => Vector256.Load(x + i) * Vector256.Create(normScale) + Vector256.Create(normShift);
        public float Scalar(int i) => Normalize(x[i], normScale, normShift);
    }

    /// <summary>Whether a <see cref="FromCounts{TNorm}"/> input applies the folded normalization.</summary>
    private interface INormalization
    {
        static abstract bool Applies { get; }
    }

    private readonly struct Normalizing : INormalization
    {
        public static bool Applies => true;
    }

    private readonly struct NotNormalizing : INormalization
    {
        public static bool Applies => false;
    }

    /// <summary>
    /// A folded 1×1 conv's output from its counts: D = (Cin − 2·count)·alpha + bias (two roundings, as
    /// <see cref="OutputTransform"/> writes it), then x̂ = D·a + b where <typeparamref name="TNorm"/> applies; the
    /// constants broadcast once for the 512-bit loop (the 256-bit one takes at most a row's last 8 to 15 values).
    /// </summary>
    private readonly struct FromCounts<TNorm>(int* counts, int fullTaps, float alpha, float bias, float normScale, float normShift) : IInput
        where TNorm : struct, INormalization
    {
        private readonly Vector512<int> _full = Vector512.Create(fullTaps);
        private readonly Vector512<float> _alpha = Vector512.Create(alpha), _bias = Vector512.Create(bias), _scale = Vector512.Create(normScale), _shift = Vector512.Create(normShift);

        public Vector512<float> Wide(int i)
        {
            var d = Vector512.ConvertToSingle(_full - Vector512.ShiftLeft(Vector512.Load(counts + i), 1)) * _alpha + _bias;
            return TNorm.Applies ? d * _scale + _shift : d;
        }

        public Vector256<float> Vector(int i)
        {
            var d = Vector256.ConvertToSingle(Vector256.Create(fullTaps) - Vector256.ShiftLeft(Vector256.Load(counts + i), 1)) * Vector256.Create(alpha) + Vector256.Create(bias);
            return TNorm.Applies ? d * Vector256.Create(normScale) + Vector256.Create(normShift) : d;
        }

        public float Scalar(int i) => One<TNorm>(counts[i], fullTaps, alpha, bias, normScale, normShift);
    }

    /// <summary>
    /// One output of <see cref="ApplyFromCounts"/> (the specification, the same operations as its vector loops): the
    /// folded 1×1 conv's output from its popcount, normalized where <paramref name="normalized"/>, then <see cref="One"/>
    /// with the addend value <paramref name="addend"/> (a folded sparse conv's zero off its active cells).
    /// </summary>
    public static float OneFromCount(int count, int fullTaps, float alpha, float bias, bool normalized, float normScale, float normShift,
        bool hasAddend, float addend, float scale, float shiftIn, float slope, float shiftOut) =>
        One(normalized ? One<Normalizing>(count, fullTaps, alpha, bias, normScale, normShift) : One<NotNormalizing>(count, fullTaps, alpha, bias, normScale, normShift),
            addend, hasAddend, scale, shiftIn, slope, shiftOut);

    /// <summary>One value of <see cref="FromCounts{TNorm}"/>: the specification.</summary>
    private static float One<TNorm>(int count, int fullTaps, float alpha, float bias, float normScale, float normShift) where TNorm : struct, INormalization
    {
        float d = OutputTransform.One(fullTaps - 2 * count, alpha, bias);
        return TNorm.Applies ? Normalize(d, normScale, normShift) : d;
    }

    /// <summary>The addend value before the scale: a, or a + a₂ (one float32 add).</summary>
    private interface IAddend
    {
        static abstract bool Present { get; }
        Vector512<float> Wide(int i);
        Vector256<float> Vector(int i);
        float Scalar(int i);
    }

    private readonly struct NoAddend : IAddend
    {
        public static bool Present => false;
        public Vector512<float> Wide(int i) => Vector512<float>.Zero;
        public Vector256<float> Vector(int i) => Vector256<float>.Zero;
        public float Scalar(int i) => 0f;
    }

    private readonly struct OneAddend(float* a) : IAddend
    {
        public static bool Present => true;
        public Vector512<float> Wide(int i) => Vector512.Load(a + i);
        public Vector256<float> Vector(int i) => Vector256.Load(a + i);
        public float Scalar(int i) => a[i];
    }

    private readonly struct AddendPair(float* a, float* a2) : IAddend
    {
        public static bool Present => true;
        public Vector512<float> Wide(int i) => Vector512.Load(a + i) + Vector512.Load(a2 + i);
        public Vector256<float> Vector(int i) => Vector256.Load(a + i) + Vector256.Load(a2 + i);
        public float Scalar(int i) => a[i] + a2[i];
    }

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
