using BiVM.Contracts;
using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

namespace BiVM.CustomOps.Tests.Activation;

/// <summary>
/// ShortcutRPReLU, ShortcutSum and the dense BinaryConv2d declare that ONNX Runtime may write Y over X (MayInplace,
/// input 0 → output 0). Each runs with X an intermediate that it reads last and Y one that a Neg reads (so ONNX Runtime
/// may share the buffer) and with X also a graph output (so it cannot), on one and two threads: the glue's paths that
/// read X (planes; bands of rows with a folded normalization and a packed output, or with a projection; the row path
/// reads X only beside a folded sparse conv, which the shipped models' tests run), the sums, and the conv (3×3: all of
/// X packed first; 1×1: row by row). The same bits either way. That the buffer was shared is checked on the ops' count
/// of such runs (<see cref="InPlace"/>).
/// </summary>
public sealed class InPlaceTests
{
    private const TensorProto.Types.DataType F32 = TensorProto.Types.DataType.Float;

    public static TheoryData<string, int> Cases => new()
    {
        { "planes", 1 }, { "planes", 2 }, { "bands", 1 }, { "bands", 2 }, { "projection", 1 }, { "projection", 2 }, { "sum", 1 }, { "sum", 2 },
        { "conv3x3", 1 }, { "conv3x3", 2 }, { "conv1x1", 1 }, { "conv1x1", 2 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Y_written_over_X_gives_the_bits_of_Y_in_a_buffer_of_its_own(string path, int threads)
    {
        const int n = 1, c = 24, h = 13, w = 37;
        var r = new Random(path.Length * 10 + threads);
        float[] Values(int count) => Enumerable.Range(0, count).Select(i => i % 13 == 3 ? 0f : (float)(r.NextDouble() * 4 - 2)).ToArray();
        var source = Values(n * c * h * w);
        var addend = Values(n * c * h * w);
        float[] shiftIn = Values(c), slope = Values(c), shiftOut = Values(c), tau = Values(c), scale = Values(c), bias = Values(c), projection = Values(2 * c);

        Dictionary<string, float[]> Run(bool exposeX)
        {
            var g = new OnnxGraphBuilder("inplace");
            g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
            g.Input("S", F32, n, c, h, w);
            g.Input("A", F32, n, c, h, w);
            g.Node("Relu", ["S"], ["X"], "producer"); // X: an intermediate whose last reader is the node under test
            if (path.StartsWith("conv", StringComparison.Ordinal))
            {
                // A dense binary conv with Cout = Cin at stride 1: Y has X's size.
                int k = path == "conv3x3" ? 3 : 1;
                var conv = new ConvCase(BinaryConv2dParams.Square(n, c, h, w, c, k), 5);
                BinaryConvNodes.AddCustom(g, "conv", "X", "Y", conv.PackedWeights, WeightPacker.PackedShape(c, c, k, k), conv.Alpha, conv.Tau, conv.Bias,
                    new BinaryConvAttributes([k, k], [1, 1], k == 3 ? [1, 1, 1, 1] : [0, 0, 0, 0], [1, 1]));
            }
            else if (path == "sum")
                g.Node(BinaryConvSchema.ShortcutSum, ["X", "A"], ["Y"], "sum", BinaryConvSchema.Domain)
                    .Attribute(BinaryConvSchema.ShortcutSumScales, new[] { 0.375f }).Attribute(BinaryConvSchema.ShortcutSumRepeats, new[] { 1L });
            else
            {
                g.Initializer(Tensors.Float("b1", shiftIn, c, 1, 1));
                g.Initializer(Tensors.Float("k", slope, c, 1, 1));
                g.Initializer(Tensors.Float("b2", shiftOut, c, 1, 1));
                var inputs = Enumerable.Repeat("", BinaryConvSchema.ActivationInputCount).ToArray();
                (inputs[BinaryConvSchema.ActivationX], inputs[BinaryConvSchema.ActivationAddend]) = ("X", "A");
                (inputs[BinaryConvSchema.ActivationShiftIn], inputs[BinaryConvSchema.ActivationSlope], inputs[BinaryConvSchema.ActivationShiftOut]) = ("b1", "k", "b2");
                var outputs = new List<string> { "Y" };
                if (path == "bands")
                {
                    g.Initializer(Tensors.Float("t", tau, c));
                    g.Initializer(Tensors.Float("ns", scale, c));
                    g.Initializer(Tensors.Float("nb", bias, c));
                    (inputs[BinaryConvSchema.ActivationTauNext], inputs[BinaryConvSchema.ActivationNormScale], inputs[BinaryConvSchema.ActivationNormBias]) = ("t", "ns", "nb");
                    outputs.Add("P");
                }
                if (path == "projection")
                {
                    g.Initializer(Tensors.Float("proj", projection, 2, c, 1, 1));
                    inputs[BinaryConvSchema.ActivationProjection] = "proj";
                    outputs.AddRange(["unused", "Projected"]);
                }
                var node = g.Node(BinaryConvSchema.ShortcutRPReLU, inputs, outputs, "glue", BinaryConvSchema.Domain);
                if (path == "projection") node.Proto.Output[BinaryConvSchema.ActivationPackedOutput] = ""; // the builder names every output
                if (path == "bands") node.Attribute(BinaryConvSchema.ActivationNormEpsilon, 1e-5f);
            }
            g.Node("Neg", ["Y"], ["Z"], "reader"); // Y an intermediate too (ONNX Runtime gives a graph output a buffer of its own)
            g.Output("Z", F32, n, c, h, w);
            if (path == "bands") g.Output("P", TensorProto.Types.DataType.Uint64, n, h, w, 1);
            if (path == "projection") g.Output("Projected", F32, n, 2, h, w);
            if (exposeX) g.Output("X", F32, n, c, h, w);
            using var options = new SessionOptions { IntraOpNumThreads = threads };
            BiVMOps.Register(options);
            using var session = new InferenceSession(g.ToBytes(), options);
            using var results = session.Run([
                NamedOnnxValue.CreateFromTensor("S", new DenseTensor<float>(source, [n, c, h, w])),
                NamedOnnxValue.CreateFromTensor("A", new DenseTensor<float>(addend, [n, c, h, w]))]);
            return results.Where(v => v.Name != "X").ToDictionary(v => v.Name,
                v => v.Name == "P" ? v.AsTensor<ulong>().Select(b => BitConverter.Int32BitsToSingle((int)b)).ToArray() : v.AsTensor<float>().ToArray());
        }

        long before = InPlace.Runs;
        var shared = Run(exposeX: false);
        long inPlace = InPlace.Runs - before;
        var separate = Run(exposeX: true);
        foreach (var (name, values) in separate)
            Assert.True(values.Select(BitConverter.SingleToInt32Bits).SequenceEqual(shared[name].Select(BitConverter.SingleToInt32Bits)), $"{path}, {threads} thread(s): {name} differs when Y is written over X");
        Assert.True(inPlace >= 1, $"{path}: ONNX Runtime did not give Y X's buffer (the case would test nothing)");
    }
}
