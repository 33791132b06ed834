using BiVM.Contracts;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.CustomOps.Upsampling;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using Xunit.Abstractions;

namespace BiVM.CustomOps.Tests.Upsampling;

/// <summary>
/// Upsample2xConcat: the vector and scalar paths against the one-value specification for every size and crop up to
/// 20 × 20, the axis taps against the closed form, and the ONNX node against ONNX Runtime's own Resize (linear,
/// pytorch_half_pixel, ×2) + Slice + Concat on random tensors of odd and even sizes, bit for bit.
/// </summary>
public unsafe class Upsample2xConcatTests(ITestOutputHelper log)
{
    private static float[] Values(Random r, int n)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = i % 11 == 5 ? 0f : (float)(r.NextDouble() * 8 - 4);
        return v;
    }

    [Theory]
    [InlineData(16)]
    [InlineData(8)]
    [InlineData(1)]
    public void Plane_equals_the_specification_for_every_size_and_crop(int lanes)
    {
        if (lanes > Upsample2x.BestLanes)
        {
            log.WriteLine($"this CPU cannot run the {lanes}-lane step (best: {Upsample2x.BestLanes})");
            return;
        }
        var r = new Random(5);
        for (int h = 1; h <= 6; h++)
            for (int w = 1; w <= 40; w++)
            {
                var x = Values(r, h * w);
                foreach (int outH in new[] { 2 * h, 2 * h - 1, h })
                    foreach (int outW in new[] { 2 * w, 2 * w - 1, w + 1 })
                    {
                        if (outW > 2 * w) continue;
                        var ys = BilinearAxis.Doubled(h, outH);
                        var xs = BilinearAxis.Doubled(w, outW);
                        var y = new float[outH * outW];
                        fixed (float* px = x) fixed (float* py = y)
                        {
                            Upsample2x.Plane(px, w, ys, xs, py, lanes);
                            for (int oy = 0; oy < outH; oy++)
                                for (int ox = 0; ox < outW; ox++)
                                    Assert.True(Upsample2x.One(px, w, ys, xs, oy, ox) == py[oy * outW + ox], $"{h}×{w} → {outH}×{outW} at ({oy}, {ox}), {lanes} lanes");
                        }
                    }
            }
    }

    [Fact]
    public void Taps_are_the_quarter_weights_with_clamped_borders()
    {
        var t = BilinearAxis.Doubled(4, 8);
        // o = 0 clamps to source 0 (weight 1 on 0, 0 on 1); odd o = 2j + 1 is 3/4 j + 1/4 (j + 1); the last repeats n − 1.
        Assert.Equal([0, 0, 0, 1, 1, 2, 2, 3], t.Low);
        Assert.Equal([1, 1, 1, 2, 2, 3, 3, 3], t.High);
        Assert.Equal([1f, 0.75f, 0.25f, 0.75f, 0.25f, 0.75f, 0.25f, 0.5f], t.LowWeight);
        Assert.Equal([0f, 0.25f, 0.75f, 0.25f, 0.75f, 0.25f, 0.75f, 0.5f], t.HighWeight);
        var one = BilinearAxis.Doubled(1, 2);
        Assert.Equal([0.5f, 0.5f], one.LowWeight);
        Assert.Equal([0, 0], one.High);
        Assert.Throws<ArgumentOutOfRangeException>(() => BilinearAxis.Doubled(3, 7));
    }

    /// <summary>(h, w) upsampled to (H, W) ≤ (2h, 2w): odd crops as 288 / 2^k gives (9 from 5, 18 from 9), and full size.</summary>
    [Theory]
    [InlineData(5, 8, 9, 16, 1)]
    [InlineData(9, 16, 18, 32, 2)]
    [InlineData(18, 33, 36, 65, 2)]
    [InlineData(3, 7, 6, 13, 1)]
    [InlineData(1, 1, 2, 1, 2)]
    [InlineData(1, 9, 1, 18, 1)]
    [InlineData(36, 17, 72, 33, 2)]
    public void Onnx_node_equals_onnx_runtimes_resize_slice_concat(int h, int w, int height, int width, int upsampled)
    {
        const int n = 2;
        int[] upChannels = upsampled == 2 ? [3, 5] : [4];
        int[] copyChannels = [6, 3];
        var r = new Random(h * 1000 + w);
        var inputs = new List<NamedOnnxValue>();
        var names = new List<string>();
        for (int i = 0; i < upChannels.Length; i++)
        {
            names.Add($"U{i}");
            inputs.Add(NamedOnnxValue.CreateFromTensor($"U{i}", new DenseTensor<float>(Values(r, n * upChannels[i] * h * w), [n, upChannels[i], h, w])));
        }
        for (int i = 0; i < copyChannels.Length; i++)
        {
            names.Add($"S{i}");
            inputs.Add(NamedOnnxValue.CreateFromTensor($"S{i}", new DenseTensor<float>(Values(r, n * copyChannels[i] * height * width), [n, copyChannels[i], height, width])));
        }
        int channels = upChannels.Sum() + copyChannels.Sum();

        OnnxGraphBuilder Graph(string name)
        {
            var g = new OnnxGraphBuilder(name);
            for (int i = 0; i < upChannels.Length; i++) g.Input($"U{i}", TensorProto.Types.DataType.Float, "N", upChannels[i], "h", "w");
            for (int i = 0; i < copyChannels.Length; i++) g.Input($"S{i}", TensorProto.Types.DataType.Float, "N", copyChannels[i], "H", "W");
            return g;
        }

        var fused = Graph("fused");
        fused.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        fused.Node(BinaryConvSchema.Upsample2xConcat, names, ["Y"], "up", BinaryConvSchema.Domain).Attribute(BinaryConvSchema.UpsampledInputs, (long)upChannels.Length);
        fused.Output("Y", TensorProto.Types.DataType.Float, "N", channels, "H", "W");

        var standard = Graph("standard");
        standard.Initializer(Tensors.Float("scales", [1f, 1f, 2f, 2f], 4));
        standard.Initializer(Tensors.Int64("i2", [2L], 1));
        standard.Initializer(Tensors.Int64("i4", [4L], 1));
        standard.Initializer(Tensors.Int64("zeros", [0L, 0L], 2));
        standard.Initializer(Tensors.Int64("axes", [2L, 3L], 2));
        string x = "U0";
        if (upChannels.Length == 2) standard.Node("Concat", ["U0", "U1"], [x = "inner"], "inner").Attribute("axis", 1L);
        standard.Node("Resize", [x, "", "scales"], ["up2"], "up2").Attribute("mode", "linear").Attribute("coordinate_transformation_mode", "pytorch_half_pixel");
        standard.Node("Shape", ["S1"], ["shape"], "shape");
        standard.Node("Slice", ["shape", "i2", "i4"], ["hw"], "hw");
        standard.Node("Slice", ["up2", "zeros", "hw", "axes"], ["crop"], "crop");
        standard.Node("Concat", ["crop", "S0", "S1"], ["Y"], "concat").Attribute("axis", 1L);
        standard.Output("Y", TensorProto.Types.DataType.Float, "N", channels, "H", "W");

        float[] Run(byte[] model, int threads)
        {
            using var options = new SessionOptions { IntraOpNumThreads = threads, GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
            BiVMOps.Register(options);
            using var session = new InferenceSession(model, options);
            using var results = session.Run(inputs);
            Assert.Equal([n, channels, height, width], results.First().AsTensor<float>().Dimensions.ToArray());
            return results.First().AsTensor<float>().ToArray();
        }

        var expected = Run(standard.ToBytes(), 1);
        foreach (int threads in new[] { 1, 2 })
        {
            var actual = Run(fused.ToBytes(), threads);
            Assert.Equal(expected.Length, actual.Length);
            for (int i = 0; i < expected.Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                    $"Y[{i}] ({threads} threads): Resize+Slice+Concat {expected[i]:R}, Upsample2xConcat {actual[i]:R}");
        }
    }

    [Fact]
    public void Copied_inputs_larger_than_twice_the_upsampled_are_reported_in_one_line()
    {
        var g = new OnnxGraphBuilder("bad");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("U", TensorProto.Types.DataType.Float, 1, 2, 3, 4);
        g.Input("S", TensorProto.Types.DataType.Float, 1, 1, 7, 8);
        g.Node(BinaryConvSchema.Upsample2xConcat, ["U", "S"], ["Y"], "up", BinaryConvSchema.Domain);
        g.Output("Y", TensorProto.Types.DataType.Float, 1, 3, 7, 8);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        using var session = new InferenceSession(g.ToBytes(), options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => session.Run([
            NamedOnnxValue.CreateFromTensor("U", new DenseTensor<float>(new float[24], [1, 2, 3, 4])),
            NamedOnnxValue.CreateFromTensor("S", new DenseTensor<float>(new float[56], [1, 1, 7, 8]))]));
        Assert.Contains("Upsample2xConcat node 'up': the copied inputs' H × W 7 × 8 exceed twice the upsampled inputs' 3 × 4", e.Message);
    }
}
