using BiVM.Contracts;
using BiVM.CustomOps.GuidedFilter;
using BiVM.CustomOps.Upsampling;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using Xunit.Abstractions;

namespace BiVM.CustomOps.Tests.GuidedFilter;

/// <summary>
/// GuidedUpsample: the row kernel (vector and one-column paths, any split of the rows) against the specification,
/// and the ONNX node against the standard ops it replaces (the exporter's Resize, Resize, ReduceMean, Concat, Mul,
/// Add, Split, Add, Clip, Clip) run by ONNX Runtime, at odd sizes and at ratios 0.25, 0.5, 0.4 and 0.37; without A
/// (the tail alone, at downsample 1) against its Split, Add and two Clips, bit for bit.
/// </summary>
public sealed unsafe class GuidedUpsampleTests(ITestOutputHelper log)
{
    /// <summary>(working h, w, frame H, W): 0.25, 0.5, 0.4 and a non-integer scale, odd sizes, a one-pixel working size.</summary>
    public static TheoryData<int, int, int, int> Sizes => new()
    {
        { 9, 13, 37, 53 },   // r = 0.25: floor(37·0.25) × floor(53·0.25)
        { 18, 26, 37, 53 },  // r = 0.5
        { 14, 21, 37, 53 },  // r = 0.4
        { 13, 19, 37, 53 },  // r = 0.37: scale 2.846…, 2.789…
        { 1, 1, 5, 11 },     // one working pixel: every output samples it with weights 0.5 + 0.5
        { 7, 5, 7, 17 },     // one axis unscaled
        { 32, 33, 130, 133 }, // r = 0.25 with more rows than one task takes: the rows are split over both threads
        { 20, 70, 9, 31 },   // A larger than the frame: the expansion's windows are too wide to permute, column by column
    };

    /// <summary>
    /// The column steps of <see cref="GuidedUpsample.Rows"/> this CPU can run (16 needs AVX-512F, 8 AVX2; 1 always),
    /// each with its own expansion (a 16- or 8-wide window permuted, or one column at a time).
    /// </summary>
    private static int[] LanesThisCpuRuns => new[] { 16, 8, 1 }.Where(l => l <= GuidedUpsample.BestLanes).ToArray();

