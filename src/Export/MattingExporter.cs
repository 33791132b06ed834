using System.Reflection;
using BiVM.Contracts;
using BiVM.Graph;
using BiVM.Model;
using BiVM.Model.Decoder;
using BiVM.Model.Networks;
using Onnx;
using static TorchSharp.torch;

namespace BiVM.Export;

/// <summary>
/// Writes a <see cref="MattingNetwork"/> (rvm, rvm-react, bivm, bivm 32-bit) to ONNX opset 17 with the graph
/// I/O of docs/model-contract.md, by walking its module tree and emitting, for each module, the ops of its
/// forward in eval mode. One frame per call (T = 1), dynamic B/H/W, every output with a declared shape.
/// </summary>
/// <remarks>
/// downsample_ratio: the graph resizes by the runtime factor (Resize, scales [1, 1, r, r], linear,
/// pytorch_half_pixel, as RVM's export) and runs the Deep Guided Filter inside an <c>If</c> on r ≠ 1. At r = 1
/// the Resize is the identity (every sample falls on a source pixel with weight 1) and the If skips the DGF,
/// exactly like MattingNetwork.forward, so the file gives TorchSharp's numbers for every r; RVM's official
/// files instead always run the DGF, which at r = 1 changes the output and costs a full-resolution pass.
/// </remarks>
public static class MattingExporter
{
    private const TensorProto.Types.DataType F32 = TensorProto.Types.DataType.Float;

    public static ExportedModel Export(MattingNetwork network, ExportOptions? options = null)
    {
        options ??= new ExportOptions();
        var config = network.Config;
        // A network part-way through progressive binarization computes a blend no operator writes: exporting it as
        // the 1-bit network would silently give other numbers than the network in hand.
        if (BiVM.Model.Binarization.ProgressiveBinarization.Of(network) is var binarization and < 1)
            throw new InvalidOperationException($"the network is binarized to β = {binarization:G3}: only a fully 1-bit network (β = 1) exports");
        using var _ = no_grad();
        var g = new ExportGraph($"{config.Family.ToCliName()}{(config.FullPrecision ? "-fp32" : "")}", options.Lowered);
        var convs = new ConvWriter(g);
        var b = g.Builder;

        b.Input(MattingContract.Source, F32, "batch", 3, "height", "width");
        for (int k = 0; k < 4; k++)
        {
            // Fully dynamic: the first frame's state is a [1,1,1,1] zero tensor that broadcasts to the real shape.
            string r = MattingContract.StateInputs[k];
            b.Input(r, F32, $"{r}_batch", $"{r}_channels", $"{r}_height", $"{r}_width");
        }
        b.Input(MattingContract.DownsampleRatio, F32, 1);

        string src = MattingContract.Source, ratio = MattingContract.DownsampleRatio;
        var small = Resampling.ByFactor(g, "downsample", src, ratio);
        var features = new EncoderWriter(g, convs).Encoder("backbone", network.Backbone, small);
        var f4 = new EncoderWriter(g, convs).LrAspp("aspp", ModuleTree.Child<BiVM.Model.Encoder.LrAspp>(network, "aspp"), features.F4);
        var decoded = new DecoderWriter(g, convs).Decoder("decoder", network.Decoder, small, features, f4, MattingContract.StateInputs);
        var projected = convs.BareConv("project_mat", decoded.Hidden, ModuleTree.Child<nn.Module<Tensor, Tensor>>(network, "project_mat"));
        var parts = g.Ops("Split", "project_mat.split", [projected, g.Int64s("split_3_1", [3L, 1L], 2)], 2, n => n.Attribute("axis", 1L));

        // if r == 1: (fgr, pha) unchanged, else: the Deep Guided Filter.
        var isOne = g.Op("Equal", "refiner.ratio_is_one", [ratio, g.Scalar(1f)]);
        const string choice = "refiner.if_downsampled";
        var skip = g.Branch(choice + ".then", () => [g.Op("Identity", "refiner.skip.fgr", [parts[0]]), g.Op("Identity", "refiner.skip.pha", [parts[1]])]);
        int binaryOutsideIf = g.BinaryNodes.Count;
        var refine = g.Branch(choice + ".else", () =>
        {
            var refined = new RefinerWriter(g, convs).Refine("refiner", ModuleTree.Child<DeepGuidedFilter>(network, "refiner"), src, small, parts[0], parts[1], decoded.Hidden);
            return [refined.Fgr, refined.Pha];
        });
        var chosen = g.Ops("If", choice, [isOne], 2, n => n.Attribute("then_branch", skip).Attribute("else_branch", refine));

        var fgr = g.Op("Add", "fgr.residual", [chosen[0], src]);
        g.Builder.Node("Clip", [fgr, g.Scalar(0f), g.Scalar(1f)], [MattingContract.Foreground], "fgr.clamp");
        g.Builder.Node("Clip", [chosen[1], g.Scalar(0f), g.Scalar(1f)], [MattingContract.Alpha], "pha.clamp");
        for (int k = 0; k < 4; k++)
            g.Builder.Node("Identity", [decoded.States[k]], [MattingContract.StateOutputs[k]], MattingContract.StateOutputs[k] + ".out");

        b.Output(MattingContract.Foreground, F32, "batch", 3, "height", "width");
        b.Output(MattingContract.Alpha, F32, "batch", 1, "height", "width");
        var stateChannels = network.StateChannels;
        for (int k = 0; k < 4; k++)
        {
            string r = MattingContract.StateOutputs[k];
            b.Output(r, F32, "batch", stateChannels[k], $"{r}_height", $"{r}_width");
        }
        if (options.ExposeBinaryOutputs)
            // Only nodes of the main graph: the DGF's live in the If branch, which outer outputs cannot reference.
            foreach (var node in g.BinaryNodes.Take(binaryOutsideIf)) b.Output(node.Output, F32, "batch", node.OutChannels, $"{node.Node}_h", $"{node.Node}_w");

        var metadata = Metadata(network, options);
        foreach (var (key, value) in metadata) b.Metadata(key, value);
        var model = b.Build();
        model.ProducerVersion = ProducerVersion;
        model.DocString = $"BiVM.Onnx export of {config.Family.ToCliName()}: RVM matting contract (src, r1i..r4i, downsample_ratio → fgr, pha, r1o..r4o).";
        UnnameStateInputDims(model);
        return new ExportedModel(model, g.BinaryNodes, metadata);
    }

