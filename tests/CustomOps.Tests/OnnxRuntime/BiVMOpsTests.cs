using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.CustomOps.SparseBinaryConv2d;
using Microsoft.ML.OnnxRuntime;
using Xunit.Abstractions;

namespace BiVM.CustomOps.Tests.OnnxRuntime;

public class BiVMOpsTests(ITestOutputHelper output)
{
    public static TheoryData<string> SupportedKernels() => new(KernelSelector.SupportedNames);

    private static readonly BinaryConv2dParams[] OrtShapes =
    [
        BinaryConv2dParams.Square(1, 17, 9, 11, 6, 3),
        BinaryConv2dParams.Square(2, 65, 7, 10, 9, 3, stride: 2),
        BinaryConv2dParams.Square(1, 130, 6, 9, 5, 3, dilation: 2),
        BinaryConv2dParams.Square(1, 64, 5, 7, 8, 1),
        BinaryConv2dParams.Square(1, 3, 8, 8, 4, 3, stride: 2, pad: 0),
    ];

    [Theory]
    [MemberData(nameof(SupportedKernels))]
    public void Custom_op_equals_lowered_graph_exactly(string kernel)
    {
        foreach (var (p, i) in OrtShapes.Select((p, i) => (p, i)))
        {
            var c = new ConvCase(p, 40 + i, withBias: i % 2 == 1);
            using var custom = OneNodeModels.Session(OneNodeModels.Custom(c), kernel);
            // The oracle runs unoptimized: ORT_ENABLE_ALL would fold alpha into the conv weights and round differently.
            using var lowered = OneNodeModels.Session(OneNodeModels.Lowered(c), level: GraphOptimizationLevel.ORT_DISABLE_ALL);
            var yc = OneNodeModels.Run(custom, c.X, OneNodeModels.XShape(c));
            var yl = OneNodeModels.Run(lowered, c.X, OneNodeModels.XShape(c));
            Assert.Equal(yl, yc);
            Assert.Equal(c.Expected(c.OracleDots()), yc);
        }
        output.WriteLine($"kernel {kernel}: custom op == lowered graph on {OrtShapes.Length} shapes");
    }

    [Fact]
    public void Custom_op_equals_optimized_lowered_graph_up_to_rounding_of_the_scale()
    {
        var c = new ConvCase(BinaryConv2dParams.Square(1, 64, 12, 14, 16, 3), 3);
        using var custom = OneNodeModels.Session(OneNodeModels.Custom(c), threads: 2);
        using var lowered = OneNodeModels.Session(OneNodeModels.Lowered(c), threads: 2);
        var yc = OneNodeModels.Run(custom, c.X, OneNodeModels.XShape(c));
        var yl = OneNodeModels.Run(lowered, c.X, OneNodeModels.XShape(c));
        for (int i = 0; i < yc.Length; i++)
            Assert.True(Math.Abs(yc[i] - yl[i]) <= 1e-5f * (1 + Math.Abs(yl[i])), $"y[{i}] {yc[i]} vs {yl[i]}");
    }

