using BiVM.Contracts;
using BiVM.CustomOps.Activation;
using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using Xunit.Abstractions;

namespace BiVM.CustomOps.Tests.Activation;

/// <summary>
/// The 1×1 projection folded into ShortcutRPReLU (the matting head's project_mat): the row kernel's column steps against
/// its one-column path and an independent float64 oracle, and the op's Projected output against the glue followed by
/// ONNX Runtime's own Conv (bit for bit on x86-64 with FMA, which the summation order is taken from), with packing
/// at the same time, on two threads; and the malformed nodes it refuses in one line.
/// </summary>
public sealed unsafe class ChannelProjectionTests(ITestOutputHelper log)
{
    /// <summary>The column steps this CPU can run: 16 (Vector512 hardware), 8 (Vector256), 1 always.</summary>
    private static int[] LanesThisCpuRuns => new[] { 16, 8, 1 }.Where(l => l <= ChannelProjection.BestLanes).ToArray();

    /// <summary>Random X and Addend (<paramref name="values"/> each), projection weights [K, C] and bias, τ and the glue's three per-channel constants, drawn in that order.</summary>
    private static (float[] X, float[] Addend, float[] W, float[] Bias, float[] Tau, float[] ShiftIn, float[] Slope, float[] ShiftOut) GlueWithProjection(Random r, int values, int channels, int k) =>
        (RandomValues.Uniform(r, values, 3f), RandomValues.Uniform(r, values), RandomValues.Uniform(r, k * channels), RandomValues.Uniform(r, k), RandomValues.Uniform(r, channels, 0.5f), RandomValues.Uniform(r, channels), RandomValues.Uniform(r, channels), RandomValues.Uniform(r, channels));

    [Theory]
    [InlineData(16, 4, 37, true)]   // the shipped head: 16 channels to fgr residual and alpha
    [InlineData(35, 6, 53, false)]  // a group of 4 and one of 2, no bias, a column tail after 16 and 8
    [InlineData(3, 1, 5, true)]     // narrower than every vector
    [InlineData(16, 4, 61, true)]   // every step: two vectors at once, one, the narrower vector, one column
    public void Every_column_step_equals_the_one_column_path_and_the_float64_oracle(int channels, int outputs, int width, bool withBias)
    {
        var r = new Random(channels * 100 + outputs);
        long inputStride = width + 3, outputStride = width + 5; // rows of larger planes, as in the op
        var g = RandomValues.Uniform(r, (int)(channels * inputStride), 2f);
        var w = RandomValues.Uniform(r, outputs * channels);
        var b = withBias ? RandomValues.Uniform(r, outputs) : null;
        float[]? reference = null;
        fixed (float* pg = g, pw = w, pb = b)
            foreach (int lanes in LanesThisCpuRuns.Reverse())
            {
                var y = new float[outputs * outputStride];
                fixed (float* py = y) ChannelProjection.Row(pg, channels, width, inputStride, pw, pb, outputs, py, outputStride, lanes);
                if (reference is null) reference = y; // the one-column path
                else Assert.Equal(reference, y);
            }
        for (int k = 0; k < outputs; k++)
            for (int x = 0; x < width; x++)
            {
                double exact = b?[k] ?? 0;
                for (int c = 0; c < channels; c++) exact += (double)w[k * channels + c] * g[c * inputStride + x];
                Assert.True(Math.Abs(reference![k * outputStride + x] - exact) <= 1e-5 * (1 + Math.Abs(exact)), $"k{k} x{x}: {reference[k * outputStride + x]} vs {exact}");
            }
        var missing = new[] { 16, 8 }.Except(LanesThisCpuRuns).ToArray();
        log.WriteLine($"column steps tested: {string.Join(", ", LanesThisCpuRuns)}{(missing.Length > 0 ? $"; this CPU could not run {string.Join(", ", missing)}" : "")}");
    }

