using BiVM.Contracts;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

namespace BiVM.CustomOps.Tests.Activation;

/// <summary>
/// ShortcutRPReLU and ShortcutSum declare that ONNX Runtime may write Y over X (MayInplace, input 0 → output 0). Each
/// runs with X an intermediate that it reads last and Y one that a Neg reads (so ONNX Runtime may share the buffer) and
/// with X also a graph output (so it cannot), on one and two threads, through every path of the glue (planes; bands of rows with a folded
/// normalization and packed outputs; rows with a projection) and the sums: the same bits. That the buffer was shared
/// is checked on the glue's own count of such runs.
/// </summary>
public sealed class InPlaceTests
{
    private const TensorProto.Types.DataType F32 = TensorProto.Types.DataType.Float;

    public static TheoryData<string, int> Cases => new()
    {
        { "planes", 1 }, { "planes", 2 }, { "bands", 1 }, { "bands", 2 }, { "projection", 1 }, { "projection", 2 }, { "sum", 1 }, { "sum", 2 },
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
            if (path == "sum")
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

        long before = ShortcutRPReLUOrtKernel.InPlaceRuns;
        var shared = Run(exposeX: false);
        long inPlace = ShortcutRPReLUOrtKernel.InPlaceRuns - before;
        var separate = Run(exposeX: true);
        foreach (var (name, values) in separate)
            Assert.True(values.Select(BitConverter.SingleToInt32Bits).SequenceEqual(shared[name].Select(BitConverter.SingleToInt32Bits)), $"{path}, {threads} thread(s): {name} differs when Y is written over X");
        if (path != "sum") Assert.True(inPlace >= 1, $"{path}: ONNX Runtime did not give Y X's buffer (the case would test nothing)");
    }
}
