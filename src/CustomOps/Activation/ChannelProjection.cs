using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BiVM.CustomOps.Activation;

/// <summary>
/// A 1×1 convolution of one image row held as C channel rows: y[k][x] = (Σ_c w[k, c]·g[c][x]) + b[k], the sum taken as
/// ONNX Runtime's MLAS takes it for a Conv of 16 to 64 input channels (its NCHWc kernel and its GEMM alike): one fused
/// multiply-add per channel, from 0, in ascending c, then the bias added (rounded once more). So the fused
/// <c>ShortcutRPReLU</c> with a projection gives the bits of the glue followed by ORT's Conv, on x86-64 with FMA
/// (checked against ORT 1.31.1 for C = 16, 32, 48, 64; with 8 or 256 channels ORT sums in another order, and the
/// result agrees to float rounding only).
/// </summary>
internal static unsafe class ChannelProjection
{
    /// <summary>The widest column step <see cref="Row"/> can take on this CPU: 16, 8 or 1.</summary>
    public static int BestLanes => Vector512.IsHardwareAccelerated ? 16 : Vector256.IsHardwareAccelerated ? 8 : 1;

    /// <summary>
    /// Writes <paramref name="outputs"/> rows of <paramref name="width"/> values: row k at <paramref name="y"/> + k·<paramref name="outputStride"/>,
    /// from the <paramref name="channels"/> rows at <paramref name="g"/> (row c at + c·<paramref name="inputStride"/>), weights
    /// [K, C] and <paramref name="bias"/> [K] (null: none, as a Conv without B: nothing added). <paramref name="lanes"/>
    /// columns per step (16 needs Vector512 hardware, 8 Vector256, 1 always runs); every step gives the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Row(float* g, int channels, int width, long inputStride, float* weights, float* bias, int outputs, float* y, long outputStride, int lanes)
    {
        if (lanes is not (1 or 8 or 16) || lanes == 16 && !Vector512.IsHardwareAccelerated || lanes == 8 && !Vector256.IsHardwareAccelerated)
            throw new ArgumentOutOfRangeException(nameof(lanes), lanes, "16 needs Vector512 hardware, 8 Vector256, 1 always runs");
        // Four outputs at a time: four accumulators per column step, each channel row loaded once for them.
        for (int k0 = 0; k0 < outputs; k0 += 4)
        {
            int group = Math.Min(4, outputs - k0);
            float* w0 = weights + (long)k0 * channels;
            int x = 0;
            // Two column steps at once where they fit: eight independent chains of fused multiply-adds instead of four,
            // so their latency (4 cycles on Zen 4) no longer sets the pace (the head's projection at 512×288: 0.995 of
            // the frame, docs/kernels.md). Each chain is the same sum as before.
            if (lanes == 16)
                for (; x + 32 <= width; x += 32)
                {
                    Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
                    for (int c = 0; c < channels; c++)
                    {
                        var v = Vector512.Load(g + c * inputStride + x);
                        var u = Vector512.Load(g + c * inputStride + x + 16);
                        var w = Vector512.Create(w0[c]);
                        a0 = Vector512.FusedMultiplyAdd(v, w, a0);
                        b0 = Vector512.FusedMultiplyAdd(u, w, b0);
                        if (group > 1)
                        {
                            w = Vector512.Create(w0[channels + c]);
                            a1 = Vector512.FusedMultiplyAdd(v, w, a1);
                            b1 = Vector512.FusedMultiplyAdd(u, w, b1);
                        }
                        if (group > 2)
                        {
                            w = Vector512.Create(w0[2 * channels + c]);
                            a2 = Vector512.FusedMultiplyAdd(v, w, a2);
                            b2 = Vector512.FusedMultiplyAdd(u, w, b2);
                        }
                        if (group > 3)
                        {
                            w = Vector512.Create(w0[3 * channels + c]);
                            a3 = Vector512.FusedMultiplyAdd(v, w, a3);
                            b3 = Vector512.FusedMultiplyAdd(u, w, b3);
                        }
                    }
                    Store(a0, bias, k0, y + k0 * outputStride + x);
                    Store(b0, bias, k0, y + k0 * outputStride + x + 16);
                    if (group > 1) { Store(a1, bias, k0 + 1, y + (k0 + 1) * outputStride + x); Store(b1, bias, k0 + 1, y + (k0 + 1) * outputStride + x + 16); }
                    if (group > 2) { Store(a2, bias, k0 + 2, y + (k0 + 2) * outputStride + x); Store(b2, bias, k0 + 2, y + (k0 + 2) * outputStride + x + 16); }
                    if (group > 3) { Store(a3, bias, k0 + 3, y + (k0 + 3) * outputStride + x); Store(b3, bias, k0 + 3, y + (k0 + 3) * outputStride + x + 16); }
                }
            if (lanes == 16)
                for (; x + 16 <= width; x += 16)
                {
                    Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    for (int c = 0; c < channels; c++)
                    {
                        var v = Vector512.Load(g + c * inputStride + x);
                        a0 = Vector512.FusedMultiplyAdd(v, Vector512.Create(w0[c]), a0);
                        if (group > 1) a1 = Vector512.FusedMultiplyAdd(v, Vector512.Create(w0[channels + c]), a1);
                        if (group > 2) a2 = Vector512.FusedMultiplyAdd(v, Vector512.Create(w0[2 * channels + c]), a2);
                        if (group > 3) a3 = Vector512.FusedMultiplyAdd(v, Vector512.Create(w0[3 * channels + c]), a3);
                    }
                    Store(a0, bias, k0, y + k0 * outputStride + x);
                    if (group > 1) Store(a1, bias, k0 + 1, y + (k0 + 1) * outputStride + x);
                    if (group > 2) Store(a2, bias, k0 + 2, y + (k0 + 2) * outputStride + x);
                    if (group > 3) Store(a3, bias, k0 + 3, y + (k0 + 3) * outputStride + x);
                }
            if (lanes >= 8)
                for (; x + 16 <= width; x += 16)
                {
                    Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
                    for (int c = 0; c < channels; c++)
                    {
                        var v = Vector256.Load(g + c * inputStride + x);
                        var u = Vector256.Load(g + c * inputStride + x + 8);
                        var w = Vector256.Create(w0[c]);
                        a0 = Vector256.FusedMultiplyAdd(v, w, a0);
                        b0 = Vector256.FusedMultiplyAdd(u, w, b0);
                        if (group > 1)
                        {
                            w = Vector256.Create(w0[channels + c]);
                            a1 = Vector256.FusedMultiplyAdd(v, w, a1);
                            b1 = Vector256.FusedMultiplyAdd(u, w, b1);
                        }
                        if (group > 2)
                        {
                            w = Vector256.Create(w0[2 * channels + c]);
                            a2 = Vector256.FusedMultiplyAdd(v, w, a2);
                            b2 = Vector256.FusedMultiplyAdd(u, w, b2);
                        }
                        if (group > 3)
                        {
                            w = Vector256.Create(w0[3 * channels + c]);
                            a3 = Vector256.FusedMultiplyAdd(v, w, a3);
                            b3 = Vector256.FusedMultiplyAdd(u, w, b3);
                        }
                    }
                    Store(a0, bias, k0, y + k0 * outputStride + x);
                    Store(b0, bias, k0, y + k0 * outputStride + x + 8);
                    if (group > 1) { Store(a1, bias, k0 + 1, y + (k0 + 1) * outputStride + x); Store(b1, bias, k0 + 1, y + (k0 + 1) * outputStride + x + 8); }
                    if (group > 2) { Store(a2, bias, k0 + 2, y + (k0 + 2) * outputStride + x); Store(b2, bias, k0 + 2, y + (k0 + 2) * outputStride + x + 8); }
                    if (group > 3) { Store(a3, bias, k0 + 3, y + (k0 + 3) * outputStride + x); Store(b3, bias, k0 + 3, y + (k0 + 3) * outputStride + x + 8); }
                }
            if (lanes >= 8)
                for (; x + 8 <= width; x += 8)
                {
                    Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    for (int c = 0; c < channels; c++)
                    {
                        var v = Vector256.Load(g + c * inputStride + x);
                        a0 = Vector256.FusedMultiplyAdd(v, Vector256.Create(w0[c]), a0);
                        if (group > 1) a1 = Vector256.FusedMultiplyAdd(v, Vector256.Create(w0[channels + c]), a1);
                        if (group > 2) a2 = Vector256.FusedMultiplyAdd(v, Vector256.Create(w0[2 * channels + c]), a2);
                        if (group > 3) a3 = Vector256.FusedMultiplyAdd(v, Vector256.Create(w0[3 * channels + c]), a3);
                    }
                    Store(a0, bias, k0, y + k0 * outputStride + x);
                    if (group > 1) Store(a1, bias, k0 + 1, y + (k0 + 1) * outputStride + x);
                    if (group > 2) Store(a2, bias, k0 + 2, y + (k0 + 2) * outputStride + x);
                    if (group > 3) Store(a3, bias, k0 + 3, y + (k0 + 3) * outputStride + x);
                }
            for (; x < width; x++)
                for (int k = k0; k < k0 + group; k++)
                {
                    float acc = 0f;
                    for (int c = 0; c < channels; c++) acc = MathF.FusedMultiplyAdd(g[c * inputStride + x], weights[(long)k * channels + c], acc);
                    y[k * outputStride + x] = bias is null ? acc : acc + bias[k];
                }
        }
    }

    private static void Store(Vector512<float> sum, float* bias, int k, float* to) => (bias is null ? sum : sum + Vector512.Create(bias[k])).Store(to);

    private static void Store(Vector256<float> sum, float* bias, int k, float* to) => (bias is null ? sum : sum + Vector256.Create(bias[k])).Store(to);
}
