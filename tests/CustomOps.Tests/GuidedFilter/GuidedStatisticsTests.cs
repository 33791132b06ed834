using BiVM.Contracts;
using BiVM.CustomOps.GuidedFilter;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using Xunit.Abstractions;

namespace BiVM.CustomOps.Tests.GuidedFilter;

/// <summary>
/// The DGF's statistics at the working size (<see cref="GuidedStatistics"/>, op GuidedStatistics): every column step
/// against the one-column path, the op against the thirteen standard nodes it replaces as ONNX Runtime runs them
/// (the exporter's form, written back by <see cref="GuidedStatisticsFusion.Unfuse"/>), and malformed inputs.
/// </summary>
public sealed unsafe class GuidedStatisticsTests(ITestOutputHelper log)
{
    private static float[] Values(Random r, int n, float low, float high) => Enumerable.Range(0, n).Select(_ => low + (float)r.NextDouble() * (high - low)).ToArray();

    private static int[] LanesThisCpuRuns => new[] { 16, 8, 1 }.Where(l => l <= GuidedStatistics.BestLanes).ToArray();

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 5)]
    [InlineData(7, 33)]   // a 16-, an 8- and a one-column step per row
    [InlineData(4, 48)]
    public void Every_column_step_equals_the_one_column_path(int height, int width)
    {
        var r = new Random(height * 100 + width);
        var x = Values(r, 3 * height * width, 0, 1);
        var y = Values(r, 4 * height * width, -1, 1);
        var w = Values(r, 36, 0.09f, 0.13f);
        var b = Values(r, 4, -0.1f, 0.1f);
        float[]? reference = null;
        fixed (float* px = x, py = y, pw = w, pb = b)
            foreach (int lanes in LanesThisCpuRuns.Reverse())
            {
                var outputs = new float[16 * height * width]; // Cov, Var (8 planes), MeanX, MeanY
                var scratch = new float[GuidedStatistics.ScratchFloats(width)];
                fixed (float* po = outputs, ps = scratch)
                    for (int row = 0; row < height; row++)
                        GuidedStatistics.Row(px, py, height, width, pw, pb, row, po + row * width, height * width, po + 8 * height * width, po + 12 * height * width, ps, lanes);
                if (reference is null) reference = outputs;
                else Assert.Equal(reference, outputs);
            }
        var missing = new[] { 16, 8 }.Except(LanesThisCpuRuns).ToArray();
        log.WriteLine($"column steps tested: {string.Join(", ", LanesThisCpuRuns)}{(missing.Length > 0 ? $"; this CPU could not run {string.Join(", ", missing)}" : "")}");
    }

    [Theory]
    [InlineData(1, 9, 13, 16, 1, false)]
    [InlineData(2, 34, 61, 16, 2, true)]
    [InlineData(1, 270, 480, 16, 2, true)] // the shipped models' working size at 1920×1080, r = 0.25
    public void Op_equals_the_standard_nodes_it_replaces(int n, int h, int w, int hiddenChannels, int threads, bool packed)
    {
        var r = new Random(h * w);
        var x = Values(r, n * 3 * h * w, 0, 1);
        var y = Values(r, n * 4 * h * w, -1, 1);
        var hidden = Values(r, n * hiddenChannels * h * w, -2, 2);
        var boxW = Values(r, 36, 0.09f, 0.13f);
        var boxB = new float[4];

        var g = new OnnxGraphBuilder("statistics");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, n, 3, h, w);
        g.Input("Y", TensorProto.Types.DataType.Float, n, 4, h, w);
        g.Input("H", TensorProto.Types.DataType.Float, n, hiddenChannels, h, w);
        g.Initializer(Tensors.Float("W", boxW, 4, 1, 3, 3));
        g.Initializer(Tensors.Float("B", boxB, 4));
        var tau = Values(r, 8 + hiddenChannels, -0.05f, 0.05f);
        var node = g.Node(BinaryConvSchema.GuidedStatistics, ["X", "Y", "W", "B", "H"], packed ? ["S", "MX", "MY", "S.packed"] : ["S", "MX", "MY"], "statistics", BinaryConvSchema.Domain);
        if (packed) node.Attribute(BinaryConvSchema.TauNext, tau);
        g.Output("S", TensorProto.Types.DataType.Float, n, 8 + hiddenChannels, h, w);
        g.Output("MX", TensorProto.Types.DataType.Float, n, 4, h, w);
        g.Output("MY", TensorProto.Types.DataType.Float, n, 4, h, w);
        if (packed) g.Output("S.packed", TensorProto.Types.DataType.Uint64, n, h, w, BiVM.CustomOps.BitPacking.PackedLayout.WordsFor(8 + hiddenChannels));
        var fused = ModelProto.Parser.ParseFrom(g.ToBytes());
        var standard = fused.Clone();
        if (packed)
        {
            // The standard form has no packed output: compared below against the packer on the standard Stats.
            standard.Graph.Node[0].Output.RemoveAt(BinaryConvSchema.StatisticsPacked);
            standard.Graph.Node[0].Attribute.Clear();
            standard.Graph.Output.RemoveAt(3);
        }
        GuidedStatisticsFusion.Unfuse(standard);
        Assert.Equal(0, GuidedStatisticsFusion.Count(standard));
        Assert.Equal(13, standard.Graph.Node.Count);
        var again = standard.Clone();
        Assert.Equal(1, GuidedStatisticsFusion.Apply(again)); // the exporter's form fuses back to one node
        Assert.Single(again.Graph.Node);

        ulong[]? packedBits = null;
        Dictionary<string, float[]> Run(ModelProto model)
        {
            using var options = new SessionOptions { IntraOpNumThreads = threads };
            BiVMOps.Register(options);
            using var session = new InferenceSession(Google.Protobuf.MessageExtensions.ToByteArray(model), options);
            using var results = session.Run([
                NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x, [n, 3, h, w])),
                NamedOnnxValue.CreateFromTensor("Y", new DenseTensor<float>(y, [n, 4, h, w])),
                NamedOnnxValue.CreateFromTensor("H", new DenseTensor<float>(hidden, [n, hiddenChannels, h, w]))]);
            packedBits = results.FirstOrDefault(v => v.Name == "S.packed")?.AsTensor<ulong>().ToArray();
            return results.Where(v => v.Name != "S.packed").ToDictionary(v => v.Name, v => v.AsTensor<float>().ToArray());
        }

        var expected = Run(standard);
        var actual = Run(fused);
        foreach (var name in new[] { "S", "MX", "MY" })
        {
            var (e, a) = (expected[name], actual[name]);
            Assert.Equal(e.Length, a.Length);
            int differ = e.Zip(a).Count(p => p.First != p.Second);
            float largest = e.Zip(a).Max(p => Math.Abs(p.First - p.Second));
            log.WriteLine($"{name}: {differ} of {e.Length} differ from ONNX Runtime's standard nodes (largest {largest:E2})");
            Assert.All(e.Zip(a), p => Assert.True(Math.Abs(p.First - p.Second) <= 1e-5f * (1 + Math.Abs(p.First)), $"{name}: {p.Second} vs {p.First}"));
        }
        // With tau_next, StatsPacked holds the sign bits of the op's own Stats − τ in the packer's layout.
        if (packed)
            Assert.Equal(BiVM.CustomOps.BitPacking.ActivationPacker.Pack(actual["S"], tau, n, 8 + hiddenChannels, h, w), packedBits);
        else Assert.Null(packedBits);
        // Hidden is copied after Cov and Var, bit for bit.
        for (int i = 0; i < n; i++)
            Assert.Equal(hidden.AsSpan(i * hiddenChannels * h * w, hiddenChannels * h * w).ToArray(),
                actual["S"].AsSpan((i * (8 + hiddenChannels) + 8) * h * w, hiddenChannels * h * w).ToArray());
    }

    [Theory]
    [InlineData(9, 13, 1)]
    [InlineData(34, 61, 2)]
    public void Without_Stats_or_Hidden_the_op_writes_the_bits_and_means_of_the_op_with_them(int h, int w, int threads)
    {
        // Stats the empty name (its reader takes StatsPacked): each row's Stats is formed in scratch for the packer only.
        const int hiddenChannels = 16;
        var r = new Random(h + w);
        var x = Values(r, 3 * h * w, 0, 1);
        var y = Values(r, 4 * h * w, -1, 1);
        var hidden = Values(r, hiddenChannels * h * w, -2, 2);
        var tau = Values(r, 8 + hiddenChannels, -0.05f, 0.05f);

        // Hidden's bits as the glue that makes it packs them: against tau_next's values for its channels (8 …).
        var hiddenBits = BiVM.CustomOps.BitPacking.ActivationPacker.Pack(hidden, tau[8..], 1, hiddenChannels, h, w);

        Dictionary<string, Array> Run(bool writesStats, bool hiddenPacked = false)
        {
            var g = new OnnxGraphBuilder("statistics");
            g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
            g.Input("X", TensorProto.Types.DataType.Float, 1, 3, h, w);
            g.Input("Y", TensorProto.Types.DataType.Float, 1, 4, h, w);
            g.Input("H", TensorProto.Types.DataType.Float, 1, hiddenChannels, h, w);
            g.Input("HP", TensorProto.Types.DataType.Uint64, 1, h, w, 1);
            g.Initializer(Tensors.Float("W", Values(new Random(1), 36, 0.09f, 0.13f), 4, 1, 3, 3));
            g.Initializer(Tensors.Float("B", new float[4], 4));
            var node = g.Node(BinaryConvSchema.GuidedStatistics, hiddenPacked ? ["X", "Y", "W", "B", "", "HP"] : ["X", "Y", "W", "B", "H"], ["S", "MX", "MY", "S.packed"], "statistics", BinaryConvSchema.Domain)
                .Attribute(BinaryConvSchema.TauNext, tau);
            if (writesStats) g.Output("S", TensorProto.Types.DataType.Float, 1, 8 + hiddenChannels, h, w);
            else node.Proto.Output[BinaryConvSchema.StatisticsStats] = "";
            g.Output("MX", TensorProto.Types.DataType.Float, 1, 4, h, w);
            g.Output("MY", TensorProto.Types.DataType.Float, 1, 4, h, w);
            g.Output("S.packed", TensorProto.Types.DataType.Uint64, 1, h, w, BiVM.CustomOps.BitPacking.PackedLayout.WordsFor(8 + hiddenChannels));
            using var options = new SessionOptions { IntraOpNumThreads = threads };
            BiVMOps.Register(options);
            using var session = new InferenceSession(g.ToBytes(), options);
            using var results = session.Run([
                NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x, [1, 3, h, w])),
                NamedOnnxValue.CreateFromTensor("Y", new DenseTensor<float>(y, [1, 4, h, w])),
                NamedOnnxValue.CreateFromTensor("H", new DenseTensor<float>(hidden, [1, hiddenChannels, h, w])),
                NamedOnnxValue.CreateFromTensor("HP", new DenseTensor<ulong>(hiddenBits, [1, h, w, 1]))]);
            return results.ToDictionary(v => v.Name, v => v.Name == "S.packed" ? (Array)v.AsTensor<ulong>().ToArray() : v.AsTensor<float>().ToArray());
        }

        var written = Run(writesStats: true);
        var bitsOnly = Run(writesStats: false);
        // With HiddenPacked (no Hidden floats): the own 8 channels' bits, Hidden's shifted above them, the same words.
        var fromBits = Run(writesStats: false, hiddenPacked: true);
        Assert.Equal((ulong[])written["S.packed"], (ulong[])fromBits["S.packed"]);
        Assert.Equal((float[])written["MX"], (float[])fromBits["MX"]);
        Assert.DoesNotContain("S", bitsOnly.Keys);
        Assert.Equal(BiVM.CustomOps.BitPacking.ActivationPacker.Pack((float[])written["S"], tau, 1, 8 + hiddenChannels, h, w), (ulong[])written["S.packed"]);
        Assert.Equal((ulong[])written["S.packed"], (ulong[])bitsOnly["S.packed"]);
        Assert.Equal((float[])written["MX"], (float[])bitsOnly["MX"]);
        Assert.Equal((float[])written["MY"], (float[])bitsOnly["MY"]);
    }

    [Theory]
    [InlineData("W", "Wbad", "BoxW must be float32 [4, 1, 3, 3] (a depthwise 3×3 Conv's W), got float32 [4, 1, 1, 1]")]
    [InlineData("B", "Bbad", "BoxB must be float32 [4], got float32 [3]")]
    // Stats the empty name without StatsPacked: the Stats would go nowhere (the empty name is allowed only with its bits).
    [InlineData("S", "", "output Stats is the empty name and there is no StatsPacked: the Stats would go nowhere")]
    // Both Hidden and HiddenPacked given.
    [InlineData("HP", "H", "has both Hidden and HiddenPacked: with HiddenPacked Hidden is the empty name")]
    public void Malformed_node_is_refused_in_one_line(string good, string bad, string message)
    {
        var g = new OnnxGraphBuilder("bad");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, 1, 3, 4, 5);
        g.Input("Y", TensorProto.Types.DataType.Float, 1, 4, 4, 5);
        g.Input("H", TensorProto.Types.DataType.Float, 1, 2, 4, 5);
        g.Initializer(Tensors.Float("W", new float[36], 4, 1, 3, 3));
        g.Initializer(Tensors.Float("Wbad", new float[4], 4, 1, 1, 1));
        g.Initializer(Tensors.Float("B", new float[4], 4));
        g.Initializer(Tensors.Float("Bbad", new float[3], 3));
        string[] inputs = ["X", "Y", "W", "B", "H"];
        if (good == "HP") inputs = [.. inputs, bad];
        else if (good != "S") inputs[Array.IndexOf(inputs, good)] = bad;
        var node = g.Node(BinaryConvSchema.GuidedStatistics, inputs, ["S", "MX", "MY"], "statistics", BinaryConvSchema.Domain);
        if (good == "S") node.Proto.Output[BinaryConvSchema.StatisticsStats] = bad;
        g.Output("MX", TensorProto.Types.DataType.Float, 1, 4, 4, 5);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => new InferenceSession(g.ToBytes(), options).Dispose());
        Assert.Contains($"GuidedStatistics node 'statistics': {message}", e.Message);
    }

    [Fact]
    public void Y_of_another_size_is_refused_when_it_runs()
    {
        var g = new OnnxGraphBuilder("bad_y");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, 1, 3, 4, 5);
        g.Input("Y", TensorProto.Types.DataType.Float, 1, 4, 4, 6);
        g.Input("H", TensorProto.Types.DataType.Float, 1, 2, 4, 5);
        g.Initializer(Tensors.Float("W", new float[36], 4, 1, 3, 3));
        g.Initializer(Tensors.Float("B", new float[4], 4));
        g.Node(BinaryConvSchema.GuidedStatistics, ["X", "Y", "W", "B", "H"], ["S", "MX", "MY"], "statistics", BinaryConvSchema.Domain);
        g.Output("S", TensorProto.Types.DataType.Float, 1, 10, 4, 5);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        using var session = new InferenceSession(g.ToBytes(), options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => session.Run([
            NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(new float[60], [1, 3, 4, 5])),
            NamedOnnxValue.CreateFromTensor("Y", new DenseTensor<float>(new float[96], [1, 4, 4, 6])),
            NamedOnnxValue.CreateFromTensor("H", new DenseTensor<float>(new float[40], [1, 2, 4, 5]))]).Dispose());
        Assert.Contains("GuidedStatistics node 'statistics': Y must be float32 [1, 4, 4, 5] for X [1, 3, 4, 5], got [1, 4, 4, 6]", e.Message);
    }
}
