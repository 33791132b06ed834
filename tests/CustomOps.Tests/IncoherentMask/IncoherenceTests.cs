using BiVM.Contracts;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using BiVM.Tests.Shared;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

namespace BiVM.CustomOps.Tests.IncoherentMask;

/// <summary>
/// The Incoherence op against the standard nodes it stands for (the exporter's Resize, crop, Sub, Abs, ReduceMean,
/// GreaterOrEqual, Cast, ReduceSum and Reshapes) run by ONNX Runtime: D and Positives bit for bit, for the shipped
/// model's 128 channels at 18 × 32, channel counts that are no power of two (the mean's division), odd sizes (the
/// crop), one and two threads, with NaN, ±0 and large values among the features; and S of the wrong shape refused in
/// one line.
/// </summary>
public sealed class IncoherenceTests
{
    private const TensorProto.Types.DataType F32 = TensorProto.Types.DataType.Float;

    private static byte[] Standard(int n, int c, int height, int width, int h, int w)
    {
        var g = new OnnxGraphBuilder("standard");
        g.Input("F", F32, n, c, height, width);
        g.Input("S", F32, n, c, h, w);
        IncoherentMaskFront.Add(g, "F", "S", "D", "P");
        g.Output("D", F32, n, height * width);
        g.Output("P", F32, n, 1, height * width);
        return g.ToBytes();
    }

    private static byte[] Fused(int n, int c, int height, int width, int h, int w)
    {
        var g = new OnnxGraphBuilder("fused");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("F", F32, n, c, height, width);
        g.Input("S", F32, n, c, h, w);
        g.Node(BinaryConvSchema.Incoherence, ["F", "S"], ["D", "P"], "incoherence", BinaryConvSchema.Domain);
        g.Output("D", F32, n, height * width);
        g.Output("P", F32, n, 1, height * width);
        return g.ToBytes();
    }

    private static Dictionary<string, float[]> Run(byte[] model, float[] f, int[] fShape, float[] s, int[] sShape, int threads)
    {
        using var options = new SessionOptions { IntraOpNumThreads = threads };
        BiVMOps.Register(options);
        using var session = new InferenceSession(model, options);
        using var results = session.Run([
            NamedOnnxValue.CreateFromTensor("F", new DenseTensor<float>(f, fShape)),
            NamedOnnxValue.CreateFromTensor("S", new DenseTensor<float>(s, sShape))]);
        return results.ToDictionary(v => v.Name, v => v.AsTensor<float>().ToArray());
    }

    [Theory]
    [InlineData(1, 128, 18, 32, 9, 16)]  // the shipped model's decode4 features at 512×288
    [InlineData(2, 5, 17, 31, 9, 16)]    // odd sizes: the crop; a mean over 5
    [InlineData(1, 3, 1, 1, 1, 1)]       // one position, three channels
    [InlineData(1, 100, 34, 60, 17, 30)] // 1080p at 0.25's decode4 size; a mean over 100
    [InlineData(1, 16, 7, 40, 5, 21)]    // S larger than F's half: the crop keeps its top left
    public void The_op_is_the_standard_nodes_bit_for_bit(int n, int c, int height, int width, int h, int w)
    {
        var r = new Random(c * 1000 + width);
        // NaN in a few positions only (it makes that position's mean NaN), zeros of both signs and large terms elsewhere.
        float Value(int i) => i % 1009 == 7 ? float.NaN : (i % 53) switch
        {
            11 => -0f,
            13 => 0f,
            17 => 3e7f,
            _ => (float)(r.NextDouble() * 4 - 2),
        };
        var f = Enumerable.Range(0, n * c * height * width).Select(Value).ToArray();
        var s = Enumerable.Range(0, n * c * h * w).Select(i => (float)(r.NextDouble() * 4 - 2)).ToArray();
        int[] fShape = [n, c, height, width], sShape = [n, c, h, w];
        var expected = Run(Standard(n, c, height, width, h, w), f, fShape, s, sShape, 1);
        Assert.Contains(expected["D"], v => float.IsFinite(v) && v != 0f);
        Assert.Contains(expected["P"], v => v > 0f && v < c);
        foreach (int threads in new[] { 1, 2 })
        {
            var actual = Run(Fused(n, c, height, width, h, w), f, fShape, s, sShape, threads);
            foreach (var output in new[] { "D", "P" })
                for (int i = 0; i < expected[output].Length; i++)
                    Assert.True(BitConverter.SingleToInt32Bits(expected[output][i]) == BitConverter.SingleToInt32Bits(actual[output][i]),
                        $"{output}[{i}] ({threads} threads): the standard nodes {expected[output][i]:R}, Incoherence {actual[output][i]:R}");
        }
    }

    [Theory]
    [InlineData(new[] { 1, 4, 3, 5 }, "S [1, 4, 3, 5] must have F's N and C [1, 8, 6, 10]")]
    [InlineData(new[] { 1, 8, 2, 5 }, "F [1, 8, 6, 10] must be at most twice S [1, 8, 2, 5] in H and W (S is F's 2×2 pool)")]
    public void S_of_the_wrong_shape_is_refused_in_one_line(int[] sShape, string message)
    {
        var g = new OnnxGraphBuilder("fused");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("F", F32, 1, 8, 6, 10);
        g.Input("S", F32, -1, -1, -1, -1);
        g.Node(BinaryConvSchema.Incoherence, ["F", "S"], ["D", "P"], "mask", BinaryConvSchema.Domain);
        g.Output("D", F32, -1, -1);
        g.Output("P", F32, -1, -1, -1);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => Run(g.ToBytes(), new float[480], [1, 8, 6, 10], new float[sShape.Aggregate(1, (a, b) => a * b)], sShape, 1));
        Assert.Contains($"Incoherence node 'mask': {message}", e.Message);
        Assert.DoesNotContain("\n", e.Message.Trim());
    }
}
