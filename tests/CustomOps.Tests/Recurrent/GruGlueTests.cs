using BiVM.Contracts;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.CustomOps.Recurrent;
using BiVM.Graph;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

namespace BiVM.CustomOps.Tests.Recurrent;

/// <summary>
/// The ConvGRU glue as the exporter writes it (Shape, Expand, Concat, Sigmoid, Split, Mul, Concat, Tanh, Sub, Mul,
/// Mul, Add; the two binary convs' outputs are graph inputs here) against <see cref="GruFusion"/>'s three ai.bivm
/// ops, run by ONNX Runtime: the pass finds it, leaves a GRU whose intermediate is read elsewhere alone, is idempotent,
/// and Unfuse gives standard ops it fuses again; the fused ops give ONNX Runtime's values bit for bit (σ and tanh are
/// MLAS's FMA3 arithmetic; on a CPU without FMA within 1e-6), for the first frame's [1, 1, 1, 1] state, per-channel,
/// per-row, per-column and full ones, on 1 and 2 threads.
/// </summary>
public sealed class GruGlueTests
{
    private const TensorProto.Types.DataType F32 = TensorProto.Types.DataType.Float;

    /// <summary>Where MLAS runs its SSE2 kernels (no FMA) and this code its specification: within this (the contract asks 1e-5).</summary>
    private const double NoFmaTolerance = 1e-6;

    /// <summary>One GRU's glue over x [N, C, H, W], state h (any broadcastable shape), gates g [N, 2C, H, W] and candidate c.</summary>
    private static ModelProto Glue(long[] stateShape, int c, string? exposed = null)
    {
        var g = new OnnxGraphBuilder("gru");
        g.Input("x", F32, "N", c, "H", "W");
        g.Input("h", F32, [.. stateShape.Select((_, i) => (Dim)$"s{i}")]); // symbolic: a test feeds a wrong shape
        g.Input("g", F32, "N", 2 * c, "H", "W");
        g.Input("c", F32, "N", c, "H", "W");
        g.Initializer(Tensors.Int64("halves", [c, c], 2));
        g.Initializer(Tensors.Float("one", [1f], 1));
        g.Node("Shape", ["x"], ["x_shape"]);
        g.Node("Expand", ["h", "x_shape"], ["state"]);
        g.Node("Concat", ["x", "state"], ["cat_ih"]).Attribute("axis", 1L);
        g.Node("Sigmoid", ["g"], ["gates"]);
        g.Node("Split", ["gates", "halves"], ["r", "z"]).Attribute("axis", 1L);
        g.Node("Mul", ["r", "state"], ["r_h"]);
        g.Node("Concat", ["x", "r_h"], ["cat_hh"]).Attribute("axis", 1L);
        g.Node("Tanh", ["c"], ["candidate"]);
        g.Node("Sub", ["one", "z"], ["one_minus_z"]);
        g.Node("Mul", ["one_minus_z", "state"], ["keep"]);
        g.Node("Mul", ["z", "candidate"], ["update"]);
        g.Node("Add", ["keep", "update"], ["h_next"]);
        g.Output("cat_ih", F32, "N", 2 * c, "H", "W");
        g.Output("cat_hh", F32, "N", 2 * c, "H", "W");
        g.Output("h_next", F32, "N", c, "H", "W");
        if (exposed is not null) g.Output(exposed, F32, "N", c, "H", "W");
        return g.Build();
    }

    private static ModelProto Fused(ModelProto model, out int count)
    {
        var copy = model.Clone();
        var nodes = copy.Graph.Node.ToList();
        count = GruFusion.Apply(copy, nodes);
        copy.Graph.Node.Clear();
        copy.Graph.Node.AddRange(nodes);
        if (!copy.OpsetImport.Any(o => o.Domain == BinaryConvSchema.Domain))
            copy.OpsetImport.Add(new OperatorSetIdProto { Domain = BinaryConvSchema.Domain, Version = BinaryConvSchema.OpsetVersion });
        return copy;
    }

