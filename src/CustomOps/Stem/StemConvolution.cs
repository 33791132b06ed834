using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BiVM.CustomOps.Cpu;

namespace BiVM.CustomOps.Stem;

/// <summary>
/// The arithmetic of the backbone's stem (docs/model-contract.md, "Stem"): the input normalization
/// x̃ = (x − mean) / std (the graph's Sub then Div, each rounded once), the full-precision 3×3 convolution with stride 2
/// and pads 1, v = Σ x̃·w + b, and after the InstanceNormalization's (a, b) the HardSwish
/// y = n·clamp(n/6 + ½, 0, 1) with n = v·a + b.
/// </summary>
/// <remarks>
/// The convolution's sum is specified here, not taken from ONNX Runtime (its NCHWc kernel sums in an order of its own,
/// so the fused op agrees with the unfused graph within float rounding, as the folded InstanceNormalization does):
/// from +0, one fused multiply-add per tap in (input channel, kernel row, kernel column) order, a tap outside the
/// image contributing x̃ = 0; then the bias added. <see cref="One"/> is that specification and the tests' oracle; the
/// row paths (16, 8 or 1 lanes) compute the same operations on every lane and give its bits. The HardSwish is ONNX
/// Runtime's: its function body HardSigmoid(α = 1/6, β = ½) then Mul, HardSigmoid as n·α + β, then min with 1, then max
/// with 0 (VMINPS/VMAXPS order, <see cref="Clamp"/>), each rounded once.
/// </remarks>
internal static unsafe class StemConvolution
{
    /// <summary>HardSigmoid's α in ONNX's HardSwish (1/6 as float32, as the function body's attribute holds it).</summary>
    public const float HardSigmoidAlpha = 1f / 6f;

    /// <summary>HardSigmoid's β in ONNX's HardSwish.</summary>
    public const float HardSigmoidBeta = 0.5f;

    /// <summary>Output rows (or columns) of the 3×3 convolution with stride 2 and pads 1 over <paramref name="input"/> ≥ 1: ⌈input / 2⌉.</summary>
    public static int OutputLength(int input) => (input + 1) / 2;

    /// <summary>
    /// Values per step on this CPU: 16 where .NET accelerates 512-bit vectors (AVX-512F), 8 with AVX2 and FMA, 1 (the
    /// scalar specification's operations) otherwise.
    /// </summary>
    public static int BestLanes => Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? 16 : Avx2.IsSupported && Fma.IsSupported ? 8 : 1;

    /// <summary>Whether this CPU runs <paramref name="lanes"/> (1 always; tests run each one it has).</summary>
    public static bool Runs(int lanes) => lanes == 1 || lanes == 8 && Avx2.IsSupported && Fma.IsSupported || lanes == 16 && Avx512F.IsSupported && Vector512.IsHardwareAccelerated;

    /// <summary>x̃ = (x − mean) / std: Sub, then Div.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Normalize(float x, float mean, float std) => (x - mean) / std;

    /// <summary>
    /// The specification: output (<paramref name="i"/>, <paramref name="j"/>) of one output channel before its
    /// normalization, from image <paramref name="x"/> [Cin, H, W] and that channel's weights <paramref name="w"/>
    /// [Cin, 3, 3] and bias <paramref name="bias"/>.
    /// </summary>
    public static float One(float* x, int inChannels, int height, int width, float* mean, float* std, float* w, float bias, int i, int j)
    {
        float acc = 0f;
        for (int ic = 0; ic < inChannels; ic++)
            for (int kh = 0; kh < 3; kh++)
                for (int kw = 0; kw < 3; kw++)
                {
                    int r = 2 * i - 1 + kh, col = 2 * j - 1 + kw;
                    float v = r >= 0 && r < height && col >= 0 && col < width ? Normalize(x[((long)ic * height + r) * width + col], mean[ic], std[ic]) : 0f;
                    acc = MathF.FusedMultiplyAdd(v, w[(ic * 3 + kh) * 3 + kw], acc);
                }
        return acc + bias;
    }

    /// <summary>The activation of one normalized output: n = v·a + b, then HardSwish n·clamp(n·α + β, 0, 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Activate(float v, float a, float b)
    {
        float product = v * a;
        float n = product + b;
        float slope = n * HardSigmoidAlpha;
        return n * Clamp(slope + HardSigmoidBeta);
    }

    /// <summary>min(h, 1), then max(·, 0), as VMINPS and VMAXPS take them (the second operand where either is NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Clamp(float h)
    {
        float low = h < 1f ? h : 1f;
        return low > 0f ? low : 0f;
    }

