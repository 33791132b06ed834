using BiVM.Contracts;
using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using Xunit.Abstractions;

namespace BiVM.CustomOps.Tests.Recurrent;

/// <summary>
/// <c>ai.bivm:ConvGru</c> against the five ops it stands for (GruStateConcat, the ih BinaryConv2d, GruGates, the hh
/// BinaryConv2d, GruUpdate), both run by ONNX Runtime: the next state bit for bit, for states full, broadcast
/// ([1, 1, 1, 1], per channel, per row) and shared by a batch, channel counts whose concatenation fits one word or
/// spans two (halves joined inside a word and across one), on 1, 2 and 3 threads (bands of rows recomputing their
/// neighbours' rows), with and without biases, with every popcount kernel this CPU runs; then the fusion pass finds
/// the five nodes, leaves them where an intermediate is read elsewhere or a conv is not 3×3 same-size, and Unfuse
/// writes them back.
/// </summary>
public sealed class ConvGruCellTests(ITestOutputHelper log)
{
    private const TensorProto.Types.DataType F32 = TensorProto.Types.DataType.Float;

    /// <summary>The five-node GRU over x [N, C, H, W] and state h, with random binary convs (biases where asked).</summary>
    private static ModelProto Chain(long[] stateShape, int n, int c, int h, int w, bool biases, int seed, string? exposed = null, int hhStride = 1)
    {
        var r = new Random(seed);
        float[] Values(int length, double scale) => Enumerable.Range(0, length).Select(_ => (float)((r.NextDouble() * 2 - 1) * scale)).ToArray();
        ulong[] Weights(int cout, int cin) => WeightPacker.Pack(Enumerable.Range(0, cout * cin * 9).Select(_ => r.Next(2) == 0 ? 1f : -1f).ToArray(), cout, cin, 3, 3);
        var g = new OnnxGraphBuilder("conv-gru");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("x", F32, n, c, h, w);
        g.Input("h", F32, [.. stateShape.Select(d => (Dim)d)]);
        g.Node(BinaryConvSchema.GruStateConcat, ["x", "h"], ["cat_ih"], "gru.cat_ih.fused", BinaryConvSchema.Domain);
        // τ near 0 so that the bits vary; α and bias spread the gates over σ's and tanh's curved parts.
        BinaryConvNodes.AddCustom(g, "gru.ih", "cat_ih", "gates", Weights(2 * c, 2 * c), WeightPacker.PackedShape(2 * c, 2 * c, 3, 3),
            Values(2 * c, 0.2), Values(2 * c, 0.5), biases ? Values(2 * c, 1) : null, BinaryConvAttributes.Square(3));
        g.Node(BinaryConvSchema.GruGates, ["x", "gates", "h"], ["z", "cat_hh"], "gru.gates.fused", BinaryConvSchema.Domain);
        BinaryConvNodes.AddCustom(g, "gru.hh", "cat_hh", "candidate", Weights(c, 2 * c), WeightPacker.PackedShape(c, 2 * c, 3, 3),
            Values(c, 0.2), Values(2 * c, 0.5), biases ? Values(c, 1) : null, BinaryConvAttributes.Square(3, stride: hhStride));
        g.Node(BinaryConvSchema.GruUpdate, ["candidate", "z", "h"], ["h_next"], "gru.h_next.fused", BinaryConvSchema.Domain);
        g.Output("h_next", F32, n, c, h, w);
        if (exposed is not null) g.Output(exposed, F32);
        return g.Build();
    }

    private static ModelProto Fused(ModelProto model, out int count)
    {
        var copy = model.Clone();
        var nodes = copy.Graph.Node.ToList();
        count = ConvGruFusion.Apply(nodes, copy.Graph.Initializer.ToDictionary(t => t.Name), copy.Graph.Output.Select(o => o.Name).ToHashSet());
        copy.Graph.Node.Clear();
        copy.Graph.Node.AddRange(nodes);
        return copy;
    }

    private static float[] Run(ModelProto model, float[] x, long[] xShape, float[] h, long[] stateShape, int threads, string? kernel)
    {
        using var options = new SessionOptions { IntraOpNumThreads = threads, GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        BiVMOps.Register(options, kernel);
        using var session = new InferenceSession(Google.Protobuf.MessageExtensions.ToByteArray(model), options);
        using var results = session.Run([
            NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(x, xShape.Select(d => (int)d).ToArray())),
            NamedOnnxValue.CreateFromTensor("h", new DenseTensor<float>(h, stateShape.Select(d => (int)d).ToArray()))]);
        return results.First().AsTensor<float>().ToArray();
    }