    [Fact]
    public void Pass_fuses_twelve_nodes_into_three_and_unfuse_restores_standard_ops()
    {
        var glue = Glue([1, 1, 1, 1], 4);
        var fused = Fused(glue, out int count);
        Assert.Equal(1, count);
        Assert.Equal([BinaryConvSchema.GruStateConcat, BinaryConvSchema.GruGates, BinaryConvSchema.GruUpdate], fused.Graph.Node.Select(n => n.OpType));
        Assert.Equal(["x", "h"], fused.Graph.Node[0].Input);
        Assert.Equal(["x", "g", "h"], fused.Graph.Node[1].Input);
        Assert.Equal(["z", "cat_hh"], fused.Graph.Node[1].Output);
        Assert.Equal(["c", "z", "h"], fused.Graph.Node[2].Input);
        Assert.Equal(1, GruFusion.Count(fused));
        // Only the removed nodes read the split sizes and the 1: they go too.
        Assert.Empty(fused.Graph.Initializer);
        // Idempotent: nothing left to fuse.
        Assert.Equal(0, GruFusion.Apply(fused, fused.Graph.Node.ToList()));
        // Unfuse writes standard ops (the Muls read h as it is: Mul broadcasts like the Expand), which fuse again.
        var restored = GlueFusion.Unfuse(fused);
        Assert.DoesNotContain(restored.Graph.Node, n => n.Domain.Length > 0);
        Assert.Contains(restored.Graph.Node, n => n.OpType == "Expand");
        var again = Fused(restored, out int refused);
        Assert.Equal(1, refused);
        Assert.Equal(fused.Graph.Node.Select(n => (n.OpType, string.Join(",", n.Input), string.Join(",", n.Output))),
            again.Graph.Node.Select(n => (n.OpType, string.Join(",", n.Input), string.Join(",", n.Output))));
    }

    [Theory]
    [InlineData("r_h")]
    [InlineData("keep")]
    [InlineData("candidate")]
    [InlineData("gates")]
    public void A_gru_whose_intermediate_is_a_graph_output_stays_standard(string exposed)
    {
        var glue = Glue([1, 1, 1, 1], 4, exposed);
        Fused(glue, out int count);
        Assert.Equal(0, count);
    }

    [Fact]
    public void A_split_that_is_not_in_halves_is_left_alone()
    {
        var glue = Glue([1, 1, 1, 1], 4);
        glue.Graph.Initializer.Single(t => t.Name == "halves").MergeFrom(Tensors.Int64("halves", [3L, 5L], 2));
        Fused(glue, out int count);
        Assert.Equal(0, count);
    }

