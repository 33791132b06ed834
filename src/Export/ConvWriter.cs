using BiVM.Model.Binarization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiVM.Export;

/// <summary>
/// Convolutions, their BatchNorm and activations, in eval mode. Full-precision convs get the BN folded into
/// their weights and bias (computed in double, rounded once); binary convs get it folded into alpha/bias by
/// <see cref="ConvBnAct.FoldForExport"/> (the binding formula of model-contract.md) and are written by
/// <see cref="ExportGraph.BinaryConv"/>.
/// </summary>
internal sealed class ConvWriter(ExportGraph g)
{
    // A conv called more than once (the DGF's box filter runs four times) keeps one copy of its weights.
    private readonly Dictionary<Conv2d, (string Weight, string Bias)> _written = new(ReferenceEqualityComparer.Instance);

    /// <summary>conv → BN → activation.</summary>
    public string ConvBnAct(string name, string x, ConvBnAct unit) =>
        Activation(name + ".act", ConvBn(name, x, unit), unit.Activation);

    /// <summary>Whether <see cref="ConvBnActOverParts"/> writes this unit as convs over the parts: a 32-bit ungrouped conv whose BN folds.</summary>
    public static bool SplitsOverParts(ConvBnAct unit) =>
        unit.Conv is Conv2d { groups: 1 } && unit.NormMode != BatchNormMode.Frame;

    /// <summary>
    /// conv → BN → activation over the channel concatenation of <paramref name="parts"/>, written without the
    /// concatenation: a conv is linear in its input channels, so W·[x₁, x₂, …] = W₁·x₁ + W₂·x₂ + … with W split along
    /// its input channels (the folded bias on the first). RVM's decoder concatenates [x, f_k, s_k] with the 3-channel
    /// source, so its convs read 35, 59, 107 and 171 channels; ONNX Runtime runs its fast blocked (NCHWc) convolution
    /// only where the input channels are a multiple of its block (8 with AVX2, 16 with AVX-512) or below it (as the
    /// 3-channel source), and the rest through im2col, which took 79 of the 192 ms of an RVM frame at 512×288 on an
    /// AVX2 host (docs/export.md). The parts (128, 40, 80, 24, 40, 16, 32 and 3 channels) are all multiples of 8 or the
    /// source; with AVX-512's block of 16, the 40- and 24-channel parts still take the slower path. The sum is the same
    /// up to float rounding: the products are added in another order.
    /// </summary>
    public string ConvBnActOverParts(string name, IReadOnlyList<(string Tensor, long Channels)> parts, ConvBnAct unit)
    {
        if (!SplitsOverParts(unit)) throw new NotSupportedException($"{name}: only a 32-bit ungrouped conv with a folded BN is written over parts");
        var conv = (Conv2d)unit.Conv;
        var shape = ModuleTree.Parameter(conv, "weight").shape;
        if (parts.Sum(p => p.Channels) != shape[1])
            throw new InvalidOperationException($"{name}: parts of {string.Join(" + ", parts.Select(p => p.Channels))} channels for a conv over {shape[1]}");
        var (w, b) = FoldBatchNorm(conv, unit.Norm);
        long cout = shape[0], cin = shape[1], taps = shape[2] * shape[3];
        string? sum = null;
        long first = 0;
        for (int i = 0; i < parts.Count; i++)
        {
            var (x, channels) = parts[i];
            var part = new float[cout * channels * taps];
            for (long co = 0; co < cout; co++)
                Array.Copy(w, (co * cin + first) * taps, part, co * channels * taps, channels * taps);
            first += channels;
            var weight = g.Weights($"{name}.in{i}.weight", part, cout, channels, shape[2], shape[3]);
            string[] inputs = i == 0 ? [x, weight, g.Weights(name + ".bias", b, cout)] : [x, weight];
            var y = g.Op("Conv", $"{name}.in{i}", inputs, n => ConvAttributes(n, conv, shape));
            sum = sum is null ? y : g.Op("Add", $"{name}.sum{i}", [sum, y]);
        }
        return Activation(name + ".act", sum!, unit.Activation);
    }

    /// <summary>conv → BN without the activation (SHB and SubEbb add shortcuts first).</summary>
    public string ConvBn(string name, string x, ConvBnAct unit, string? mask = null, long maskScale = 1)
    {
        // A frame-normalized BN has nothing to fold (the statistics are each frame's own): the conv carries
        // s (and its bias), then InstanceNormalization applies γ, β and ε per frame.
        var perFrame = unit.NormMode == BatchNormMode.Frame ? unit.Norm : null;
        if (perFrame is not null && mask is not null)
            throw new NotSupportedException($"{name}: a masked conv cannot be frame-normalized (its kernel skips inactive rows)");
        var folded = perFrame is null ? unit.Norm : null;
        var y = unit.Conv switch
        {
            BinaryConv2d binary => g.BinaryConv(name, x, FoldedBinaryConv.Fold(binary, folded), mask, maskScale),
            Conv2d conv => MaskFullPrecision(name, FullConv(name, x, conv, folded), mask, maskScale),
            var other => throw new NotSupportedException($"{name}: conv module {other.GetType().Name}"),
        };
        if (perFrame is null) return y;
        long c = perFrame.weight!.shape[0];
        return g.Op("InstanceNormalization", name + ".norm",
            [y, g.Weights(name + ".norm.scale", TensorData.Floats(perFrame.weight!), c), g.Weights(name + ".norm.bias", TensorData.Floats(perFrame.bias!), c)],
            n => n.Attribute("epsilon", (float)perFrame.eps));
    }

