using System.Diagnostics;
using static TorchSharp.torch;

namespace BiVM.Model.Numerics;

/// <summary>What a convolution implementation returned for one <see cref="ConvShape"/>: y, ∂L/∂x and ∂L/∂w.</summary>
public sealed record ConvResults(float[] Output, float[] InputGradient, float[] WeightGradient);

/// <summary>
/// The convolution implementation under test: given the shape and x, w, b, ∂L/∂y, returns y and the two
/// gradients. <see cref="LibTorchSelfCheck.TorchConvolution"/> is LibTorch's (what training runs); tests pass
/// a corrupted one to see the check catch it.
/// </summary>
public delegate ConvResults ConvImplementation(ConvShape shape, float[] x, float[] w, float[] b, float[] outputGradient);

/// <summary>The outcome of one self-check: passed, or the first wrong value found.</summary>
public sealed record SelfCheckResult(bool Passed, int Checks, double WorstRatio, string? Failure, TimeSpan Elapsed)
{
    /// <summary>"18 checks passed (worst error 0.2 % of its tolerance) in 0.31 s" or the failure.</summary>
    public string Describe() => Passed
        ? $"{Checks} checks passed (worst error {100 * WorstRatio:G2} % of its tolerance) in {Elapsed.TotalSeconds:F2} s"
        : $"wrong result: {Failure}";
}

/// <summary>
/// A numerics self-check of LibTorch's convolutions, forward and backward, against
/// <see cref="ReferenceConv2d"/>, on the shapes our networks use: 3×3 (1-bit and 32-bit layers), 1×1
/// (projections, squeeze-excitation), depthwise 3×3 and 5×5 (MobileNetV3), stride 2, dilation 2 (the
/// last encoder stage), and the 3-channel stem. Sizes are odd and channel counts are not multiples of
/// oneDNN's 8/16-channel blocks where the networks have such layers, so blocked layouts, their reorders and
/// the tails are all exercised. A value is wrong when it differs from the double-precision reference by
/// more than 1e-4 of the sum of the magnitudes of its terms (+1e-6): every correct float32 summation order
/// stays orders of magnitude inside that, and a dropped or misplaced block of data does not.
/// </summary>
public static class LibTorchSelfCheck
{
    private const double RelativeTolerance = 1e-4;
    private const double AbsoluteTolerance = 1e-6;

    /// <summary>The shapes checked, each forward, ∂x and ∂w: 13 M multiply-adds forward, 40 M with both gradients.</summary>
    public static IReadOnlyList<ConvShape> Shapes { get; } =
    [
        new("stem 3×3 stride 2, 3→16", 2, 3, 16, 23, 37, 3, Stride: 2),
        new("3×3, 32→32", 2, 32, 32, 11, 19, 3),
        new("3×3 stride 2, 24→40", 2, 24, 40, 13, 21, 3, Stride: 2),
        new("3×3 dilation 2, 64→64", 1, 64, 64, 9, 14, 3, Dilation: 2),
        new("1×1, 72→40", 4, 72, 40, 7, 12, 1),
        new("depthwise 3×3, 40 channels", 2, 40, 40, 11, 19, 3, Groups: 40),
        new("depthwise 5×5 stride 2, 72 channels", 2, 72, 72, 13, 21, 5, Stride: 2, Groups: 72),
        new("3×3, 17→33 (no channel block)", 4, 17, 33, 9, 10, 3),
    ];

    /// <summary>Runs every shape through <paramref name="convolution"/> and stops at the first wrong value.</summary>
    public static SelfCheckResult Run(ConvImplementation convolution)
    {
        var watch = Stopwatch.StartNew();
        var random = new Random(20261201);
        int checks = 0;
        double worst = 0;
        foreach (var shape in Shapes)
        {
            var x = Uniform(random, shape.InputLength);
            var w = Uniform(random, shape.WeightLength);
            var b = Uniform(random, shape.OutChannels);
            var gy = Uniform(random, shape.OutputLength);
            var got = convolution(shape, x, w, b, gy);
            foreach (var (part, actual, expected) in new[]
            {
                ("forward", got.Output, (Func<(double[], double[])>)(() => ReferenceConv2d.Forward(shape, x, w, b))),
                ("∂x", got.InputGradient, () => ReferenceConv2d.InputGradient(shape, w, gy)),
                ("∂w", got.WeightGradient, () => ReferenceConv2d.WeightGradient(shape, x, gy)),
            })
            {
                checks++;
                var (value, magnitude) = expected();
                if (actual.Length != value.Length)
                    return new(false, checks, worst, $"{shape.Name} {part}: {actual.Length} values, expected {value.Length}", watch.Elapsed);
                for (int i = 0; i < value.Length; i++)
                {
                    double error = Math.Abs(actual[i] - value[i]);
                    double tolerance = RelativeTolerance * magnitude[i] + AbsoluteTolerance;
                    if (!(error <= tolerance))   // NaN fails too
                        return new(false, checks, worst,
                            $"{shape.Name} {part}: value {i} is {actual[i]:G6}, expected {value[i]:G6} (tolerance {tolerance:G2})", watch.Elapsed);
                    worst = Math.Max(worst, error / tolerance);
                }
            }
        }
        return new(true, checks, worst, null, watch.Elapsed);
    }

    /// <summary>LibTorch's conv2d forward and autograd backward, float32, contiguous NCHW: what training runs.</summary>
    public static ConvResults TorchConvolution(ConvShape shape, float[] x, float[] w, float[] b, float[] outputGradient)
    {
        using var scope = NewDisposeScope();
        using var grad = enable_grad();
        var input = tensor(x, shape.InputShape).requires_grad_();
        var weight = tensor(w, shape.WeightShape).requires_grad_();
        var y = nn.functional.conv2d(input, weight, tensor(b),
            strides: [shape.Stride, shape.Stride], padding: [shape.Padding, shape.Padding],
            dilation: [shape.Dilation, shape.Dilation], groups: shape.Groups);
        y.backward([tensor(outputGradient, shape.OutputShape)]);
        return new ConvResults(Floats(y.detach()), Floats(input.grad!), Floats(weight.grad!));
    }

    private static float[] Floats(Tensor t) => t.contiguous().data<float>().ToArray();

    private static float[] Uniform(Random random, int length)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++) values[i] = (float)(random.NextDouble() * 2 - 1);
        return values;
    }
}
