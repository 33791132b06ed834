using BiVM.Benchmarking.Quick;
using BiVM.Contracts;
using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

namespace BiVM.Benchmarks.Quick;

/// <summary>
/// The folded InstanceNormalization (issue #12) at the op level: ORT's InstanceNormalization followed by the
/// ShortcutRPReLU glue (shortcut, RPReLU, packed hand-off), against one ShortcutRPReLU with NormScale/NormBias, on
/// shapes of BiVM's encoder at 512×288. Both timed interleaved (<see cref="Timing"/>), on the calling thread's CPU
/// time at 1 thread and wall time at 2. `dotnet run -c Release --project benchmarks -- --glue [--samples N]`.
/// </summary>
public static class GlueQuick
{
    private static readonly (int C, int H, int W)[] Shapes = [(16, 144, 256), (24, 72, 128), (40, 36, 64), (128, 18, 32)];

    /// <summary>Writes one table row per shape and thread count to <paramref name="output"/>.</summary>
    public static void Run(int samples, TextWriter output)
    {
        output.WriteLine($"| C×H×W | threads | clock | InstanceNormalization + ShortcutRPReLU ms | folded ShortcutRPReLU ms | unfused / folded |");
        output.WriteLine("|---|---:|---|---:|---:|---:|");
        foreach (var (c, h, w) in Shapes)
            foreach (int threads in new[] { 1, 2 })
            {
                using var unfused = new Case(c, h, w, threads, folded: false);
                using var folded = new Case(c, h, w, threads, folded: true);
                bool cpu = threads == 1 && Clock.HasThreadCpuTime;
                var ms = Timing.BestMilliseconds(samples, cpu, unfused.Run, folded.Run);
                output.WriteLine($"| {c}×{h}×{w} | {threads} | {(cpu ? "thread CPU" : "wall")} | {ms[0]:F3} | {ms[1]:F3} | {ms[0] / ms[1]:F2}× |");
            }
    }

    private sealed class Case : IDisposable
    {
        private readonly InferenceSession _session;
        private readonly List<NamedOnnxValue> _inputs;

        public Case(int c, int h, int w, int threads, bool folded)
        {
            var r = new Random(1);
            float[] Values(int n, float low, float high) => Enumerable.Range(0, n).Select(_ => low + (float)r.NextDouble() * (high - low)).ToArray();
            var g = new OnnxGraphBuilder(folded ? "folded" : "unfused");
            g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
            g.Input("X", TensorProto.Types.DataType.Float, 1, c, h, w);
            g.Input("A", TensorProto.Types.DataType.Float, 1, c, h, w);
            g.Initializer(Tensors.Float("gamma", [0.5f], 1));
            g.Initializer(Tensors.Float("norm_scale", Values(c, 0.5f, 1.5f), c));
            g.Initializer(Tensors.Float("norm_bias", Values(c, -0.5f, 0.5f), c));
            g.Initializer(Tensors.Float("b1", Values(c, -0.5f, 0.5f), 1, c, 1, 1));
            g.Initializer(Tensors.Float("k", Values(c, 0, 0.5f), 1, c, 1, 1));
            g.Initializer(Tensors.Float("b2", Values(c, -0.5f, 0.5f), 1, c, 1, 1));
            g.Initializer(Tensors.Float("tau", Values(c, -0.2f, 0.2f), c));
            if (folded)
                g.Node(BinaryConvSchema.ShortcutRPReLU, ["X", "A", "gamma", "b1", "k", "b2", "tau", "norm_scale", "norm_bias"], ["Y", "Y.packed"], "glue", BinaryConvSchema.Domain)
                    .Attribute(BinaryConvSchema.ActivationNormEpsilon, 1e-5f);
            else
            {
                g.Node("InstanceNormalization", ["X", "norm_scale", "norm_bias"], ["xn"], "norm").Attribute("epsilon", 1e-5f);
                g.Node(BinaryConvSchema.ShortcutRPReLU, ["xn", "A", "gamma", "b1", "k", "b2", "tau"], ["Y", "Y.packed"], "glue", BinaryConvSchema.Domain);
            }
            g.Output("Y", TensorProto.Types.DataType.Float, 1, c, h, w);
            g.Output("Y.packed", TensorProto.Types.DataType.Uint64, 1, h, w, PackedLayout.WordsFor(c));
            var options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1 };
            BiVMOps.Register(options);
            _session = new InferenceSession(g.ToBytes(), options);
            // A conv's output: multiples of α around an offset, per channel.
            var x = new float[c * h * w];
            for (int i = 0; i < x.Length; i++) x[i] = 3f + 0.25f * r.Next(-40, 41);
            _inputs =
            [
                NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x, [1, c, h, w])),
                NamedOnnxValue.CreateFromTensor("A", new DenseTensor<float>(Values(x.Length, -1, 1), [1, c, h, w])),
            ];
        }

        public void Run()
        {
            using var results = _session.Run(_inputs);
        }

        public void Dispose() => _session.Dispose();
    }
}