    [Theory]
    [InlineData(new long[] { 1, 16, 9, 13 }, 1, 16, 9, 13, true)]     // decode1's C: [x, h] in one word
    [InlineData(new long[] { 1, 1, 1, 1 }, 1, 16, 9, 13, true)]       // the first frame's zero state, broadcast
    [InlineData(new long[] { 2, 20, 7, 5 }, 2, 20, 7, 5, false)]      // decode2's C, a batch, no biases
    [InlineData(new long[] { 1, 20, 7, 5 }, 2, 20, 7, 5, true)]       // one state for both images
    [InlineData(new long[] { 1, 40, 1, 1 }, 1, 40, 6, 11, true)]      // decode3's C: the halves joined across two words; per channel
    [InlineData(new long[] { 1, 1, 6, 1 }, 1, 40, 6, 11, false)]      // per row
    [InlineData(new long[] { 1, 64, 5, 4 }, 1, 64, 5, 4, true)]       // decode4's C: a word each
    [InlineData(new long[] { 1, 80, 4, 6 }, 1, 80, 4, 6, true)]       // two words a half: x's bits for the hh conv kept a row ahead
    [InlineData(new long[] { 1, 3, 2, 33 }, 1, 3, 2, 33, true)]       // two rows: every band is all border
    public void The_cell_is_its_five_ops_bit_for_bit(long[] stateShape, int n, int c, int h, int w, bool biases)
    {
        var chain = Chain(stateShape, n, c, h, w, biases, seed: c * 100 + w);
        var fused = Fused(chain, out int count);
        Assert.Equal(1, count);
        Assert.Equal([BinaryConvSchema.ConvGru], fused.Graph.Node.Select(node => node.OpType));
        var r = new Random(h * 10 + w);
        var x = Enumerable.Range(0, n * c * h * w).Select(i => i % 17 == 3 ? 0f : (float)(r.NextDouble() * 4 - 2)).ToArray();
        var state = Enumerable.Range(0, (int)stateShape.Aggregate(1L, (a, d) => a * d)).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
        long[] xShape = [n, c, h, w];
        var expected = Run(chain, x, xShape, state, stateShape, 1, null);
        Assert.Contains(expected, v => v != 0f);
        foreach (int threads in new[] { 1, 2, 3 })
            Assert.Equal(expected, Run(fused, x, xShape, state, stateShape, threads, null));
    }

    [Fact]
    public void Every_kernel_this_cpu_runs_gives_the_same_state()
    {
        long[] stateShape = [1, 16, 10, 37], xShape = [1, 16, 10, 37];
        var chain = Chain(stateShape, 1, 16, 10, 37, biases: true, seed: 5);
        var fused = Fused(chain, out _);
        var r = new Random(6);
        var x = Enumerable.Range(0, 16 * 10 * 37).Select(_ => (float)(r.NextDouble() * 4 - 2)).ToArray();
        var state = Enumerable.Range(0, 16 * 10 * 37).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
        var expected = Run(chain, x, xShape, state, stateShape, 1, "portable");
        foreach (string kernel in KernelSelector.SupportedNames)
        {
            Assert.Equal(expected, Run(fused, x, xShape, state, stateShape, 2, kernel));
            Assert.Equal(expected, Run(chain, x, xShape, state, stateShape, 1, kernel));
        }
        var missing = KernelSelector.AllNames.Except(KernelSelector.SupportedNames).ToArray();
        log.WriteLine($"kernels tested: {string.Join(", ", KernelSelector.SupportedNames)}{(missing.Length > 0 ? $"; this CPU could not run {string.Join(", ", missing)}" : "")}");
    }

    [Theory]
    [InlineData("cat_ih")]
    [InlineData("gates")]
    [InlineData("z")]
    [InlineData("cat_hh")]
    [InlineData("candidate")]
    public void A_cell_whose_intermediate_is_a_graph_output_is_left_as_five_ops(string exposed)
    {
        Fused(Chain([1, 1, 1, 1], 1, 4, 5, 6, true, 1, exposed), out int count);
        Assert.Equal(0, count);
    }

    [Fact]
    public void A_conv_that_is_not_3x3_same_size_is_left_alone()
    {
        Fused(Chain([1, 1, 1, 1], 1, 4, 6, 6, true, 1, hhStride: 2), out int count);
        Assert.Equal(0, count);
    }