    /// <summary>
    /// r1i..r4i get dims with neither a value nor a name. With names, ONNX Runtime's symbolic shape inference
    /// propagates them through the state's Expand into the decoder and unifies dims that are only equal after
    /// broadcasting (the first frame's state is [1,1,1,1]); its memory planner then reuses buffers of the
    /// wrong size. Unknown dims cannot be unified with anything, which is the truth for these inputs.
    /// </summary>
    private static void UnnameStateInputDims(ModelProto model)
    {
        foreach (var input in model.Graph.Input.Where(i => MattingContract.StateInputs.Contains(i.Name)))
        {
            var dims = input.Type.TensorType.Shape.Dim;
            int rank = dims.Count;
            dims.Clear();
            for (int i = 0; i < rank; i++) dims.Add(new TensorShapeProto.Types.Dimension());
        }
    }

    /// <summary>The assembly's informational version (e.g. 0.1.0+commit).</summary>
    public static string ProducerVersion { get; } =
        typeof(MattingExporter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    private static IReadOnlyList<(string Key, string Value)> Metadata(MattingNetwork network, ExportOptions options) =>
    [
        ("model_family", network.Config.Family.ToCliName()),
        ("full_precision", network.Config.FullPrecision ? "true" : "false"),
        ("variant", options.Lowered ? "lowered" : "ai.bivm"),
        ("training_seed", options.TrainingSeed?.ToString() ?? "unknown"),
        ("training_steps", options.TrainingSteps?.ToString() ?? "unknown"),
        ("weights", options.WeightsSource),
        ("shb_mask_densities", string.Join(",", network.Config.ShbMaskDensities.Select(d => d.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))),
        ("dgf_at_ratio_one", "skipped (If), as in the TorchSharp forward"),
        ("producer", $"BiVM.Onnx {ProducerVersion}"),
    ];
}
