using BiVM.Contracts;
using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.CustomOps.Stem;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using Xunit.Abstractions;

namespace BiVM.CustomOps.Tests.Stem;

/// <summary>
/// The stem (<c>ai.bivm:Stem</c>): the convolution's row paths (16, 8 and 1 lanes, each this CPU runs) against the
/// one-output specification bit for bit, the specification against a float64 oracle, the activation's paths bit for bit
/// (±0, NaN, infinities, the clamp's corners), and the ONNX node against ONNX Runtime running the standard nodes it
/// replaces (Sub, Div, Conv, InstanceNormalization, HardSwish, AveragePool): Y and Pooled within float rounding, its
/// packed bits its own Y's and ONNX Runtime's except where Y lies within rounding of τ; at 1 and 2 threads, even and
/// odd sizes, both pool modes; the refusals in one line.
/// </summary>
public sealed unsafe class StemTests(ITestOutputHelper log)
{
    private static float[] Random(int n, int seed, float scale = 1f, float offset = 0f)
    {
        var r = new Random(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = offset + (float)(r.NextDouble() * 2 - 1) * scale;
        return v;
    }

    private int[] LanesThisCpuRuns()
    {
        int[] all = [16, 8, 1];
        var runs = all.Where(StemConvolution.Runs).ToArray();
        log.WriteLine($"lanes tested: {string.Join(", ", runs)}{(runs.Length < all.Length ? $"; this CPU could not run {string.Join(", ", all.Except(runs))}" : "")}");
        return runs;
    }

    [Theory]
    [InlineData(3, 16, 288, 512)]
    [InlineData(3, 16, 9, 33)]   // odd sides: the last column's right tap is padding; a width not a multiple of the lanes
    [InlineData(3, 8, 6, 180)]   // 90 outputs a row: the 512-bit path's four steps of 16, the second block's moved back to end at the last
    [InlineData(1, 6, 5, 70)]    // channels not a multiple of four: the last two by the one-channel loop
    [InlineData(5, 4, 2, 17)]    // two input rows: every output row has a padded tap row
    [InlineData(3, 8, 7, 3)]     // outputs narrower than a vector: scalar steps only
    [InlineData(2, 3, 1, 1)]     // one pixel
    public void Every_row_path_gives_the_specifications_bits(int cin, int channels, int height, int width)
    {
        var x = Random(cin * height * width, height * 31 + width, 3f, 100f);
        var mean = Random(cin, 1, 20f, 110f);
        var std = Random(cin, 2, 10f, 60f);
        var w = Random(channels * cin * 9, 3, 0.5f);
        var bias = Random(channels, 4, 0.1f);
        int oh = StemConvolution.OutputLength(height), ow = StemConvolution.OutputLength(width);
        long plane = (long)oh * ow;
        var expected = new float[channels * plane];
        fixed (float* px = x, pm = mean, ps = std, pw = w, pb = bias, pe = expected)
        {
            for (int c = 0; c < channels; c++)
                for (int i = 0; i < oh; i++)
                    for (int j = 0; j < ow; j++)
                        pe[c * plane + i * ow + j] = StemConvolution.One(px, cin, height, width, pm, ps, pw + c * cin * 9, pb[c], i, j);
            foreach (int lanes in LanesThisCpuRuns())
            {
                var actual = new float[channels * plane];
                var scratch = new float[StemConvolution.ScratchFloats(cin, ow) + 64];
                fixed (float* pa = actual, sc = scratch)
                    for (int i = 0; i < oh; i++)
                        StemConvolution.Row(px, cin, height, width, pm, ps, pw, pb, channels, i, pa, plane, sc, lanes);
                for (int k = 0; k < expected.Length; k++)
                    Assert.True(BitConverter.SingleToInt32Bits(expected[k]) == BitConverter.SingleToInt32Bits(actual[k]),
                        $"{lanes} lanes, {cin}→{channels} {height}×{width}: output {k} is {actual[k]:R}, the specification's {expected[k]:R}");
            }
        }
    }

    [Fact]
    public void The_specification_is_the_convolution_of_the_normalized_input()
    {
        // A float64 oracle written from the definition: (x − mean) / std, zero padding, Σ x̃·w + b.
        int cin = 3, height = 11, width = 14;
        var x = Random(cin * height * width, 9, 1f, 0.5f);
        float[] mean = [0.485f, 0.456f, 0.406f], std = [0.229f, 0.224f, 0.225f];
        var w = Random(cin * 9, 10, 0.7f);
        fixed (float* px = x, pm = mean, ps = std, pw = w)
            for (int i = 0; i < StemConvolution.OutputLength(height); i++)
                for (int j = 0; j < StemConvolution.OutputLength(width); j++)
                {
                    double sum = 0.25;
                    for (int ic = 0; ic < cin; ic++)
                        for (int kh = 0; kh < 3; kh++)
                            for (int kw = 0; kw < 3; kw++)
                            {
                                int r = 2 * i - 1 + kh, col = 2 * j - 1 + kw;
                                if (r >= 0 && r < height && col >= 0 && col < width)
                                    sum += (x[(ic * height + r) * width + col] - (double)mean[ic]) / std[ic] * w[(ic * 3 + kh) * 3 + kw];
                            }
                    Assert.Equal(sum, StemConvolution.One(px, cin, height, width, pm, ps, pw, 0.25f, i, j), 1e-4);
                }
    }

    [Fact]
    public void Every_activation_path_gives_the_specifications_bits()
    {
        float[] special = [0f, -0f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, 3f, -3f, 2.9999998f, -3.0000002f, 1e-40f, 6f, -6f];
        var v = special.Concat(Random(1000, 12, 8f)).ToArray();
        foreach (var (a, b) in new[] { (1f, 0f), (0.37f, -1.25f), (-2f, 0.5f) })
        {
            var expected = v.Select(value => StemConvolution.Activate(value, a, b)).ToArray();
            foreach (int lanes in LanesThisCpuRuns())
                foreach (int count in new[] { v.Length, 15, 7, 1 })
                {
                    var actual = v.ToArray();
                    fixed (float* p = actual) StemConvolution.ActivateRow(p, count, a, b, lanes);
                    for (int k = 0; k < count; k++)
                        Assert.True(BitConverter.SingleToInt32Bits(expected[k]) == BitConverter.SingleToInt32Bits(actual[k]),
                            $"{lanes} lanes, a {a}, b {b}: value {v[k]:R} gives {actual[k]:R}, the specification {expected[k]:R}");
                }
        }
        // HardSwish's corners: 0 at and below −3, the identity at and above 3, n·(n/6 + ½) between.
        Assert.Equal(0f, StemConvolution.Activate(-3f, 1f, 0f));
        Assert.Equal(0f, StemConvolution.Activate(-7f, 1f, 0f));
        Assert.Equal(3f, StemConvolution.Activate(3f, 1f, 0f));
        Assert.Equal(7f, StemConvolution.Activate(7f, 1f, 0f));
        Assert.Equal(1f * (1f / 6f + 0.5f), StemConvolution.Activate(1f, 1f, 0f));
    }

    private sealed record Outputs(float[]? Y, ulong[]? Packed, float[]? Pooled, float[]? XPooled = null);

    private sealed record StemCase(int Cin, int Channels, int Height, int Width, bool Ceil, int Seed, int Batch = 1)
    {
        public float[] X => Random(Batch * Cin * Height * Width, Seed, 0.5f, 0.5f);
        public float[] Mean => Random(Cin, Seed + 1, 0.05f, 0.45f);
        public float[] Std => Random(Cin, Seed + 2, 0.02f, 0.23f);
        public float[] W => Random(Channels * Cin * 9, Seed + 3, 0.4f);
        public float[] B => Random(Channels, Seed + 4, 0.2f);
        public float[] Scale => Random(Channels, Seed + 5, 0.5f, 1f);
        public float[] Shift => Random(Channels, Seed + 6, 0.5f);
        public float[] Tau => Random(Channels, Seed + 7, 0.3f);
        public int OutHeight => StemConvolution.OutputLength(Height);
        public int OutWidth => StemConvolution.OutputLength(Width);
        public int PoolHeight => Ceil ? (OutHeight + 1) / 2 : OutHeight / 2;
        public int PoolWidth => Ceil ? (OutWidth + 1) / 2 : OutWidth / 2;
        public int InputPoolHeight => Ceil ? (Height + 1) / 2 : Height / 2;
        public int InputPoolWidth => Ceil ? (Width + 1) / 2 : Width / 2;
    }

    /// <summary>
    /// The stem as one model: fused (<c>ai.bivm:Stem</c> writing the outputs <paramref name="wanted"/> names) or as
    /// ONNX Runtime's standard nodes (Y, Pooled and XPooled only: the bits are taken from them by the test). XPooled, X's
    /// own pool, takes the case's ceil mode too.
    /// </summary>
    private static Outputs Run(StemCase s, bool fused, int threads, string wanted = "y,packed,pooled", float[]? x = null)
    {
        var g = new OnnxGraphBuilder("stem");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, s.Batch, s.Cin, s.Height, s.Width);
        string mean = g.Initializer(Tensors.Float("mean", s.Mean, 1, s.Cin, 1, 1)), std = g.Initializer(Tensors.Float("std", s.Std, 1, s.Cin, 1, 1));
        string w = g.Initializer(Tensors.Float("w", s.W, s.Channels, s.Cin, 3, 3)), b = g.Initializer(Tensors.Float("b", s.B, s.Channels));
        string scale = g.Initializer(Tensors.Float("scale", s.Scale, s.Channels)), shift = g.Initializer(Tensors.Float("shift", s.Shift, s.Channels));
        bool y = wanted.Contains("y"), packed = fused && wanted.Contains("packed"), pooled = wanted.Split(',').Contains("pooled"), xPooled = wanted.Contains("xpooled");
        if (fused)
        {
            var node = g.Node(BinaryConvSchema.Stem, ["X", mean, std, w, b, scale, shift], ["Y", "YPacked", "Pooled", "XPooled"], "stem", BinaryConvSchema.Domain)
                .Attribute(BinaryConvSchema.StemEpsilon, 1e-5f).Attribute(BinaryConvSchema.PoolCeilMode, s.Ceil ? 1L : 0L)
                .Attribute(BinaryConvSchema.PoolRowOrder, AveragePoolFusion.RowOrder(s.Channels) == true ? 1L : 0L)
                .Attribute(BinaryConvSchema.StemInputCeilMode, s.Ceil ? 1L : 0L)
                .Attribute(BinaryConvSchema.StemInputRowOrder, AveragePoolFusion.RowOrder(s.Cin) == true ? 1L : 0L);
            if (packed) node.Attribute(BinaryConvSchema.TauNext, s.Tau);
            // Outputs not wanted are the empty name (the builder names every output it is given).
            (node.Proto.Output[0], node.Proto.Output[1], node.Proto.Output[2], node.Proto.Output[3]) =
                (y ? "Y" : "", packed ? "YPacked" : "", pooled ? "Pooled" : "", xPooled ? "XPooled" : "");
        }
        else
        {
            g.Node("Sub", ["X", mean], ["sub"]);
            g.Node("Div", ["sub", std], ["div"]);
            g.Node("Conv", ["div", w, b], ["conv"]).Attribute("kernel_shape", 3L, 3L).Attribute("strides", 2L, 2L).Attribute("pads", 1L, 1L, 1L, 1L);
            g.Node("InstanceNormalization", ["conv", scale, shift], ["norm"]).Attribute("epsilon", 1e-5f);
            g.Node("HardSwish", ["norm"], ["Y"]);
            g.Node("AveragePool", ["Y"], ["Pooled"]).Attribute("kernel_shape", 2L, 2L).Attribute("strides", 2L, 2L)
                .Attribute("ceil_mode", s.Ceil ? 1L : 0L).Attribute("count_include_pad", 0L);
            g.Node("AveragePool", ["X"], ["XPooled"]).Attribute("kernel_shape", 2L, 2L).Attribute("strides", 2L, 2L)
                .Attribute("ceil_mode", s.Ceil ? 1L : 0L).Attribute("count_include_pad", 0L);
        }
        if (y) g.Output("Y", TensorProto.Types.DataType.Float, s.Batch, s.Channels, s.OutHeight, s.OutWidth);
        if (packed) g.Output("YPacked", TensorProto.Types.DataType.Uint64, s.Batch, s.OutHeight, s.OutWidth, PackedLayout.WordsFor(s.Channels));
        if (pooled) g.Output("Pooled", TensorProto.Types.DataType.Float, s.Batch, s.Channels, s.PoolHeight, s.PoolWidth);
        if (xPooled) g.Output("XPooled", TensorProto.Types.DataType.Float, s.Batch, s.Cin, s.InputPoolHeight, s.InputPoolWidth);
        using var options = new SessionOptions { IntraOpNumThreads = threads };
        BiVMOps.Register(options);
        using var session = new InferenceSession(g.ToBytes(), options);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x ?? s.X, [s.Batch, s.Cin, s.Height, s.Width]))]);
        T[]? Get<T>(string name) => results.FirstOrDefault(r => r.Name == name)?.AsTensor<T>().ToArray();
        return new Outputs(Get<float>("Y"), Get<ulong>("YPacked"), Get<float>("Pooled"), Get<float>("XPooled"));
    }

    public static TheoryData<int, int, int, int, bool, int> Cases => new()
    {
        { 3, 16, 288, 512, true, 1 },  // the shipped stem at 512×288
        { 3, 16, 288, 512, true, 2 },
        { 3, 16, 135, 241, true, 2 },  // odd sides: Y 68×121, pooled windows cut by the last row and column
        { 3, 16, 135, 241, false, 1 }, // floor mode drops them
        { 2, 6, 20, 37, true, 1 },     // channels not a multiple of four
        { 3, 70, 10, 12, true, 2 },    // two words a pixel
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_op_gives_the_standard_nodes_values_within_float_rounding(int cin, int channels, int height, int width, bool ceil, int threads)
    {
        var s = new StemCase(cin, channels, height, width, ceil, height + width + channels);
        var expected = Run(s, fused: false, threads);
        var actual = Run(s, fused: true, threads);
        AssertClose(expected.Y!, actual.Y!, "Y");
        AssertClose(expected.Pooled!, actual.Pooled!, "Pooled");
        // Pooled is ONNX Runtime's AveragePool of the op's own Y, bit for bit (its NCHWc order for 16 channels, its NCHW
        // order for 6 and 70).
        var pooledByOrt = OrtAveragePool(actual.Y!, s, threads);
        Assert.Equal(pooledByOrt.Select(BitConverter.SingleToInt32Bits), actual.Pooled!.Select(BitConverter.SingleToInt32Bits));
        // Its bits are its own Y's, packed by the binary convs' packer; ONNX Runtime's Y gives the same bits except where
        // the two Ys straddle τ within rounding.
        var tau = s.Tau;
        Assert.Equal(ActivationPacker.Pack(actual.Y!, tau, 1, channels, s.OutHeight, s.OutWidth), actual.Packed!);
        var reference = ActivationPacker.Pack(expected.Y!, tau, 1, channels, s.OutHeight, s.OutWidth);
        int words = PackedLayout.WordsFor(channels), flipped = 0;
        long plane = (long)s.OutHeight * s.OutWidth;
        for (long p = 0; p < plane; p++)
            for (int c = 0; c < channels; c++)
            {
                ulong bit = 1UL << (c % 64);
                long word = p * words + c / 64;
                if ((reference[word] & bit) == (actual.Packed![word] & bit)) continue;
                float v = expected.Y![c * plane + p];
                Assert.True(MathF.Abs(v - tau[c]) <= Tolerance(v), $"bit of channel {c} at pixel {p} differs, where ONNX Runtime's Y {v:R} is {MathF.Abs(v - tau[c]):E2} from τ {tau[c]:R}");
                flipped++;
            }
        float largest = expected.Y!.Zip(actual.Y!, (e, a) => MathF.Abs(e - a)).Max();
        log.WriteLine($"{cin}→{channels} {height}×{width}: largest |ΔY| {largest:E2}; {flipped} of {plane * channels} bits straddle τ within rounding");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void XPooled_is_onnx_runtimes_pool_of_x_bit_for_bit(int cin, int channels, int height, int width, bool ceil, int threads)
    {
        // The source pyramid's first level, taken in the convolution's pass: ONNX Runtime's AveragePool of X itself (its
        // NCHW order for 2 and 3 planes), with odd sides' windows cut by the last row and column (ceil) or dropped (floor);
        // the other outputs as without it.
        var s = new StemCase(cin, channels, height, width, ceil, height + width + channels + 5);
        var expected = Run(s, fused: false, threads, "y,xpooled");
        var actual = Run(s, fused: true, threads, "y,packed,pooled,xpooled");
        Assert.Equal(s.Cin * s.InputPoolHeight * s.InputPoolWidth, actual.XPooled!.Length);
        Assert.Equal(expected.XPooled!.Select(BitConverter.SingleToInt32Bits), actual.XPooled!.Select(BitConverter.SingleToInt32Bits));
        var without = Run(s, fused: true, threads);
        Assert.Equal(without.Y!.Select(BitConverter.SingleToInt32Bits), actual.Y!.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(without.Packed!, actual.Packed!);
        Assert.Equal(without.Pooled!.Select(BitConverter.SingleToInt32Bits), actual.Pooled!.Select(BitConverter.SingleToInt32Bits));
        var alone = Run(s, fused: true, threads, "xpooled");
        Assert.Equal(actual.XPooled!.Select(BitConverter.SingleToInt32Bits), alone.XPooled!.Select(BitConverter.SingleToInt32Bits));
    }

    /// <summary>ONNX Runtime's AveragePool of <paramref name="y"/> at its highest optimization level (NCHWc where it chooses).</summary>
    private static float[] OrtAveragePool(float[] y, StemCase s, int threads)
    {
        var g = new OnnxGraphBuilder("pool");
        g.Input("Y", TensorProto.Types.DataType.Float, 1, s.Channels, s.OutHeight, s.OutWidth);
        g.Node("AveragePool", ["Y"], ["Pooled"], "pool").Attribute("kernel_shape", 2L, 2L).Attribute("strides", 2L, 2L)
            .Attribute("ceil_mode", s.Ceil ? 1L : 0L).Attribute("count_include_pad", 0L);
        g.Output("Pooled", TensorProto.Types.DataType.Float, 1, s.Channels, s.PoolHeight, s.PoolWidth);
        using var options = new SessionOptions { IntraOpNumThreads = threads };
        using var session = new InferenceSession(g.ToBytes(), options);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("Y", new DenseTensor<float>(y, [1, s.Channels, s.OutHeight, s.OutWidth]))]);
        return results[0].AsTensor<float>().ToArray();
    }

    private static float Tolerance(float v) => 2e-5f * (1 + MathF.Abs(v));

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(MathF.Abs(expected[i] - actual[i]) <= Tolerance(expected[i]), $"{what}[{i}] is {actual[i]:R}, ONNX Runtime's {expected[i]:R}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void The_fused_graph_gives_the_standard_graphs_binary_conv_and_pool(int threads)
    {
        // The stem's standard nodes read by a binary 3×3 stride-2 conv and a 2×2 pool (the backbone's first block), as
        // built and after GlueFusion: the conv then reads the stem's bits. Its outputs are the same except where an input
        // pixel it reads straddles τ within rounding in the unfused graph (none in this case on the hosts measured).
        var s = new StemCase(3, 16, 72, 128, true, 21);
        int cout = 8;
        var signs = Random(cout * s.Channels * 9, 22).Select(v => v >= 0 ? 1f : -1f).ToArray();
        var g = new OnnxGraphBuilder("stem_block");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("src", TensorProto.Types.DataType.Float, 1, s.Cin, s.Height, s.Width);
        string mean = g.Initializer(Tensors.Float("mean", s.Mean, 1, s.Cin, 1, 1)), std = g.Initializer(Tensors.Float("std", s.Std, 1, s.Cin, 1, 1));
        string w = g.Initializer(Tensors.Float("w", s.W, s.Channels, s.Cin, 3, 3)), b = g.Initializer(Tensors.Float("b", s.B, s.Channels));
        string scale = g.Initializer(Tensors.Float("scale", s.Scale, s.Channels)), shift = g.Initializer(Tensors.Float("shift", s.Shift, s.Channels));
        g.Node("Sub", ["src", mean], ["sub"], "sub");
        g.Node("Div", ["sub", std], ["div"], "div");
        g.Node("Conv", ["div", w, b], ["conv"], "stem").Attribute("kernel_shape", 3L, 3L).Attribute("strides", 2L, 2L).Attribute("pads", 1L, 1L, 1L, 1L);
        g.Node("InstanceNormalization", ["conv", scale, shift], ["norm"], "norm").Attribute("epsilon", 1e-5f);
        g.Node("HardSwish", ["norm"], ["act"], "act");
        BinaryConvNodes.AddCustom(g, "conv3", "act", "conv3", WeightPacker.Pack(signs, cout, s.Channels, 3, 3), WeightPacker.PackedShape(cout, s.Channels, 3, 3),
            Random(cout, 23, 0.1f, 0.5f), s.Tau, Random(cout, 24), new BinaryConvAttributes([3, 3], [2, 2], [1, 1, 1, 1], [1, 1]));
        g.Node("AveragePool", ["act"], ["down2"], "down2").Attribute("kernel_shape", 2L, 2L).Attribute("strides", 2L, 2L).Attribute("ceil_mode", 1L).Attribute("count_include_pad", 0L);
        g.Output("conv3", TensorProto.Types.DataType.Float, 1, cout, 18, 32);
        g.Output("down2", TensorProto.Types.DataType.Float, 1, s.Channels, 18, 32);
        var model = ModelProto.Parser.ParseFrom(g.ToBytes());
        var fused = GlueFusion.Apply(model).Model;
        Assert.Equal([BinaryConvSchema.Stem, BinaryConvSchema.BinaryConv2d], fused.Graph.Node.Select(n => n.OpType));
        // The unfused graph also shows its act, to find the pixels that straddle τ.
        var exposed = model.Clone();
        exposed.Graph.Output.Add(new ValueInfoProto { Name = "act" });
        float[][] Outputs(ModelProto m)
        {
            using var options = new SessionOptions { IntraOpNumThreads = threads };
            BiVMOps.Register(options);
            using var session = new InferenceSession(Google.Protobuf.MessageExtensions.ToByteArray(m), options);
            using var results = session.Run([NamedOnnxValue.CreateFromTensor("src", new DenseTensor<float>(s.X, [1, s.Cin, s.Height, s.Width]))]);
            return results.Select(r => r.AsTensor<float>().ToArray()).ToArray();
        }
        var expected = Outputs(exposed);
        var actual = Outputs(fused);
        AssertClose(expected[1], actual[1], "down2");
        float[] act = expected[2], tau = s.Tau;
        int oh = s.OutHeight, ow = s.OutWidth, differing = 0;
        bool Straddles(int r, int c) => r >= 0 && r < oh && c >= 0 && c < ow
            && Enumerable.Range(0, s.Channels).Any(ch => MathF.Abs(act[(ch * oh + r) * ow + c] - tau[ch]) <= Tolerance(act[(ch * oh + r) * ow + c]));
        for (int k = 0; k < expected[0].Length; k++)
        {
            if (expected[0][k] == actual[0][k]) continue;
            int i = k / 32 % 18, j = k % 32;
            bool near = Enumerable.Range(2 * i - 1, 3).Any(r => Enumerable.Range(2 * j - 1, 3).Any(c => Straddles(r, c)));
            Assert.True(near, $"conv3 output {k} is {actual[0][k]:R}, the unfused graph's {expected[0][k]:R}, and no pixel it reads is within rounding of τ");
            differing++;
        }
        log.WriteLine($"{threads} thread(s): {differing} of {expected[0].Length} binary conv outputs differ (each reads a pixel within rounding of τ)");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Each_image_of_a_batch_is_the_image_alone(int threads)
    {
        // Two images in one batch (their planes, statistics and bits kept apart) against each run alone: bit for bit.
        var pair = new StemCase(3, 16, 30, 50, true, 31, Batch: 2);
        var both = Run(pair, fused: true, threads);
        var single = pair with { Batch = 1 };
        int inputs = 3 * 30 * 50, planes = 16 * single.OutHeight * single.OutWidth, words = single.OutHeight * single.OutWidth, pooled = 16 * single.PoolHeight * single.PoolWidth;
        for (int n = 0; n < 2; n++)
        {
            var alone = Run(single, fused: true, threads, x: pair.X[(n * inputs)..((n + 1) * inputs)]);
            Assert.Equal(alone.Y!.Select(BitConverter.SingleToInt32Bits), both.Y![(n * planes)..((n + 1) * planes)].Select(BitConverter.SingleToInt32Bits));
            Assert.Equal(alone.Packed!, both.Packed![(n * words)..((n + 1) * words)]);
            Assert.Equal(alone.Pooled!.Select(BitConverter.SingleToInt32Bits), both.Pooled![(n * pooled)..((n + 1) * pooled)].Select(BitConverter.SingleToInt32Bits));
        }
    }

    [Theory]
    [InlineData("packed")]
    [InlineData("pooled")]
    [InlineData("packed,pooled")]
    public void Without_y_the_other_outputs_are_the_same(string wanted)
    {
        var s = new StemCase(3, 16, 36, 64, true, 7);
        var all = Run(s, fused: true, threads: 2);
        var some = Run(s, fused: true, threads: 2, wanted);
        Assert.Null(some.Y);
        if (wanted.Contains("packed")) Assert.Equal(all.Packed, some.Packed);
        if (wanted.Contains("pooled")) Assert.Equal(all.Pooled!.Select(BitConverter.SingleToInt32Bits), some.Pooled!.Select(BitConverter.SingleToInt32Bits));
    }

    [Theory]
    [InlineData("w", "W must be float32 [C, Cin, 3, 3] with 1 ≤ Cin ≤ 64 (a 3×3 Conv's weights), got float32 [4, 3, 5, 5]")]
    [InlineData("mean", "Mean must be float32 with 3 values ([3], [3, 1, 1] or [1, 3, 1, 1]), got float32 [2]")]
    [InlineData("outputs", "every output is the empty name: the stem would go nowhere")]
    [InlineData("tau", "attribute tau_next has 3 values, but W makes 4 channels")]
    [InlineData("x", "X must have 3 channels (W is [4, 3, 3, 3]), got [1, 2, 8, 8]")]
    [InlineData("xpooled", "X [1, 3, 1, 8] is too small for XPooled's 2×2 window (without input_ceil_mode each side needs 2 values)")]
    [InlineData("input_ceil", "attribute input_ceil_mode must be 0 or 1, got 2")]
    public void Bad_nodes_and_inputs_are_refused_in_one_line(string bad, string message)
    {
        var g = new OnnxGraphBuilder("bad");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        int cin = bad == "x" ? 2 : 3, height = bad == "xpooled" ? 1 : 8;
        g.Input("X", TensorProto.Types.DataType.Float, 1, cin, height, 8);
        string mean = g.Initializer(Tensors.Float("mean", new float[bad == "mean" ? 2 : 3], bad == "mean" ? 2 : 3));
        string std = g.Initializer(Tensors.Float("std", [1f, 1f, 1f], 3));
        int k = bad == "w" ? 5 : 3;
        string w = g.Initializer(Tensors.Float("w", new float[4 * 3 * k * k], 4, 3, k, k));
        string b = g.Initializer(Tensors.Float("b", new float[4], 4)), scale = g.Initializer(Tensors.Float("scale", new float[4], 4)), shift = g.Initializer(Tensors.Float("shift", new float[4], 4));
        var node = g.Node(BinaryConvSchema.Stem, ["X", mean, std, w, b, scale, shift], ["Y", "YPacked", "Pooled", "XPooled"], "stem", BinaryConvSchema.Domain);
        (node.Proto.Output[0], node.Proto.Output[1], node.Proto.Output[2], node.Proto.Output[3]) =
            (bad == "outputs" ? "" : "Y", bad == "tau" ? "YPacked" : "", "", bad is "xpooled" or "input_ceil" ? "XPooled" : "");
        if (bad == "tau") node.Attribute(BinaryConvSchema.TauNext, 0f, 0f, 0f);
        if (bad == "input_ceil") node.Attribute(BinaryConvSchema.StemInputCeilMode, 2L);
        if (bad == "outputs") g.Node("Identity", ["X"], ["X2"]);
        g.Output(bad == "outputs" ? "X2" : "Y", TensorProto.Types.DataType.Float, 1, bad == "outputs" ? 3 : 4, -1, -1);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() =>
        {
            using var session = new InferenceSession(g.ToBytes(), options);
            using var results = session.Run([NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(new float[cin * height * 8], [1, cin, height, 8]))]);
        });
        Assert.True(e.Message.Contains($"Stem node 'stem': {message}"), e.Message);
        Assert.DoesNotContain("\n", e.Message.Trim());
    }
}