    [Fact]
    public void Dynamic_sizes_run_in_one_session_and_output_dims_stay_symbolic()
    {
        var c = new ConvCase(BinaryConv2dParams.Square(1, 20, 6, 6, 4, 3), 9);
        using var session = OneNodeModels.Session(OneNodeModels.Custom(c));
        var meta = session.OutputMetadata["Y"];
        Assert.Equal(new[] { -1, 4, -1, -1 }, meta.Dimensions);
        foreach (var (n, h, w) in new[] { (1, 6, 6), (2, 9, 13), (1, 1, 17) })
        {
            var ci = new ConvCase(c.P.WithInput(n, h, w), 9);
            var y = OneNodeModels.Run(session, ci.X, OneNodeModels.XShape(ci));
            Assert.Equal(ci.Expected(ci.OracleDots()), y);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void Sparse_op_equals_lowered_masked_graph(int scale)
    {
        var p = BinaryConv2dParams.Square(2, 33, 13, 18, 6, 3);
        var c = new ConvCase(p, scale);
        var (mh, mw) = MaskGeometry.MaskSize(p.OutHeight, p.OutWidth, scale);
        var rng = new Random(scale);
        var mask = Enumerable.Range(0, p.Batch * mh * mw).Select(_ => (byte)rng.Next(2)).ToArray();
        int[] maskShape = [p.Batch, 1, mh, mw];
        using var custom = OneNodeModels.Session(OneNodeModels.Custom(c, scale), threads: 2);
        using var lowered = OneNodeModels.Session(OneNodeModels.Lowered(c, scale), level: GraphOptimizationLevel.ORT_DISABLE_ALL);
        var yc = OneNodeModels.Run(custom, c.X, OneNodeModels.XShape(c), mask, maskShape);
        var yl = OneNodeModels.Run(lowered, c.X, OneNodeModels.XShape(c), mask, maskShape);
        Assert.Equal(yl, yc);
        Assert.Contains(yc, v => v == 0f);
        Assert.Contains(yc, v => v != 0f);
    }

    [Fact]
    public void Sparse_op_accepts_a_bool_mask()
    {
        var p = BinaryConv2dParams.Square(1, 8, 6, 6, 4, 3);
        var c = new ConvCase(p, 1);
        using var session = OneNodeModels.Session(OneNodeModels.Custom(c, 2, Onnx.TensorProto.Types.DataType.Bool));
        var mask = new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<bool>(new[] { true, false, false, true, false, false, false, false, true }, [1, 1, 3, 3]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("X", new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>(c.X, OneNodeModels.XShape(c))),
            NamedOnnxValue.CreateFromTensor("Mask", mask)]);
        var y = results.First().AsTensor<float>().ToArray();
        var dense = c.Expected(c.OracleDots());
        for (int i = 0; i < y.Length; i++)
        {
            int x = i % 6, yy = i / 6 % 6;
            bool on = mask[0, 0, yy / 2, x / 2];
            Assert.Equal(on ? dense[i] : 0f, y[i]);
        }
    }

    [Fact]
    public void Eight_threads_calling_Run_on_one_session_agree()
    {
        var c = new ConvCase(BinaryConv2dParams.Square(2, 64, 16, 20, 32, 3), 17);
        using var session = OneNodeModels.Session(OneNodeModels.Custom(c), threads: 2);
        var expected = OneNodeModels.Run(session, c.X, OneNodeModels.XShape(c));
        var results = new float[8][];
        var threads = Enumerable.Range(0, 8).Select(t => new Thread(() =>
        {
            for (int r = 0; r < 5; r++) results[t] = OneNodeModels.Run(session, c.X, OneNodeModels.XShape(c));
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.All(results, r => Assert.Equal(expected, r));
        Assert.Equal(c.Expected(c.OracleDots()), expected);
    }

    [Fact]
    public void A_session_of_one_thread_runs_the_work_items_as_a_loop_not_through_ParallelFor()
    {
        // 64 → 32 channels, 3×3 on 16×20: the op packs and computes rows in sections of 16–20 items.
        var c = new ConvCase(BinaryConv2dParams.Square(1, 64, 16, 20, 32, 3), 5);
        var model = OneNodeModels.Custom(c);
        var expected = c.Expected(c.OracleDots());
        using var one = OneNodeModels.Session(model, threads: 1);
        using var two = OneNodeModels.Session(model, threads: 2);
        using var lateOptions = new SessionOptions();
        BiVMOps.Register(lateOptions);
        lateOptions.IntraOpNumThreads = 1; // after registering: ONNX Runtime runs one thread, the ops were not told
        using var late = new InferenceSession(model, lateOptions);

        int before = OrtParallelRunner.PoolSections; // this thread's: ORT runs each node on the thread that calls Run
        Assert.Equal(expected, OneNodeModels.Run(one, c.X, OneNodeModels.XShape(c)));
        Assert.Equal(before, OrtParallelRunner.PoolSections);
        Assert.Equal(expected, OneNodeModels.Run(two, c.X, OneNodeModels.XShape(c)));
        int afterTwo = OrtParallelRunner.PoolSections;
        Assert.True(afterTwo > before, "a session of two threads hands its sections to ParallelFor");
        Assert.Equal(expected, OneNodeModels.Run(late, c.X, OneNodeModels.XShape(c)));
        Assert.True(OrtParallelRunner.PoolSections > afterTwo, "a thread count set after registering does not reach the ops");
    }

    [Fact]
    public void Chunks_of_a_section_cover_every_item_once_in_order_and_differ_by_at_most_one()
    {
        foreach (int count in new[] { 1, 2, 7, 16, 17, 100, 1081 })
            for (int chunks = 1; chunks <= Math.Min(count, 40); chunks++)
            {
                int next = 0;
                var sizes = new List<int>();
                for (int c = 0; c < chunks; c++)
                {
                    var (start, end) = OrtParallelRunner.Chunk(count, chunks, c);
                    Assert.Equal(next, start);
                    sizes.Add(end - start);
                    next = end;
                }
                Assert.Equal(count, next);
                Assert.True(sizes.Max() - sizes.Min() <= 1, $"{count} items in {chunks} chunks: sizes {string.Join(",", sizes)}");
            }
    }

    [Fact]
    public void Registration_is_idempotent_and_serves_many_sessions()
    {
        var c = new ConvCase(BinaryConv2dParams.Square(1, 5, 4, 4, 2, 3), 2);
        var model = OneNodeModels.Custom(c);
        var expected = c.Expected(c.OracleDots());
        for (int i = 0; i < 5; i++)
        {
            using var options = new SessionOptions();
            BiVMOps.Register(options);
            BiVMOps.Register(options);
            using var a = new InferenceSession(model, options);
            using var b = new InferenceSession(model, options);
            Assert.Equal(expected, OneNodeModels.Run(a, c.X, OneNodeModels.XShape(c)));
            Assert.Equal(expected, OneNodeModels.Run(b, c.X, OneNodeModels.XShape(c)));
        }
    }

    [Fact]
    public void Sessions_created_at_once_on_many_threads_all_load()
    {
        // ONNX Runtime enters the domain in ONNX's global domain map with an unsynchronized find-then-add at session
        // creation; two at once used to fail the second ("… the domain is already exist … ai.bivm") until one had
        // finished. Registration now creates the first session itself (BiVMOps.PublishOnce). Where this test runs
        // first in its process it is the race itself; later it checks that concurrent creation stays sound.
        var c = new ConvCase(BinaryConv2dParams.Square(1, 5, 4, 4, 2, 3), 3);
        var model = OneNodeModels.Custom(c);
        var expected = c.Expected(c.OracleDots());
        using var start = new Barrier(8);
        var results = new float[8][];
        var errors = new Exception?[8]; // an exception escaping a thread would end the test host, not fail the test
        var threads = Enumerable.Range(0, 8).Select(t => new Thread(() =>
        {
            try
            {
                using var options = new SessionOptions();
                BiVMOps.Register(options, t % 2 == 0 ? null : "portable");
                start.SignalAndWait();
                using var session = new InferenceSession(model, options);
                results[t] = OneNodeModels.Run(session, c.X, OneNodeModels.XShape(c));
            }
            catch (Exception e)
            {
                errors[t] = e;
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.All(errors, e => Assert.Null(e));
        Assert.All(results, r => Assert.Equal(expected, r));
    }

    [Fact]
    public void Forcing_an_unknown_kernel_fails_at_registration()
    {
        using var options = new SessionOptions();
        Assert.Throws<ArgumentException>(() => BiVMOps.Register(options, "mmx"));
    }

    [Fact]
    public void SelfTest_names_the_selected_kernel()
    {
        var text = BiVMOps.SelfTest();
        output.WriteLine(text);
        Assert.Contains($"kernel {KernelSelector.SupportedNames[0]}", text);
        Assert.Contains("ai.bivm", text);
    }
}