    /// <summary>Floats of scratch <see cref="Row"/> needs: each of the 3·Cin input rows it reads, split into even and odd columns.</summary>
    public static int ScratchFloats(int inChannels, int outWidth) => 3 * inChannels * 2 * ScratchStride(outWidth);

    /// <summary>One split row's floats: the odd columns' row holds column −1 (zero) first, so 1 + W' values, rounded up to whole 64-byte lines.</summary>
    private static int ScratchStride(int outWidth) => (outWidth + 1 + 15) & ~15;

    /// <summary>
    /// Output row <paramref name="i"/> of every output channel before normalization, into
    /// <paramref name="y"/> + c·<paramref name="plane"/> + i·W' for channel c: image <paramref name="x"/> [Cin, H, W], weights
    /// <paramref name="w"/> [C, Cin, 3, 3], <paramref name="lanes"/> values a step (<see cref="BestLanes"/>, or fewer the
    /// CPU runs). The same bits as <see cref="One"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Row(float* x, int inChannels, int height, int width, float* mean, float* std, float* w, float* bias, int channels,
        int i, float* y, long plane, float* scratch, int lanes)
    {
        int outWidth = OutputLength(width), stride = ScratchStride(outWidth);
        // Input row 2i − 1 + kh of channel ic, normalized, as its even columns E (x[2j] at E[j]) and odd columns O
        // (x[2j − 1] at O[j], O[0] = 0 the left pad): tap kw = 0 reads O[j], kw = 1 E[j], kw = 2 O[j + 1].
        for (int ic = 0; ic < inChannels; ic++)
            for (int kh = 0; kh < 3; kh++)
            {
                float* evens = scratch + (ic * 3 + kh) * 2 * stride, odds = evens + stride;
                int r = 2 * i - 1 + kh;
                if (r < 0 || r >= height)
                {
                    new Span<float>(evens, 2 * stride).Clear();
                    continue;
                }
                float* src = x + ((long)ic * height + r) * width;
                odds[0] = 0f;
                int j = lanes switch
                {
                    16 => SplitSteps<FloatWidth512, Vector512<float>>(src, width, outWidth, mean[ic], std[ic], evens, odds),
                    8 => SplitSteps<FloatWidth256, Vector256<float>>(src, width, outWidth, mean[ic], std[ic], evens, odds),
                    _ => 0,
                };
                for (; j < outWidth; j++)
                {
                    evens[j] = Normalize(src[2 * j], mean[ic], std[ic]);
                    odds[j + 1] = 2 * j + 1 < width ? Normalize(src[2 * j + 1], mean[ic], std[ic]) : 0f;
                }
            }
        int taps = 3 * inChannels, weights = 9 * inChannels;
        long rowAt = (long)i * outWidth;
        int c = 0;
        if (lanes == 16 && outWidth >= 16)
            for (; c + 4 <= channels; c += 4) Channels4By4Steps(scratch, stride, taps, w + c * weights, bias + c, outWidth, y + c * plane + rowAt, plane);
        else if (lanes >= 8 && outWidth >= 8)
            for (; c + 4 <= channels; c += 4) Channels4<FloatWidth256, Vector256<float>>(scratch, stride, taps, w + c * weights, bias + c, outWidth, y + c * plane + rowAt, plane);
        for (; c < channels; c++)
        {
            float* wc = w + c * weights, yc = y + c * plane + rowAt;
            for (int j = 0; j < outWidth; j++)
            {
                float acc = 0f;
                for (int t = 0; t < taps; t++)
                {
                    float* evens = scratch + t * 2 * stride, odds = evens + stride;
                    acc = MathF.FusedMultiplyAdd(odds[j], wc[3 * t], acc);
                    acc = MathF.FusedMultiplyAdd(evens[j], wc[3 * t + 1], acc);
                    acc = MathF.FusedMultiplyAdd(odds[j + 1], wc[3 * t + 2], acc);
                }
                yc[j] = acc + bias[c];
            }
        }
    }

    /// <summary>
    /// The split rows' vector part: outputs j … j + Lanes − 1 read input columns 2j … 2j + 2·Lanes − 1, all inside the row.
    /// Returns the first output left to the scalar loop.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int SplitSteps<TW, TV>(float* src, int width, int outWidth, float mean, float std, float* evens, float* odds)
        where TW : struct, IFloatWidth<TV> where TV : struct
    {
        var m = TW.Create(mean);
        var s = TW.Create(std);
        int j = 0;
        for (; j + TW.Lanes <= outWidth && 2 * j + 2 * TW.Lanes <= width; j += TW.Lanes)
        {
            var low = TW.Divide(TW.Subtract(TW.Load(src + 2 * j), m), s);
            var high = TW.Divide(TW.Subtract(TW.Load(src + 2 * j + TW.Lanes), m), s);
            TW.Store(TW.Evens(low, high), evens + j);
            TW.Store(TW.Odds(low, high), odds + j + 1);
        }
        return j;
    }

    /// <summary>
    /// Four output channels' row (weights at <paramref name="w"/>, [4, Cin, 3, 3]) from the split rows, two steps of
    /// Lanes outputs at a time for <paramref name="outWidth"/> ≥ Lanes (a step past the end moves back to end at the
    /// last output, writing some again with the same values): eight independent chains of fused multiply-adds, each split
    /// row's vectors loaded once for the four channels and each weight broadcast once for both steps. The 256-bit path
    /// (AVX2's sixteen registers hold these eight chains and their operands, not sixteen); 512-bit vectors take
    /// <see cref="Channels4By4Steps"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Channels4<TW, TV>(float* scratch, int stride, int taps, float* w, float* bias, int outWidth, float* y, long plane)
        where TW : struct, IFloatWidth<TV> where TV : struct
    {
        int weights = 3 * taps, last = outWidth - TW.Lanes;
        for (int j0 = 0; j0 < outWidth; j0 += 2 * TW.Lanes)
        {
            int ja = Math.Min(j0, last), jb = Math.Min(j0 + TW.Lanes, last);
            TV zero = TW.Create(0f);
            TV a0 = zero, a1 = zero, a2 = zero, a3 = zero, b0 = zero, b1 = zero, b2 = zero, b3 = zero;
            for (int t = 0; t < taps; t++)
            {
                float* evens = scratch + t * 2 * stride, odds = evens + stride;
                float* wt = w + 3 * t;
                for (int kw = 0; kw < 3; kw++)
                {
                    // kw = 0 reads O[j], 1 E[j], 2 O[j + 1].
                    float* row = kw == 1 ? evens : odds + kw / 2;
                    TV xa = TW.Load(row + ja), xb = TW.Load(row + jb);
                    TV w0 = TW.Create(wt[kw]), w1 = TW.Create(wt[weights + kw]), w2 = TW.Create(wt[2 * weights + kw]), w3 = TW.Create(wt[3 * weights + kw]);
                    a0 = TW.MultiplyAdd(xa, w0, a0);
                    b0 = TW.MultiplyAdd(xb, w0, b0);
                    a1 = TW.MultiplyAdd(xa, w1, a1);
                    b1 = TW.MultiplyAdd(xb, w1, b1);
                    a2 = TW.MultiplyAdd(xa, w2, a2);
                    b2 = TW.MultiplyAdd(xb, w2, b2);
                    a3 = TW.MultiplyAdd(xa, w3, a3);
                    b3 = TW.MultiplyAdd(xb, w3, b3);
                }
            }
            TV c0 = TW.Create(bias[0]), c1 = TW.Create(bias[1]), c2 = TW.Create(bias[2]), c3 = TW.Create(bias[3]);
            TW.Store(TW.Add(a0, c0), y + ja);
            TW.Store(TW.Add(a1, c1), y + plane + ja);
            TW.Store(TW.Add(a2, c2), y + 2 * plane + ja);
            TW.Store(TW.Add(a3, c3), y + 3 * plane + ja);
            TW.Store(TW.Add(b0, c0), y + jb);
            TW.Store(TW.Add(b1, c1), y + plane + jb);
            TW.Store(TW.Add(b2, c2), y + 2 * plane + jb);
            TW.Store(TW.Add(b3, c3), y + 3 * plane + jb);
        }
    }

    /// <summary>
    /// <see cref="Channels4{TW, TV}"/> with 512-bit vectors, four steps of 16 outputs at a time instead of two: sixteen
    /// independent chains of fused multiply-adds (AVX-512's 32 registers hold them with the four input vectors and a
    /// weight), each weight broadcast once for 64 outputs. Eight chains of latency-4 multiply-adds barely fed Zen 5's two
    /// 512-bit pipes, and each tap cost six loads for eight of them: the stem node alone 0.37 → 0.32–0.34 ms at 512×288
    /// (docs/kernels.md, twenty-ninth session). Each output's operations and their order are the same, so the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Channels4By4Steps(float* scratch, int stride, int taps, float* w, float* bias, int outWidth, float* y, long plane)
    {
        int weights = 3 * taps, last = outWidth - 16;
        for (int j0 = 0; j0 < outWidth; j0 += 64)
        {
            int ja = Math.Min(j0, last), jb = Math.Min(j0 + 16, last), jc = Math.Min(j0 + 32, last), jd = Math.Min(j0 + 48, last);
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, d0 = default, d1 = default, d2 = default, d3 = default;
            for (int t = 0; t < taps; t++)
            {
                float* evens = scratch + t * 2 * stride, odds = evens + stride;
                float* wt = w + 3 * t;
                for (int kw = 0; kw < 3; kw++)
                {
                    float* row = kw == 1 ? evens : odds + kw / 2;
                    var xa = Vector512.Load(row + ja);
                    var xb = Vector512.Load(row + jb);
                    var xc = Vector512.Load(row + jc);
                    var xd = Vector512.Load(row + jd);
                    var w0 = Vector512.Create(wt[kw]);
                    a0 = Vector512.FusedMultiplyAdd(xa, w0, a0);
                    b0 = Vector512.FusedMultiplyAdd(xb, w0, b0);
                    c0 = Vector512.FusedMultiplyAdd(xc, w0, c0);
                    d0 = Vector512.FusedMultiplyAdd(xd, w0, d0);
                    var w1 = Vector512.Create(wt[weights + kw]);
                    a1 = Vector512.FusedMultiplyAdd(xa, w1, a1);
                    b1 = Vector512.FusedMultiplyAdd(xb, w1, b1);
                    c1 = Vector512.FusedMultiplyAdd(xc, w1, c1);
                    d1 = Vector512.FusedMultiplyAdd(xd, w1, d1);
                    var w2 = Vector512.Create(wt[2 * weights + kw]);
                    a2 = Vector512.FusedMultiplyAdd(xa, w2, a2);
                    b2 = Vector512.FusedMultiplyAdd(xb, w2, b2);
                    c2 = Vector512.FusedMultiplyAdd(xc, w2, c2);
                    d2 = Vector512.FusedMultiplyAdd(xd, w2, d2);
                    var w3 = Vector512.Create(wt[3 * weights + kw]);
                    a3 = Vector512.FusedMultiplyAdd(xa, w3, a3);
                    b3 = Vector512.FusedMultiplyAdd(xb, w3, b3);
                    c3 = Vector512.FusedMultiplyAdd(xc, w3, c3);
                    d3 = Vector512.FusedMultiplyAdd(xd, w3, d3);
                }
            }
            var e0 = Vector512.Create(bias[0]);
            (a0 + e0).Store(y + ja); (b0 + e0).Store(y + jb); (c0 + e0).Store(y + jc); (d0 + e0).Store(y + jd);
            var e1 = Vector512.Create(bias[1]);
            (a1 + e1).Store(y + plane + ja); (b1 + e1).Store(y + plane + jb); (c1 + e1).Store(y + plane + jc); (d1 + e1).Store(y + plane + jd);
            var e2 = Vector512.Create(bias[2]);
            (a2 + e2).Store(y + 2 * plane + ja); (b2 + e2).Store(y + 2 * plane + jb); (c2 + e2).Store(y + 2 * plane + jc); (d2 + e2).Store(y + 2 * plane + jd);
            var e3 = Vector512.Create(bias[3]);
            (a3 + e3).Store(y + 3 * plane + ja); (b3 + e3).Store(y + 3 * plane + jb); (c3 + e3).Store(y + 3 * plane + jc); (d3 + e3).Store(y + 3 * plane + jd);
        }
    }

    /// <summary>
    /// <see cref="Activate"/> over <paramref name="count"/> values in place, <paramref name="lanes"/> a step (the rest one
    /// by one): a channel's row after its InstanceNormalization's (<paramref name="a"/>, <paramref name="b"/>) are known.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ActivateRow(float* v, int count, float a, float b, int lanes)
    {
        int j = lanes switch
        {
            16 => ActivateSteps<FloatWidth512, Vector512<float>>(v, count, a, b),
            8 => ActivateSteps<FloatWidth256, Vector256<float>>(v, count, a, b),
            _ => 0,
        };
        for (; j < count; j++) v[j] = Activate(v[j], a, b);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ActivateSteps<TW, TV>(float* v, int count, float a, float b) where TW : struct, IFloatWidth<TV> where TV : struct
    {
        TV va = TW.Create(a), vb = TW.Create(b), alpha = TW.Create(HardSigmoidAlpha), beta = TW.Create(HardSigmoidBeta), one = TW.Create(1f), zero = TW.Create(0f);
        int j = 0;
        for (; j + TW.Lanes <= count; j += TW.Lanes)
        {
            var n = TW.Add(TW.Multiply(TW.Load(v + j), va), vb);
            var h = TW.Max(TW.Min(TW.Add(TW.Multiply(n, alpha), beta), one), zero);
            TW.Store(TW.Multiply(n, h), v + j);
        }
        return j;
    }
}
