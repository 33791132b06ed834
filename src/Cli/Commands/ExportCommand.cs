using System.CommandLine;
using System.Globalization;
using BiVM.Contracts;
using BiVM.Export;
using BiVM.Model;
using BiVM.Model.Cost;
using BiVM.Model.Networks;
using BiVM.Training;

namespace BiVM.Cli.Commands;

/// <summary>
/// <c>bivm export --family FAMILY --weights FILE --out FILE [--lowered] [--still] [--no-fuse]</c>: writes a trained network (model.bin
/// with its model.json) to ONNX with the RVM graph I/O (docs/export.md); <c>--still</c> writes the stateless variant for
/// single images (<see cref="StillModel"/>). <c>--random-seed N</c> instead exports freshly
/// initialised weights (for tests and size checks; the file says so in its metadata). The glue between binary layers
/// is fused (<see cref="BiVM.Graph.GlueFusion"/>, bit-identical) unless <c>--no-fuse</c> or <c>--lowered</c>;
/// <c>bivm export --fuse IN.onnx --out OUT.onnx</c> fuses an existing file. The file is written under a
/// temporary name and renamed into place; a summary lists node counts per op type, file size and FLOPs.
/// </summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var family = CliOptions.Family("Model family (not with --fuse).", required: false);
        var weights = new Option<string?>("--weights") { Description = "Trained weights: model.bin with model.json next to it.", HelpName = "FILE" };
        var randomSeed = new Option<long?>("--random-seed") { Description = "Export freshly initialised weights from this seed instead of --weights (untrained; for tests)." };
        var fullPrecision = new Option<bool>("--full-precision") { Description = "With --random-seed: the 32-bit bivm (with --weights, model.json decides)." };
        var output = new Option<string>("--out") { Description = "Output .onnx file.", HelpName = "FILE", Required = true };
        var lowered = new Option<bool>("--lowered") { Description = "Standard ONNX ops only (ai.bivm ops lowered): runs in any ONNX runtime." };
        var still = new Option<bool>("--still") { Description = "A stateless file for single images (src in; fgr, pha out; the first frame's state), for ML.NET's ApplyOnnxModel." };
        var noFuse = new Option<bool>("--no-fuse") { Description = "Keep the glue between binary layers as separate standard ops (Add, PRelu, Mul) instead of fused ai.bivm:ShortcutRPReLU nodes." };
        var fuse = new Option<string?>("--fuse") { Description = "Fuse an existing .onnx file (ai.bivm ops) into --out instead of exporting weights: bit-identical results, fewer nodes.", HelpName = "FILE" };
        var trainingSeed = new Option<long?>("--training-seed") { Description = "Training data seed for the metadata (default: from the run folder's config.json)." };
        var trainingSteps = new Option<long?>("--training-steps") { Description = "Training steps for the metadata (default: from the run folder)." };
        var command = new Command("export", "Export a model to ONNX (ai.bivm custom ops, or --lowered).");
        foreach (var option in new Option[] { family, weights, randomSeed, fullPrecision, output, lowered, still, noFuse, fuse, trainingSeed, trainingSteps }) command.Options.Add(option);
        command.Validators.Add(result =>
        {
            bool fromWeights = result.GetResult(weights) is not null;
            int sources = (fromWeights ? 1 : 0) + (result.GetResult(randomSeed) is not null ? 1 : 0) + (result.GetResult(fuse) is not null ? 1 : 0);
            if (sources != 1)
                result.AddError("give exactly one of --weights FILE, --random-seed N or --fuse FILE");
            else if (result.GetResult(fuse) is not null)
            {
                if (result.GetResult(family) is not null || result.GetValue(lowered) || result.GetValue(still) || result.GetValue(noFuse))
                    result.AddError("--fuse FILE takes only --out (the file already says its family and variant)");
            }
            else if (result.GetResult(family) is null)
                result.AddError("--family is required with --weights or --random-seed");
            if (result.GetValue(fullPrecision) && (result.GetValue(family) != ModelFamily.Bivm || fromWeights))
                result.AddError("--full-precision applies to --family bivm with --random-seed only (a checkpoint's model.json says it)");
        });
        CommandRunner.SetAction(command, (parse, cancel) =>
        {
            var weightsPath = parse.GetValue(weights);
            var outPath = parse.GetValue(output)!;
            OutputPath.RequireFolder("--out", outPath);
            if (parse.GetValue(fuse) is { } existing)
            {
                parse.InvocationConfiguration.Output.Write(FuseFile(existing, outPath));
                return ExitCodes.Ok;
            }
            using var network = Load(parse.GetValue(family), weightsPath, parse.GetValue(randomSeed), parse.GetValue(fullPrecision));
            var found = weightsPath is null ? (null, null) : RunFolder.Provenance(weightsPath);
            var options = new ExportOptions
            {
                Lowered = parse.GetValue(lowered),
                TrainingSeed = parse.GetValue(trainingSeed) ?? found.DataSeed,
                TrainingSteps = parse.GetValue(trainingSteps) ?? found.Steps,
                WeightsSource = weightsPath is null ? $"random initialisation, seed {parse.GetValue(randomSeed)} (untrained)" : Path.GetFullPath(weightsPath),
            };
            cancel.ThrowIfCancellationRequested();
            var exported = MattingExporter.Export(network, options);
            if (!options.Lowered && !parse.GetValue(noFuse)) exported = exported.Fused();
            if (parse.GetValue(still)) exported = exported.ToStill();
            cancel.ThrowIfCancellationRequested();   // the last point before the file is written
            long size = exported.Save(outPath);
            parse.InvocationConfiguration.Output.Write(Summary(network, exported, outPath, size, options));
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary><c>--fuse IN --out OUT</c>: the rewrite applied to a file, written under a temporary name and renamed.</summary>
    private static string FuseFile(string input, string outPath)
    {
        if (!File.Exists(input)) throw new UserInputException($"--fuse: {input} not found");
        Onnx.ModelProto model;
        try { model = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(input)); }
        catch (Google.Protobuf.InvalidProtocolBufferException e) { throw new UserInputException($"--fuse: {input} is not an ONNX file ({e.Message})"); }
        if (model.Graph is null) throw new UserInputException($"--fuse: {input} has no graph");
        int before = model.Graph.Node.Count;
        var (fused, count, handOffs, norms) = BiVM.Graph.GlueFusion.Apply(model);
        long size = new ExportedModel(fused, [], []).Save(outPath);
        int upsamples = fused.Graph.Node.Count(n => n.OpType == BinaryConvSchema.Upsample2xConcat && n.Domain == BinaryConvSchema.Domain);
        int sums = fused.Graph.Node.Count(n => n.OpType == BinaryConvSchema.ShortcutSum && n.Domain == BinaryConvSchema.Domain);
        return string.Create(CultureInfo.InvariantCulture,
            $"wrote {Path.GetFullPath(outPath)}: {count} chains fused into {BinaryConvSchema.ShortcutRPReLU}, {handOffs} packed hand-offs to binary convs added, {norms} InstanceNormalization folded into them, "
            + $"{upsamples} {BinaryConvSchema.Upsample2xConcat} nodes, {sums} {BinaryConvSchema.ShortcutSum} nodes, {BiVM.Graph.GruFusion.Count(fused)} ConvGRUs as {BinaryConvSchema.GruStateConcat} + {BinaryConvSchema.GruGates} + {BinaryConvSchema.GruUpdate} ({BiVM.Graph.ConvGruFusion.Count(fused)} of them with their convs as one {BinaryConvSchema.ConvGru}), {BiVM.Graph.GuidedUpsampleFusion.Count(fused)} {BinaryConvSchema.GuidedUpsample} (the output tail: the DGF's, and alone at downsample 1), {BiVM.Graph.ProjectionFusion.Count(fused)} 1×1 Conv projected by its {BinaryConvSchema.ShortcutRPReLU}, {BiVM.Graph.PointwiseFusion.Count(fused)} 1×1 {BinaryConvSchema.BinaryConv2d} folded into theirs, {BiVM.Graph.SparseFusion.Count(fused)} {BinaryConvSchema.SparseBinaryConv2d} folded into theirs ({BiVM.Graph.SparseHandOffFusion.Count(fused)} handed their input packed, {BiVM.Graph.SparseHandOffFusion.BitsOnly(fused)} ops writing only bits), {BiVM.Graph.YSplitFusion.Count(fused)} {BinaryConvSchema.ShortcutRPReLU} writing the halves a Split made of their Y, {BiVM.Graph.AveragePoolFusion.Count(fused)} AveragePool as {BinaryConvSchema.AveragePool2x}, {BiVM.Graph.StemFusion.Count(fused)} stem as {BinaryConvSchema.Stem}, {BiVM.Graph.IncoherenceFusion.Count(fused)} incoherent mask front as {BinaryConvSchema.Incoherence}, {BiVM.Graph.ChannelMeanFusion.Count(fused)} GlobalAveragePool as {BinaryConvSchema.ChannelMean}, nodes {before} -> {fused.Graph.Node.Count}, file size {size} bytes{Environment.NewLine}");
    }

    private static MattingNetwork Load(ModelFamily family, string? weightsPath, long? seed, bool fullPrecision)
    {
        if (weightsPath is null)
        {
            TorchSharp.torch.manual_seed(seed!.Value);
            var fresh = ModelFactory.Create(family, ModelConfig.For(family, fullPrecision));
            fresh.eval();
            return fresh;
        }
        if (!File.Exists(weightsPath)) throw new UserInputException($"weights {weightsPath} not found");
        var network = ModelCheckpoint.Load(weightsPath);
        if (network.Config.Family != family)
        {
            var actual = network.Config.Family;
            network.Dispose();
            throw new UserInputException($"--family {family.ToCliName()} but {ModelCheckpoint.ConfigPath(weightsPath)} describes {actual.ToCliName()}");
        }
        network.eval();
        return network;
    }

    private static string Summary(MattingNetwork network, ExportedModel exported, string path, long size, ExportOptions options)
    {
        var c = CultureInfo.InvariantCulture;
        var cost = CostCounter.Measure(network, 288, 512);
        var lines = new List<string>
        {
            string.Create(c, $"wrote {Path.GetFullPath(path)}: {network.Config.Family.ToCliName()}{(network.Config.FullPrecision ? " (32-bit)" : "")}, {(options.Lowered ? "lowered (standard ops only)" : "ai.bivm custom ops")}{(exported.Metadata.Any(m => m.Key == "still") ? ", still (src → fgr, pha; no recurrent state)" : "")}"),
            string.Create(c, $"  weights: {options.WeightsSource}"),
            string.Create(c, $"  training data seed {options.TrainingSeed?.ToString(c) ?? "unknown"}, steps {options.TrainingSteps?.ToString(c) ?? "unknown"}"),
            string.Create(c, $"  file size {size} bytes ({size / 1e6:F3} MB), initializers {exported.InitializerBytes} bytes"),
            string.Create(c, $"  FLOPs at 512x288: {cost.Flops / 1e9:F3} G (binary MACs / 64; {cost.Macs / 1e9:F3} GMAC), {cost.Parameters} parameters"),
            "  nodes per op type:",
        };
        lines.AddRange(exported.NodeCounts().Select(kv => string.Create(c, $"    {kv.Key,-28} {kv.Value,5}")));
        lines.Add(string.Create(c, $"  total nodes {exported.NodeCounts().Values.Sum()}"));
        return string.Join(Environment.NewLine, lines) + Environment.NewLine;
    }
}