    [Theory]
    [InlineData(16, false)]
    [InlineData(32, true)]
    public void Projected_output_equals_the_glue_then_ONNX_Runtimes_conv(int channels, bool alsoPacked)
    {
        const int n = 2, h = 9, width = 37, k = 4;
        var (x, a, w, bias, tau, shiftIn, slope, shiftOut) = GlueWithProjection(new Random(channels), n * channels * h * width, channels, k);

        byte[] Model(bool fused)
        {
            var g = GlueGraph(n, channels, h, width, shiftIn, slope, shiftOut, tau, w, bias);
            string tauNext = alsoPacked ? "tau" : "";
            string packed = alsoPacked ? "G.packed" : "";
            if (fused)
            {
                // Outputs Y, YPacked (the empty name without TauNext: the builder takes only named outputs) and Projected.
                var glue = g.Node(BinaryConvSchema.ShortcutRPReLU, ["X", "A", "", "b1", "k", "b2", tauNext, "", "", "W", "B"], alsoPacked ? ["G", packed, "P"] : ["G", "P"], "glue", BinaryConvSchema.Domain);
                if (!alsoPacked) glue.Proto.Output.Insert(1, "");
            }
            else
            {
                g.Node(BinaryConvSchema.ShortcutRPReLU, ["X", "A", "", "b1", "k", "b2", tauNext], alsoPacked ? ["G", packed] : ["G"], "glue", BinaryConvSchema.Domain);
                g.Node("Conv", ["G", "W", "B"], ["P"], "project");
            }
            g.Output("G", TensorProto.Types.DataType.Float, n, channels, h, width);
            if (alsoPacked) g.Output("G.packed", TensorProto.Types.DataType.Uint64, n, h, width, PackedLayout.WordsFor(channels));
            g.Output("P", TensorProto.Types.DataType.Float, n, k, h, width);
            return g.ToBytes();
        }

        Dictionary<string, Array> Run(byte[] model)
        {
            using var options = new SessionOptions { IntraOpNumThreads = 2 };
            BiVMOps.Register(options);
            using var session = new InferenceSession(model, options);
            using var results = session.Run([
                NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x, [n, channels, h, width])),
                NamedOnnxValue.CreateFromTensor("A", new DenseTensor<float>(a, [n, channels, h, width]))]);
            return results.ToDictionary(v => v.Name, v => v.Name.EndsWith(".packed") ? (Array)v.AsTensor<ulong>().ToArray() : v.AsTensor<float>().ToArray());
        }

        var chain = Run(Model(fused: false));
        var fused = Run(Model(fused: true));
        Assert.Equal((float[])chain["G"], (float[])fused["G"]);
        if (alsoPacked) Assert.Equal((ulong[])chain["G.packed"], (ulong[])fused["G.packed"]);
        var expected = (float[])chain["P"];
        var actual = (float[])fused["P"];
        int differ = expected.Zip(actual).Count(p => p.First != p.Second);
        float largest = expected.Zip(actual).Max(p => Math.Abs(p.First - p.Second));
        log.WriteLine($"{channels} channels: {differ} of {expected.Length} projected values differ from ORT's Conv (largest {largest:E2}); FMA: {System.Runtime.Intrinsics.X86.Fma.IsSupported}");
        Assert.All(expected.Zip(actual), p => Assert.True(Math.Abs(p.First - p.Second) <= 1e-5f * (1 + Math.Abs(p.First))));
        // MLAS sums a 1×1 conv of 16 to 64 channels with one fused multiply-add per channel from 0, then adds B: the same bits.
        if (System.Runtime.Intrinsics.X86.Fma.IsSupported) Assert.Equal(0, differ);
    }

    [Theory]
    [InlineData(16, false, 1)]
    [InlineData(32, true, 2)]
    public void Without_Y_the_glue_projects_and_packs_the_Y_it_no_longer_writes(int channels, bool alsoPacked, int threads)
    {
        // Y the empty name (only its own projection read it): each row of Y is formed in scratch for the projection and
        // the packer, and Projected and YPacked are those of the glue that writes Y.
        const int n = 2, h = 9, width = 37, k = 4;
        var (x, a, w, bias, tau, shiftIn, slope, shiftOut) = GlueWithProjection(new Random(channels + 1), n * channels * h * width, channels, k);

        Dictionary<string, Array> Run(bool writesY)
        {
            var g = GlueGraph(n, channels, h, width, shiftIn, slope, shiftOut, tau, w, bias);
            var glue = g.Node(BinaryConvSchema.ShortcutRPReLU, ["X", "A", "", "b1", "k", "b2", alsoPacked ? "tau" : "", "", "", "W", "B"],
                alsoPacked ? ["G", "G.packed", "P"] : ["G", "P"], "glue", BinaryConvSchema.Domain);
            if (!alsoPacked) glue.Proto.Output.Insert(1, "");
            if (writesY) g.Output("G", TensorProto.Types.DataType.Float, n, channels, h, width);
            else glue.Proto.Output[BinaryConvSchema.ActivationOutput] = "";
            if (alsoPacked) g.Output("G.packed", TensorProto.Types.DataType.Uint64, n, h, width, PackedLayout.WordsFor(channels));
            g.Output("P", TensorProto.Types.DataType.Float, n, k, h, width);
            using var options = new SessionOptions { IntraOpNumThreads = threads };
            BiVMOps.Register(options);
            using var session = new InferenceSession(g.ToBytes(), options);
            using var results = session.Run([
                NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x, [n, channels, h, width])),
                NamedOnnxValue.CreateFromTensor("A", new DenseTensor<float>(a, [n, channels, h, width]))]);
            return results.ToDictionary(v => v.Name, v => v.Name.EndsWith(".packed") ? (Array)v.AsTensor<ulong>().ToArray() : v.AsTensor<float>().ToArray());
        }

        var written = Run(writesY: true);
        var projectedOnly = Run(writesY: false);
        Assert.DoesNotContain("G", projectedOnly.Keys);
        Assert.Equal((float[])written["P"], (float[])projectedOnly["P"]);
        if (alsoPacked) Assert.Equal((ulong[])written["G.packed"], (ulong[])projectedOnly["G.packed"]);
    }

    [Theory]
    [InlineData(new[] { "X", "", "", "b", "b", "b", "", "", "", "W" }, new[] { "Y" }, "Projection is given but output Projected is not (they go together)")]
    [InlineData(new[] { "X", "", "", "b", "b", "b" }, new[] { "Y", "", "P" }, "output Projected needs the Projection input")]
    [InlineData(new[] { "X", "", "", "b", "b", "b", "", "", "", "Wbad" }, new[] { "Y", "", "P" }, "Projection must be float32 [K, C = 2, 1, 1] (a 1×1 Conv's W), got float32 [4, 3, 1, 1]")]
    [InlineData(new[] { "X", "", "", "b", "b", "b", "", "", "", "", "B" }, new[] { "Y" }, "ProjectionBias is given without Projection")]
    [InlineData(new[] { "X", "", "", "b", "b", "b", "", "", "", "W", "b" }, new[] { "Y", "", "P" }, "ProjectionBias must be float32 [K = 4], got float32 [2]")]
    public void A_malformed_projection_is_refused_in_one_line(string[] inputs, string[] outputs, string message)
    {
        var g = new OnnxGraphBuilder("bad");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, 1, 2, 3, 4);
        g.Initializer(Tensors.Float("b", [0f, 0f], 2));
        g.Initializer(Tensors.Float("W", new float[8], 4, 2, 1, 1));
        g.Initializer(Tensors.Float("Wbad", new float[12], 4, 3, 1, 1));
        g.Initializer(Tensors.Float("B", new float[4], 4));
        var glue = g.Node(BinaryConvSchema.ShortcutRPReLU, inputs, outputs.Where(o => o.Length > 0).ToArray(), "glue", BinaryConvSchema.Domain);
        for (int i = 0; i < outputs.Length; i++) if (outputs[i].Length == 0) glue.Proto.Output.Insert(i, "");
        g.Output("Y", TensorProto.Types.DataType.Float, 1, 2, 3, 4);
        if (outputs.Contains("P")) g.Output("P", TensorProto.Types.DataType.Float, 1, 4, 3, 4);
        using var options = new SessionOptions();
        BiVMOps.Register(options);
        var e = Assert.ThrowsAny<OnnxRuntimeException>(() => new InferenceSession(g.ToBytes(), options).Dispose());
        Assert.Contains($"ShortcutRPReLU node 'glue': {message}", e.Message);
    }

    /// <summary>
    /// Inputs X and A [n, C, h, width] and the glue's constants: b1, k, b2 (RPReLU), tau (TauNext), W [K, C, 1, 1] and B
    /// [K] (the projection), for the tests that build a glue with a projection.
    /// </summary>
    private static OnnxGraphBuilder GlueGraph(int n, int channels, int h, int width, float[] shiftIn, float[] slope, float[] shiftOut, float[] tau, float[] w, float[] bias)
    {
        var g = new OnnxGraphBuilder("projection");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("X", TensorProto.Types.DataType.Float, n, channels, h, width);
        g.Input("A", TensorProto.Types.DataType.Float, n, channels, h, width);
        g.Initializer(Tensors.Float("b1", shiftIn, 1, channels, 1, 1));
        g.Initializer(Tensors.Float("k", slope, channels, 1, 1));
        g.Initializer(Tensors.Float("b2", shiftOut, 1, channels, 1, 1));
        g.Initializer(Tensors.Float("tau", tau, channels));
        g.Initializer(Tensors.Float("W", w, bias.Length, channels, 1, 1));
        g.Initializer(Tensors.Float("B", bias, bias.Length));
        return g;
    }
}