    /// <summary>A conv created by LayerFactory.Conv without BN (SE, LR-ASPP gate, ConvGRU, DGF, projections).</summary>
    public string BareConv(string name, string x, nn.Module<Tensor, Tensor> conv) => conv switch
    {
        BinaryConv2d binary => g.BinaryConv(name, x, FoldedBinaryConv.Fold(binary, null)),
        Conv2d full => FullConv(name, x, full, null),
        _ => throw new NotSupportedException($"{name}: conv module {conv.GetType().Name}"),
    };

    public string Activation(string name, string x, nn.Module<Tensor, Tensor> act) => act switch
    {
        Identity => x,
        ReLU => g.Op("Relu", name, [x]),
        // torch.hardswish(x) = x·relu6(x + 3)/6, ONNX HardSwish (opset 14) is the same function.
        Hardswish => g.Op("HardSwish", name, [x]),
        RPReLU rp => RPReLU(name, x, rp),
        _ => throw new NotSupportedException($"{name}: activation {act.GetType().Name}"),
    };

    /// <summary>ReActNet's RPReLU: x + b₁ → PReLU (per-channel slope) → + b₂.</summary>
    private string RPReLU(string name, string x, RPReLU act)
    {
        var shiftIn = ModuleTree.Child<LearnableBias>(act, "shift_in").Shift;
        var prelu = ModuleTree.Child<PReLU>(act, "prelu");
        var shiftOut = ModuleTree.Child<LearnableBias>(act, "shift_out").Shift;
        long c = shiftIn.shape[1];
        var a = g.Op("Add", name + ".shift_in", [x, g.Weights(name + ".shift_in.b", TensorData.Floats(shiftIn), 1, c, 1, 1)]);
        // torch's PReLU slope is [C]; ONNX PRelu broadcasts unidirectionally, so [C,1,1] lines up with NCHW.
        var p = g.Op("PRelu", name + ".prelu", [a, g.Weights(name + ".prelu.slope", TensorData.Floats(ModuleTree.Parameter(prelu, "weight")), c, 1, 1)]);
        return g.Op("Add", name + ".shift_out", [p, g.Weights(name + ".shift_out.b", TensorData.Floats(shiftOut), 1, c, 1, 1)]);
    }

    /// <summary>
    /// Conv (+ BN folded): W' = W·γ/√(σ²+ε) per output channel, b' = β + (b − μ)·γ/√(σ²+ε). Folding is done
    /// in double and rounded once, so the only difference to torch's two-step eval is float rounding.
    /// </summary>
    private string FullConv(string name, string x, Conv2d conv, BatchNorm2d? bn)
    {
        var shape = ModuleTree.Parameter(conv, "weight").shape;
        if (!_written.TryGetValue(conv, out var initializers))
        {
            var (w, b) = FoldBatchNorm(conv, bn);
            initializers = (g.Weights(name + ".weight", w, shape), g.Weights(name + ".bias", b, shape[0]));
            _written[conv] = initializers;
        }
        return g.Op("Conv", name, [x, initializers.Weight, initializers.Bias], n => ConvAttributes(n, conv, shape));
    }

    private static void ConvAttributes(BiVM.Graph.NodeBuilder n, Conv2d conv, long[] shape)
    {
        long k = shape[2];
        long stride = conv.stride[0], dilation = conv.dilation[0], groups = conv.groups;
        // Every conv of src/Model uses ConvSpec's "same" padding, (k − 1)/2·dilation.
        long pad = (k - 1) / 2 * dilation;
        n.Attribute("kernel_shape", k, shape[3])
            .Attribute("strides", stride, stride)
            .Attribute("pads", pad, pad, pad, pad)
            .Attribute("dilations", dilation, dilation)
            .Attribute("group", groups);
    }

    private static (float[] Weight, float[] Bias) FoldBatchNorm(Conv2d conv, BatchNorm2d? bn)
    {
        var weight = ModuleTree.Parameter(conv, "weight");
        var shape = weight.shape;
        long cout = shape[0], perOut = shape[1] * shape[2] * shape[3];
        var w = TensorData.Floats(weight);
        var b = conv.named_parameters(recurse: false).Any(p => p.name == "bias")
            ? TensorData.Floats(ModuleTree.Parameter(conv, "bias"))
            : new float[cout];
        var wOut = new float[w.Length];
        var bOut = new float[cout];
        double[] scale = Enumerable.Repeat(1.0, (int)cout).ToArray(), shift = new double[cout];
        if (bn is not null)
        {
            var gamma = TensorData.Floats(bn.weight!);
            var beta = TensorData.Floats(bn.bias!);
            var mean = TensorData.Floats(bn.running_mean!);
            var variance = TensorData.Floats(bn.running_var!);
            for (int c = 0; c < cout; c++)
            {
                scale[c] = gamma[c] / Math.Sqrt(variance[c] + bn.eps);
                shift[c] = beta[c] - mean[c] * scale[c];
            }
        }
        for (int c = 0; c < cout; c++)
        {
            for (long i = 0; i < perOut; i++) wOut[c * perOut + i] = (float)(w[c * perOut + i] * scale[c]);
            bOut[c] = (float)(b[c] * scale[c] + shift[c]);
        }
        return (wOut, bOut);
    }

    /// <summary>
    /// SHB's masked 3×3 in the 32-bit BiVM: conv·up^k(mask), as in training (the binary model uses
    /// SparseBinaryConv2d instead). Nearest upsampling by repetition, then crop (model-contract.md).
    /// </summary>
    private string MaskFullPrecision(string name, string y, string? mask, long maskScale)
    {
        if (mask is null) return y;
        var up = MaskUpsampler.Upsample(g, name + ".mask", mask, maskScale, y);
        return g.Op("Mul", name + ".apply_mask", [y, up]);
    }
}
