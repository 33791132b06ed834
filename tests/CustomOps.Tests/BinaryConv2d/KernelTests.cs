using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.BitPacking;
using Xunit.Abstractions;

namespace BiVM.CustomOps.Tests.BinaryConv2d;

/// <summary>Every kernel of the selection table against the reference and the float oracle.</summary>
public class KernelTests(ITestOutputHelper output)
{
    public static TheoryData<string> AllKernels() => new(KernelSelector.AllNames);

    [Theory]
    [MemberData(nameof(AllKernels))]
    public void Kernel_is_bit_exact_on_every_shape_or_reported_unsupported(string kernel)
    {
        if (!KernelSelector.SupportedNames.Contains(kernel))
        {
            // Not a silent pass: the CPU really lacks it, and forcing it is refused.
            var p = ConvCase.Shapes().First();
            var e = Assert.Throws<NotSupportedException>(() => new ConvCase(p, 0).Prepare(kernel));
            output.WriteLine($"kernel {kernel}: NOT exercised, unsupported on this CPU ({e.Message})");
            return;
        }
        int shapes = 0;
        foreach (var (p, i) in ConvCase.Shapes().Select((p, i) => (p, i)))
        {
            var c = new ConvCase(p, seed: 100 + i, withBias: i % 2 == 0);
            var packed = ActivationPacker.Pack(c.X, c.Tau, p.Batch, p.InChannels, p.InHeight, p.InWidth);
            var reference = ReferenceBinaryConv2d.Run(p, packed, c.PackedWeights);
            Assert.Equal(c.OracleDots(), reference);
            using var conv = c.Prepare(kernel);
            Assert.Equal(kernel, conv.KernelName);
            var y = new float[p.Batch * p.OutChannels * p.OutHeight * p.OutWidth];
            conv.Run(c.X, p.Batch, p.InHeight, p.InWidth, y, ParallelRunners.Threads(2));
            var expected = c.Expected(reference);
            for (int j = 0; j < y.Length; j++)
                Assert.True(expected[j] == y[j], $"{kernel} {c}: y[{j}] = {y[j]}, expected {expected[j]}");
            shapes++;
        }
        output.WriteLine($"kernel {kernel}: exercised on {shapes} shapes, bit-exact");
    }

    [Fact]
    public void One_word_1x1_layers_take_the_pointwise_path_with_the_AVX2_kernels_only()
    {
        // So the shapes above exercise it: a 1×1 layer with Cin ≤ 64, stride 1 and no padding.
        var pointwise = BinaryConv2dParams.Square(2, 35, 3, 29, 6, 1);
        Assert.Contains(ConvCase.Shapes(), p => p == pointwise);
        foreach (var kernel in KernelSelector.SupportedNames)
        {
            using var conv = new ConvCase(pointwise, 1).Prepare(kernel);
            Assert.Equal(kernel.StartsWith("avx2", StringComparison.Ordinal), conv.UsesPointwise);
            using var general = new ConvCase(BinaryConv2dParams.Square(1, 65, 3, 9, 4, 1), 1).Prepare(kernel); // two words
            Assert.False(general.UsesPointwise);
        }
        if (!KernelSelector.SupportedNames.Contains("avx2")) output.WriteLine("the pointwise path is NOT exercised: no AVX2 on this CPU");
    }

    [Fact]
    public void Integer_part_is_exact_with_unit_scale()
    {
        // alpha = 1, bias = 0 exposes the integer dot itself for each supported kernel.
        foreach (var kernel in KernelSelector.SupportedNames)
            foreach (var p in ConvCase.Shapes())
            {
                var c = new ConvCase(p, seed: 7, withBias: false);
                Array.Fill(c.Alpha, 1f);
                using var conv = c.Prepare(kernel);
                var y = new float[p.Batch * p.OutChannels * p.OutHeight * p.OutWidth];
                conv.Run(c.X, p.Batch, p.InHeight, p.InWidth, y);
                Assert.Equal(c.OracleDots(), y.Select(v => (int)v).ToArray());
                Assert.All(y, v => Assert.Equal(MathF.Round(v), v));
            }
    }

    [Fact]
    public void Exercised_kernels_are_exactly_the_supported_ones()
    {
        var exercised = new List<string>();
        var p = BinaryConv2dParams.Square(1, 65, 6, 11, 5, 3, stride: 2);
        var c = new ConvCase(p, 1);
        var packed = ActivationPacker.Pack(c.X, c.Tau, 1, p.InChannels, p.InHeight, p.InWidth);
        var expected = c.Expected(ReferenceBinaryConv2d.Run(p, packed, c.PackedWeights));
        foreach (var name in KernelSelector.AllNames)
        {
            try
            {
                using var conv = c.Prepare(name);
                var y = new float[expected.Length];
                conv.Run(c.X, 1, p.InHeight, p.InWidth, y);
                Assert.Equal(expected, y);
                exercised.Add(conv.KernelName);
            }
            catch (NotSupportedException) { }
        }
        output.WriteLine($"exercised: {string.Join(", ", exercised)}; not supported here: {string.Join(", ", KernelSelector.AllNames.Except(exercised))}");
        Assert.Equal(KernelSelector.SupportedNames, exercised);
        Assert.Contains("portable", exercised);
        Assert.Equal(System.Runtime.Intrinsics.X86.Avx2.IsSupported, exercised.Contains("avx2"));
        Assert.Equal(System.Runtime.Intrinsics.X86.Avx512BW.IsSupported, exercised.Contains("avx512bw"));
    }

    [Fact]
    public void Default_selection_is_the_first_supported_row_and_unknown_names_are_refused()
    {
        var p = BinaryConv2dParams.Square(1, 8, 4, 4, 4, 3);
        Assert.Equal(KernelSelector.SupportedNames[0], KernelSelector.SelectedName(p));
        var e = Assert.Throws<ArgumentException>(() => KernelSelector.SelectedName(p, "sse9"));
        Assert.Contains("unknown binary kernel 'sse9'", e.Message);
    }

    [Fact]
    public void Concurrent_runs_on_one_prepared_layer_agree()
    {
        var p = BinaryConv2dParams.Square(2, 64, 9, 23, 16, 3);
        var c = new ConvCase(p, 5);
        using var conv = c.Prepare();
        var first = new float[p.Batch * p.OutChannels * p.OutHeight * p.OutWidth];
        conv.Run(c.X, p.Batch, p.InHeight, p.InWidth, first);
        var results = new float[8][];
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, t =>
        {
            results[t] = new float[first.Length];
            for (int r = 0; r < 3; r++) conv.Run(c.X, p.Batch, p.InHeight, p.InWidth, results[t], ParallelRunners.Threads(2));
        });
        Assert.All(results, r => Assert.Equal(first, r));
    }
}