    [Theory]
    [InlineData(new long[] { 1, 1, 1, 1 }, 2, 5, 7, 9)]
    [InlineData(new long[] { 1, 5, 1, 1 }, 1, 5, 3, 17)]
    [InlineData(new long[] { 2, 5, 7, 9 }, 2, 5, 7, 9)]
    [InlineData(new long[] { 1, 1, 1, 9 }, 1, 5, 4, 9)]
    [InlineData(new long[] { 1, 1, 6, 1 }, 1, 3, 6, 11)]
    [InlineData(new long[] { 1, 16, 18, 32 }, 1, 16, 18, 32)]
    public void Fused_ops_match_onnx_runtimes_standard_ops(long[] stateShape, int n, int c, int height, int width)
    {
        var glue = Glue(stateShape, c);
        var fused = Fused(glue, out int count);
        Assert.Equal(1, count);
        var r = new Random(c * 100 + width);
        float[] Values(long length, double scale) => Enumerable.Range(0, (int)length).Select(i => i % 13 == 7 ? 0f : (float)((r.NextDouble() * 2 - 1) * scale)).ToArray();
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(Values((long)n * c * height * width, 2), [n, c, height, width])),
            NamedOnnxValue.CreateFromTensor("h", new DenseTensor<float>(Values(stateShape.Aggregate(1L, (a, d) => a * d), 3), stateShape.Select(d => (int)d).ToArray())),
            NamedOnnxValue.CreateFromTensor("g", new DenseTensor<float>(Values((long)n * 2 * c * height * width, 10), [n, 2 * c, height, width])),
            NamedOnnxValue.CreateFromTensor("c", new DenseTensor<float>(Values((long)n * c * height * width, 10), [n, c, height, width])),
        };

        Dictionary<string, float[]> Run(ModelProto model, int threads)
        {
            using var options = new SessionOptions { IntraOpNumThreads = threads, GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
            BiVMOps.Register(options);
            using var session = new InferenceSession(model.ToByteArray(), options);
            using var results = session.Run(inputs);
            return results.ToDictionary(v => v.Name, v => v.AsTensor<float>().ToArray());
        }

        var expected = Run(glue, 1);
        Assert.Equal(n * 2 * c * height * width, expected["cat_hh"].Length);
        foreach (int threads in new[] { 1, 2 })
        {
            var actual = Run(fused, threads);
            long plane = (long)height * width;
            foreach (var name in new[] { "cat_ih", "cat_hh", "h_next" })
            {
                var (e, a) = (expected[name], actual[name]);
                Assert.Equal(e.Length, a.Length);
                for (int i = 0; i < e.Length; i++)
                {
                    // cat_ih is a copy, and so are cat_hh's first C channels (x): exact everywhere.
                    bool exact = ConvGru.VectorPath || name == "cat_ih" || name == "cat_hh" && i / plane % (2 * c) < c;
                    Assert.True(exact ? BitConverter.SingleToInt32Bits(e[i]) == BitConverter.SingleToInt32Bits(a[i]) : Math.Abs(e[i] - a[i]) <= NoFmaTolerance,
                        $"{name}[{i}] ({threads} threads, state {string.Join("×", stateShape)}): standard {e[i]:R}, fused {a[i]:R}");
                }
            }
        }
    }

    /// <summary>
    /// σ and tanh themselves against ONNX Runtime's Sigmoid and Tanh nodes on a dense sweep of [−20, 20], small
    /// magnitudes and the clamp ends: bit for bit where MLAS runs its FMA3 kernels (an ORT that changed them fails here).
    /// </summary>
    [Fact]
    public void Sigmoid_and_tanh_are_onnx_runtimes_bit_for_bit()
    {
        var x = Enumerable.Range(-40000, 80001).Select(i => i / 2000f)
            .Concat(Enumerable.Range(1, 2000).SelectMany(i => new[] { i * 1e-7f, -i * 3e-6f }))
            .Concat([-18f, 18f, -9f, 9f, -18.5f, 9.25f, 0f, -0f, 88f, -88f]).ToArray();
        foreach (var (op, spec) in new (string, Func<float, float>)[] { ("Sigmoid", ConvGru.Sigmoid), ("Tanh", ConvGru.Tanh) })
        {
            var g = new OnnxGraphBuilder(op);
            g.Input("x", F32, x.Length);
            g.Node(op, ["x"], ["y"]);
            g.Output("y", F32, x.Length);
            using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL, IntraOpNumThreads = 1 };
            using var session = new InferenceSession(g.ToBytes(), options);
            using var results = session.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(x, [x.Length]))]);
            var ort = results.First().AsTensor<float>().ToArray();
            var mine = new float[x.Length];
            unsafe
            {
                fixed (float* px = x) fixed (float* py = mine)
                    if (op == "Sigmoid") ConvGru.Sigmoid(px, py, x.Length, ConvGru.BestLanes);
                    else for (int i = 0; i < x.Length; i++) py[i] = spec(px[i]);
            }
            for (int i = 0; i < x.Length; i++)
                Assert.True(ConvGru.VectorPath ? BitConverter.SingleToInt32Bits(ort[i]) == BitConverter.SingleToInt32Bits(mine[i]) : Math.Abs(ort[i] - mine[i]) <= NoFmaTolerance,
                    $"{op}({x[i]:R}): ONNX Runtime {ort[i]:R}, ours {mine[i]:R}");
        }
    }

    [Fact]
    public void A_state_that_does_not_broadcast_is_reported_in_one_line()
    {
        var fused = Fused(Glue([1, 1, 1, 1], 2), out _);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        using var session = new InferenceSession(fused.ToByteArray(), options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => session.Run([
            NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(new float[2 * 3 * 4], [1, 2, 3, 4])),
            NamedOnnxValue.CreateFromTensor("h", new DenseTensor<float>(new float[3], [1, 3, 1, 1])),
            NamedOnnxValue.CreateFromTensor("g", new DenseTensor<float>(new float[4 * 3 * 4], [1, 4, 3, 4])),
            NamedOnnxValue.CreateFromTensor("c", new DenseTensor<float>(new float[2 * 3 * 4], [1, 2, 3, 4]))]));
        Assert.Contains("State [1, 3, 1, 1] must broadcast to X's shape [1, 2, 3, 4]: dim 1 is 3, neither 1 nor 2", e.Message);
        Assert.DoesNotContain('\n', e.Message.Trim());
    }
}