    private static float[] Random(Random r, int n, float low, float high)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float)(low + r.NextDouble() * (high - low));
        return v;
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Row_kernel_equals_the_specification_for_every_path_and_split(int h, int w, int height, int width)
    {
        var r = new Random(h * 1000 + w);
        var a = Random(r, 4 * h * w, -2f, 2f);
        var b = Random(r, 4 * h * w, -1f, 1.5f);
        var src = Random(r, 3 * height * width, 0f, 1f);
        var rows = BilinearAxis.Create(h, height);
        var columns = BilinearAxis.Create(w, width);
        var expectedFgr = new float[3 * height * width];
        var expectedPha = new float[height * width];
        fixed (float* pa = a, pb = b, ps = src, ef = expectedFgr, ep = expectedPha)
        {
            GuidedUpsample.Reference(pa, pb, rows, columns, ps, ef, ep);
            var scratch = new float[GuidedUpsample.ScratchFloats(width)];
            foreach (int lanes in LanesThisCpuRuns)
                foreach (int block in new[] { height, 1, 3 })
                {
                    var fgr = new float[expectedFgr.Length];
                    var pha = new float[expectedPha.Length];
                    fixed (float* pf = fgr, pp = pha, sc = scratch)
                        for (int start = 0; start < height; start += block)
                            GuidedUpsample.Rows(pa, pb, rows, columns, ps, pf, pp, start, Math.Min(start + block, height), sc, lanes);
                    Assert.Equal(expectedFgr, fgr);
                    Assert.Equal(expectedPha, pha);
                }
        }
        var missing = new[] { 16, 8 }.Except(LanesThisCpuRuns).ToArray();
        log.WriteLine($"column steps tested: {string.Join(", ", LanesThisCpuRuns)}{(missing.Length > 0 ? $"; this CPU could not run {string.Join(", ", missing)}" : "")}");
        Assert.Contains(expectedFgr, v => v is > 0f and < 1f);
        Assert.Contains(expectedPha, v => v == 0f || v == 1f); // the clamp was reached
    }

    [Fact]
    public void Axis_sampling_is_ORTs_pytorch_half_pixel()
    {
        // 4 → 16 (r = 0.25): x = (i + 0.5)/4 − 0.5; i = 0, 1 clamp to 0 (weights 1 and 0), i = 2 is x = 0.125; on the
        // last index Low = High and ORT weighs the one sample 0.5 + 0.5.
        var axis = BilinearAxis.Create(4, 16);
        Assert.Equal((0, 1, 1f, 0f), (axis.Low[0], axis.High[0], axis.LowWeight[0], axis.HighWeight[0]));
        Assert.Equal((0, 1, 0.875f, 0.125f), (axis.Low[2], axis.High[2], axis.LowWeight[2], axis.HighWeight[2]));
        Assert.Equal((3, 3, 0.5f, 0.5f), (axis.Low[15], axis.High[15], axis.LowWeight[15], axis.HighWeight[15]));
        // Scale 1 keeps indices; weights 1 and 0.
        var same = BilinearAxis.Create(5, 5);
        Assert.Equal([0, 1, 2, 3, 4], same.Low);
        Assert.Equal((1f, 0f), (same.LowWeight[2], same.HighWeight[2]));
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Onnx_node_equals_the_standard_ops_within_1e_5(int h, int w, int height, int width)
    {
        const int n = 2;
        var r = new Random(h * 7 + w * 131 + height);
        var a = Random(r, n * 4 * h * w, -2f, 2f);
        var b = Random(r, n * 4 * h * w, -1f, 1.5f);
        var src = Random(r, n * 3 * height * width, 0f, 1f);
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("A", new DenseTensor<float>(a, [n, 4, h, w])),
            NamedOnnxValue.CreateFromTensor("B", new DenseTensor<float>(b, [n, 4, h, w])),
            NamedOnnxValue.CreateFromTensor("src", new DenseTensor<float>(src, [n, 3, height, width])),
        };
        var chain = Run(StandardOps(), inputs);
        var fused = Run(OneNode(), inputs);
        // The fused file written back as standard ops by the pass's inverse is the same function.
        var unfused = GlueFusion.Unfuse(ModelProto.Parser.ParseFrom(OneNode()));
        Assert.DoesNotContain(unfused.Graph.Node, node => node.Domain == BinaryConvSchema.Domain);
        var back = Run(Google.Protobuf.MessageExtensions.ToByteArray(unfused), inputs);
        foreach (var name in new[] { "fgr", "pha" })
        {
            Assert.Equal(chain[name].Length, fused[name].Length);
            int exact = 0;
            double worst = 0;
            for (int i = 0; i < chain[name].Length; i++)
            {
                double d = Math.Abs(chain[name][i] - fused[name][i]);
                Assert.True(d <= 1e-5, $"{name}[{i}]: standard ops {chain[name][i]:R}, fused {fused[name][i]:R}");
                Assert.Equal(chain[name][i], back[name][i]);
                worst = Math.Max(worst, d);
                if (d == 0) exact++;
            }
            log.WriteLine($"{h}x{w} -> {height}x{width} {name}: {exact} of {chain[name].Length} values bit-identical, largest difference {worst:G3}");
        }

        byte[] OneNode()
        {
            var g = Graph("fused");
            g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
            g.Node(BinaryConvSchema.GuidedUpsample, ["A", "B", "src"], ["fgr", "pha"], "guided", BinaryConvSchema.Domain);
            return Outputs(g).ToBytes();
        }

        byte[] StandardOps()
        {
            var g = Graph("chain");
            g.Initializer(Tensors.Int64("i0", [0L], 1));
            g.Initializer(Tensors.Int64("i2", [2L], 1));
            g.Initializer(Tensors.Int64("i4", [4L], 1));
            g.Node("Shape", ["src"], ["src_shape"]);
            g.Node("Slice", ["src_shape", "i2", "i4"], ["hw"]);
            foreach (var x in new[] { "A", "B" })
            {
                g.Node("Shape", [x], [x + "_shape"]);
                g.Node("Slice", [x + "_shape", "i0", "i2"], [x + "_nc"]);
                g.Node("Concat", [x + "_nc", "hw"], [x + "_sizes"]).Attribute("axis", 0L);
                g.Node("Resize", [x, "", "", x + "_sizes"], [x + "_fine"]).Attribute("mode", "linear").Attribute("coordinate_transformation_mode", "pytorch_half_pixel");
            }
            g.Node("ReduceMean", ["src"], ["mean"]).Attribute("axes", new[] { 1L }).Attribute("keepdims", 1L);
            g.Node("Concat", ["src", "mean"], ["guide"]).Attribute("axis", 1L);
            g.Node("Mul", ["A_fine", "guide"], ["a_x"]);
            g.Node("Add", ["a_x", "B_fine"], ["out"]);
            return Tail(g, "out").ToBytes();
        }

        OnnxGraphBuilder Graph(string name)
        {
            var g = new OnnxGraphBuilder(name);
            g.Input("A", TensorProto.Types.DataType.Float, "N", 4, "h", "w");
            g.Input("B", TensorProto.Types.DataType.Float, "N", 4, "h", "w");
            g.Input("src", TensorProto.Types.DataType.Float, "N", 3, "H", "W");
            return g;
        }
    }

    /// <summary>The exporter's tail on a 4-channel tensor: (r, α) = Split(x, [3, 1]), fgr = Clip(r + src, 0, 1), pha = Clip(α, 0, 1), and the outputs.</summary>
    private static OnnxGraphBuilder Tail(OnnxGraphBuilder g, string x)
    {
        g.Initializer(Tensors.Int64("split", [3L, 1L], 2));
        g.Initializer(Tensors.Float("zero", [0f], 1));
        g.Initializer(Tensors.Float("one", [1f], 1));
        g.Node("Split", [x, "split"], ["residual", "alpha"]).Attribute("axis", 1L);
        g.Node("Add", ["residual", "src"], ["sum"]);
        g.Node("Clip", ["sum", "zero", "one"], ["fgr"]);
        g.Node("Clip", ["alpha", "zero", "one"], ["pha"]);
        return Outputs(g);
    }

    /// <summary>fgr [N, 3, H, W] and pha [N, 1, H, W] as the graph's outputs.</summary>
    private static OnnxGraphBuilder Outputs(OnnxGraphBuilder g) => g
        .Output("fgr", TensorProto.Types.DataType.Float, "N", 3, "H", "W")
        .Output("pha", TensorProto.Types.DataType.Float, "N", 1, "H", "W");

    [Theory]
    [InlineData(37, 53)]
    [InlineData(1, 5)]
    [InlineData(288, 512)] // more values than one task takes: the planes are split over both threads
    public void Without_A_the_tail_alone_equals_the_standard_ops_bit_for_bit(int height, int width)
    {
        // At downsample 1 the graph skips the DGF: fgr = Clip(Add(Split(P)[0], src)), pha = Clip(Split(P)[1]).
        const int n = 2;
        long plane = (long)height * width;
        var r = new Random(height * 31 + width);
        var b = Random(r, (int)(n * 4 * plane), -1.5f, 1.5f);
        var src = Random(r, (int)(n * 3 * plane), 0f, 1f);
        var expectedFgr = new float[n * 3 * plane];
        var expectedPha = new float[n * plane];
        fixed (float* pb = b, ps = src, ef = expectedFgr, ep = expectedPha)
        {
            for (int i = 0; i < n; i++) GuidedUpsample.ReferenceTail(pb + i * 4 * plane, ps + i * 3 * plane, plane, ef + i * 3 * plane, ep + i * plane);
            // Every column step this CPU runs, over stretches that start and end anywhere.
            foreach (int lanes in LanesThisCpuRuns)
                foreach (long stretch in new[] { plane, 1, 37 })
                {
                    var fgr = new float[expectedFgr.Length];
                    var pha = new float[expectedPha.Length];
                    fixed (float* pf = fgr, pp = pha)
                        for (int i = 0; i < n; i++)
                            for (long start = 0; start < plane; start += stretch)
                                GuidedUpsample.Tail(pb + i * 4 * plane, ps + i * 3 * plane, plane, pf + i * 3 * plane, pp + i * plane, start, Math.Min(plane, start + stretch), lanes);
                    Assert.Equal(expectedFgr, fgr);
                    Assert.Equal(expectedPha, pha);
                }
        }
        Assert.Contains(expectedFgr, v => v is > 0f and < 1f);
        Assert.Contains(expectedFgr, v => v == 1f); // both clamps reached
        Assert.Contains(expectedPha, v => v == 0f);
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("P", new DenseTensor<float>(b, [n, 4, height, width])),
            NamedOnnxValue.CreateFromTensor("src", new DenseTensor<float>(src, [n, 3, height, width])),
        };
        var chain = Run(StandardOps(), inputs);
        var node = Run(OneNode(), inputs);
        var unfused = GlueFusion.Unfuse(ModelProto.Parser.ParseFrom(OneNode()));
        Assert.DoesNotContain(unfused.Graph.Node, x => x.Domain == BinaryConvSchema.Domain);
        var back = Run(Google.Protobuf.MessageExtensions.ToByteArray(unfused), inputs);
        Assert.Equal(expectedFgr, chain["fgr"]);
        Assert.Equal(expectedPha, chain["pha"]);
        foreach (var name in new[] { "fgr", "pha" })
        {
            Assert.Equal(chain[name], node[name]);
            Assert.Equal(chain[name], back[name]);
        }

        byte[] OneNode()
        {
            var g = Graph("tail");
            g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
            g.Node(BinaryConvSchema.GuidedUpsample, ["", "P", "src"], ["fgr", "pha"], "tail", BinaryConvSchema.Domain);
            return Outputs(g).ToBytes();
        }

        byte[] StandardOps() => Tail(Graph("chain"), "P").ToBytes();

        OnnxGraphBuilder Graph(string name)
        {
            var g = new OnnxGraphBuilder(name);
            g.Input("P", TensorProto.Types.DataType.Float, "N", 4, "H", "W");
            g.Input("src", TensorProto.Types.DataType.Float, "N", 3, "H", "W");
            return g;
        }
    }

    private static Dictionary<string, float[]> Run(byte[] model, List<NamedOnnxValue> inputs)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 2 };
        BiVMOps.Register(options);
        using var session = new InferenceSession(model, options);
        using var results = session.Run(inputs);
        return results.ToDictionary(v => v.Name, v => v.AsTensor<float>().ToArray());
    }

    [Fact]
    public void Inputs_of_the_wrong_shape_are_reported_in_one_line()
    {
        var g = new OnnxGraphBuilder("bad");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("A", TensorProto.Types.DataType.Float, 1, 4, 2, 3);
        g.Input("B", TensorProto.Types.DataType.Float, 1, 4, 2, 2);
        g.Input("src", TensorProto.Types.DataType.Float, 1, 3, 8, 12);
        g.Node(BinaryConvSchema.GuidedUpsample, ["A", "B", "src"], ["fgr", "pha"], "tail", BinaryConvSchema.Domain);
        g.Output("fgr", TensorProto.Types.DataType.Float, 1, 3, 8, 12);
        g.Output("pha", TensorProto.Types.DataType.Float, 1, 1, 8, 12);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        using var session = new InferenceSession(g.ToBytes(), options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => session.Run([
            NamedOnnxValue.CreateFromTensor("A", new DenseTensor<float>(new float[24], [1, 4, 2, 3])),
            NamedOnnxValue.CreateFromTensor("B", new DenseTensor<float>(new float[16], [1, 4, 2, 2])),
            NamedOnnxValue.CreateFromTensor("src", new DenseTensor<float>(new float[288], [1, 3, 8, 12]))]));
        Assert.Contains("GuidedUpsample node 'tail': B must have A's shape [1, 4, 2, 3], got [1, 4, 2, 2]", e.Message);

        // Without A, B must be at Src's size: the tail alone does not resize.
        var alone = new OnnxGraphBuilder("bad-tail");
        alone.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        alone.Input("B", TensorProto.Types.DataType.Float, 1, 4, 4, 6);
        alone.Input("src", TensorProto.Types.DataType.Float, 1, 3, 8, 12);
        alone.Node(BinaryConvSchema.GuidedUpsample, ["", "B", "src"], ["fgr", "pha"], "tail", BinaryConvSchema.Domain);
        alone.Output("fgr", TensorProto.Types.DataType.Float, 1, 3, 8, 12);
        alone.Output("pha", TensorProto.Types.DataType.Float, 1, 1, 8, 12);
        using var tailSession = new InferenceSession(alone.ToBytes(), options);
        e = Assert.ThrowsAny<OnnxRuntimeException>(() => tailSession.Run([
            NamedOnnxValue.CreateFromTensor("B", new DenseTensor<float>(new float[96], [1, 4, 4, 6])),
            NamedOnnxValue.CreateFromTensor("src", new DenseTensor<float>(new float[288], [1, 3, 8, 12]))]));
        Assert.Contains("GuidedUpsample node 'tail': without A, B must be [N, 4, H, W] at Src's size = [1, 4, 8, 12] (Src [1, 3, 8, 12]), got [1, 4, 4, 6]", e.Message);
    }
}