    [Fact]
    public void Unfolded_writes_the_five_ops_back_and_they_fuse_again()
    {
        var fused = Fused(Chain([1, 1, 1, 1], 1, 4, 5, 6, true, 1), out _);
        Assert.Equal("gru.cell", fused.Graph.Node.Single().Name);
        var unfolded = ConvGruFusion.Unfolded(fused);
        Assert.Equal([BinaryConvSchema.GruStateConcat, BinaryConvSchema.BinaryConv2d, BinaryConvSchema.GruGates, BinaryConvSchema.BinaryConv2d, BinaryConvSchema.GruUpdate],
            unfolded.Graph.Node.Select(n => n.OpType));
        Assert.Equal("h_next", unfolded.Graph.Node[^1].Output.Single());
        var again = Fused(unfolded, out int count);
        Assert.Equal(1, count);
        Assert.Equal(fused.Graph.Node.Single().ToString(), again.Graph.Node.Single().ToString());
        Assert.Equal(0, ConvGruFusion.Count(unfolded));
        Assert.Equal(1, ConvGruFusion.Count(again));
    }

    [Fact]
    public void A_state_that_does_not_broadcast_to_x_fails_with_one_line_naming_both_shapes()
    {
        var fused = Fused(Chain([1, 5, 1, 1], 1, 4, 5, 6, true, 1), out _);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => Run(fused, new float[4 * 5 * 6], [1, 4, 5, 6], new float[5], [1, 5, 1, 1], 1, null));
        Assert.Contains("State [1, 5, 1, 1] must broadcast to X's shape [1, 4, 5, 6]", e.Message);
        Assert.DoesNotContain("\n", e.Message.Trim());
    }

    [Theory]
    [InlineData(0, "IhW must be [2C, k, k, words]")]
    [InlineData(1, "HhW must be the packed uint64")]
    [InlineData(2, "IhTau must be float32 [8]")]
    [InlineData(3, "channel mismatch: X")]
    public void A_malformed_cell_fails_with_one_line_naming_what_is_wrong(int fault, string message)
    {
        var fused = Fused(Chain([1, 1, 1, 1], 1, 4, 5, 6, true, 1), out _);
        var cell = fused.Graph.Node.Single();
        switch (fault)
        {
            case 0: cell.Input[BinaryConvSchema.ConvGruIhW] = cell.Input[BinaryConvSchema.ConvGruHhW]; break;
            case 1: cell.Input[BinaryConvSchema.ConvGruHhW] = cell.Input[BinaryConvSchema.ConvGruIhW]; break;
            case 2: cell.Input[BinaryConvSchema.ConvGruIhTau] = cell.Input[BinaryConvSchema.ConvGruHhAlpha]; break;
        }
        long[] xShape = fault == 3 ? [1, 3, 5, 6] : [1, 4, 5, 6];
        if (fault == 3) fused.Graph.Input[0].Type.TensorType.Shape.Dim[1].DimValue = 3;
        var x = new float[xShape.Aggregate(1L, (a, d) => a * d)];
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => Run(fused, x, xShape, [0f], [1, 1, 1, 1], 1, null));
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain("\n", e.Message.Trim());
    }

    /// <summary>
    /// The fused cell reading X as bits (XPackedIh and XPackedHh graph inputs "xi" and "xh", X the empty name, or
    /// kept where <paramref name="keepX"/>), as the glue before it hands them (<see cref="GruHandOffFusion"/>).
    /// </summary>
    private static ModelProto ReadingBits(ModelProto fused, int n, int c, int h, int w, bool keepX, bool onlyIh = false)
    {
        var model = fused.Clone();
        var cell = model.Graph.Node.Single();
        if (!keepX)
        {
            cell.Input[BinaryConvSchema.GruX] = "";
            model.Graph.Input.Remove(model.Graph.Input.Single(i => i.Name == "x"));
        }
        int words = PackedLayout.WordsFor(c);
        foreach (var (name, at) in onlyIh ? [("xi", BinaryConvSchema.ConvGruXPackedIh)] : new[] { ("xi", BinaryConvSchema.ConvGruXPackedIh), ("xh", BinaryConvSchema.ConvGruXPackedHh) })
        {
            while (cell.Input.Count <= at) cell.Input.Add("");
            cell.Input[at] = name;
            var info = new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Uint64, Shape = new TensorShapeProto() } } };
            foreach (long d in new long[] { n, h, w, words }) info.Type.TensorType.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
            model.Graph.Input.Add(info);
        }
        return model;
    }

    /// <summary>X's bits against the first C values of the cell's IhTau and HhTau (its x half of each conv's input), as the glue packs them.</summary>
    private static (ulong[] Ih, ulong[] Hh) Bits(ModelProto fused, float[] x, int n, int c, int h, int w)
    {
        var cell = fused.Graph.Node.Single();
        float[] Tau(int at) => Tensors.FloatValues(fused.Graph.Initializer.Single(t => t.Name == cell.Input[at]))![..c];
        return (ActivationPacker.Pack(x, Tau(BinaryConvSchema.ConvGruIhTau), n, c, h, w), ActivationPacker.Pack(x, Tau(BinaryConvSchema.ConvGruHhTau), n, c, h, w));
    }

    private static float[] RunBits(ModelProto model, float[]? x, (ulong[] Ih, ulong[] Hh) bits, int n, int c, int h, int w, float[] state, long[] stateShape, int threads)
    {
        using var options = new SessionOptions { IntraOpNumThreads = threads, GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        BiVMOps.Register(options);
        using var session = new InferenceSession(Google.Protobuf.MessageExtensions.ToByteArray(model), options);
        int[] packedShape = [n, h, w, PackedLayout.WordsFor(c)];
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("h", new DenseTensor<float>(state, stateShape.Select(d => (int)d).ToArray())),
            NamedOnnxValue.CreateFromTensor("xi", new DenseTensor<ulong>(bits.Ih, packedShape)),
        };
        if (session.InputMetadata.ContainsKey("xh")) inputs.Add(NamedOnnxValue.CreateFromTensor("xh", new DenseTensor<ulong>(bits.Hh, packedShape)));
        if (x is not null) inputs.Add(NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(x, [n, c, h, w])));
        using var results = session.Run(inputs);
        return results.First().AsTensor<float>().ToArray();
    }

    [Theory]
    [InlineData(1, 16, 9, 13)] // decode1's C: one word
    [InlineData(2, 20, 7, 5)]  // decode2's C, a batch
    [InlineData(1, 40, 6, 11)] // decode3's C: the halves joined across two words
    [InlineData(1, 80, 4, 6)]  // two words a half
    public void Given_x_as_bits_the_cell_gives_the_same_state(int n, int c, int h, int w)
    {
        long[] stateShape = [n, c, h, w];
        var fused = Fused(Chain(stateShape, n, c, h, w, biases: true, seed: c + w), out _);
        var r = new Random(c * 7 + h);
        var x = Enumerable.Range(0, n * c * h * w).Select(i => i % 13 == 2 ? 0f : (float)(r.NextDouble() * 4 - 2)).ToArray();
        var state = Enumerable.Range(0, n * c * h * w).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
        var expected = Run(fused, x, [n, c, h, w], state, stateShape, 1, null);
        var bits = Bits(fused, x, n, c, h, w);
        Assert.NotEqual(bits.Ih, bits.Hh);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            Assert.Equal(expected, RunBits(ReadingBits(fused, n, c, h, w, keepX: false), null, bits, n, c, h, w, state, stateShape, threads));
            Assert.Equal(expected, RunBits(ReadingBits(fused, n, c, h, w, keepX: true), x, bits, n, c, h, w, state, stateShape, threads));
        }
        // The bits are what the cell reads: those of −X give another state (with X itself still given, and unread).
        var negated = Bits(fused, x.Select(v => -v).ToArray(), n, c, h, w);
        Assert.NotEqual(expected, RunBits(ReadingBits(fused, n, c, h, w, keepX: true), x, negated, n, c, h, w, state, stateShape, 1));
    }

    [Theory]
    [InlineData(true, 1, "XPackedIh and XPackedHh go together: give both or neither")]
    [InlineData(false, 2, "XPackedHh must be uint64 [N, H, W, words(C)] = [1, 5, 6, 1]")]
    public void Bits_given_wrongly_fail_with_one_line_naming_them(bool onlyIh, int hhRows, string message)
    {
        var fused = Fused(Chain([1, 4, 5, 6], 1, 4, 5, 6, true, 1), out _);
        var model = ReadingBits(fused, 1, 4, 5, 6, keepX: false, onlyIh);
        if (!onlyIh) model.Graph.Input.Single(i => i.Name == "xh").Type.TensorType.Shape.Dim[1].DimValue = hhRows;
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() =>
        {
            using var options = new SessionOptions();
            BiVMOps.Register(options);
            using var session = new InferenceSession(Google.Protobuf.MessageExtensions.ToByteArray(model), options);
            var inputs = new List<NamedOnnxValue>
            {
                NamedOnnxValue.CreateFromTensor("h", new DenseTensor<float>(new float[4 * 5 * 6], [1, 4, 5, 6])),
                NamedOnnxValue.CreateFromTensor("xi", new DenseTensor<ulong>(new ulong[5 * 6], [1, 5, 6, 1])),
            };
            if (!onlyIh) inputs.Add(NamedOnnxValue.CreateFromTensor("xh", new DenseTensor<ulong>(new ulong[hhRows * 6], [1, hhRows, 6, 1])));
            using var results = session.Run(inputs);
        });
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain("\n", e.Message.Trim());
    }
}
