using BiVM.Contracts;
using BiVM.Graph;
using BiVM.Model;
using BiVM.Tests.Shared;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using Xunit.Abstractions;

namespace BiVM.Export.Tests;

/// <summary>The file itself: contract I/O with declared shapes, opsets, metadata, the If, loading rules, sizes.</summary>
public sealed class ExportFileTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData("bivm", false)]
    [InlineData("bivm", true)]
    [InlineData("rvm-react", false)]
    [InlineData("rvm", false)]
    public void File_has_the_contract_io_declared_shapes_opsets_and_metadata(string family, bool lowered)
    {
        using var network = TestNetworks.Create(ModelFamilyNames.Parse(family));
        var exported = MattingExporter.Export(network, new ExportOptions { Lowered = lowered, TrainingSeed = 42, TrainingSteps = 1000, WeightsSource = "test" });
        var model = ModelProto.Parser.ParseFrom(exported.ToBytes());
        var graph = model.Graph;

        Assert.Equal(MattingContract.Inputs, graph.Input.Select(i => i.Name));
        Assert.Equal(MattingContract.Outputs, graph.Output.Select(o => o.Name));
        foreach (var output in graph.Output)
        {
            var dims = output.Type.TensorType.Shape.Dim;
            Assert.Equal(4, dims.Count);
            Assert.All(dims, d => Assert.True(d.DimValue > 0 || d.DimParam.Length > 0, $"{output.Name} has an undeclared dim"));
            Assert.Equal("batch", dims[0].DimParam);
        }
        Assert.Equal(["batch", "3", "height", "width"], graph.Output[0].Type.TensorType.Shape.Dim.Select(DimText));
        Assert.Equal(["batch", "1", "height", "width"], graph.Output[1].Type.TensorType.Shape.Dim.Select(DimText));
        Assert.Equal(network.StateChannels, graph.Output.Skip(2).Select(o => o.Type.TensorType.Shape.Dim[1].DimValue));

        var opsets = model.OpsetImport.ToDictionary(o => o.Domain, o => o.Version);
        Assert.Equal(17, opsets[""]);
        var counts = exported.NodeCounts();
        bool binary = family != "rvm";
        if (lowered || !binary)
        {
            Assert.DoesNotContain(counts.Keys, k => k.StartsWith("ai.bivm", StringComparison.Ordinal));
            Assert.False(opsets.ContainsKey("ai.bivm"));
        }
        else
        {
            Assert.Equal(1, opsets["ai.bivm"]);
            Assert.True(counts["ai.bivm.BinaryConv2d"] > 20);
            // SHB: decode3, decode2, decode1 and both output-block convs (table 6).
            Assert.Equal(family == "bivm" ? 5 : 0, counts.GetValueOrDefault("ai.bivm.SparseBinaryConv2d"));
        }
        Assert.Equal(1, counts["If"]);
        var metadata = model.MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal(family, metadata["model_family"]);
        Assert.Equal("false", metadata["full_precision"]);
        Assert.Equal("42", metadata["training_seed"]);
        Assert.Equal("1000", metadata["training_steps"]);
        Assert.Equal(lowered ? "lowered" : "ai.bivm", metadata["variant"]);
        Assert.Equal("BiVM.Onnx", model.ProducerName);
        Assert.False(string.IsNullOrEmpty(model.ProducerVersion));
        log.WriteLine($"{family}{(lowered ? " lowered" : "")}: " + string.Join(", ", counts.Select(kv => $"{kv.Key} {kv.Value}")));
    }

    [Fact]
    public void Custom_op_file_fails_clearly_without_the_ai_bivm_ops_and_the_lowered_file_runs_anywhere()
    {
        using var network = TestNetworks.Create(ModelFamily.Bivm);
        var custom = MattingExporter.Export(network).ToBytes();
        var e = Assert.Throws<OnnxRuntimeException>(() => new OrtMatting(custom, registerOps: false));
        log.WriteLine(e.Message);
        Assert.Contains("ai.bivm", e.Message);
        Assert.Contains("BinaryConv2d", e.Message);

        using var lowered = new OrtMatting(MattingExporter.Export(network, new ExportOptions { Lowered = true }).ToBytes(), registerOps: false);
        var result = lowered.Step(Sequences.Frames(1, 32, 48)[0], [1, 3, 32, 48], 1f);
        Assert.Equal([1, 1, 32, 48], result.Shapes[MattingContract.Alpha]);
    }

    [Fact]
    public void A_network_part_way_through_progressive_binarization_is_refused()
    {
        using var network = TestNetworks.Create(ModelFamily.RvmReact);
        BiVM.Model.Binarization.ProgressiveBinarization.Set(network, 0.5);
        var e = Assert.Throws<InvalidOperationException>(() => MattingExporter.Export(network));
        Assert.Contains("β = 0.5", e.Message);
        BiVM.Model.Binarization.ProgressiveBinarization.Set(network, 1);
        Assert.NotEmpty(MattingExporter.Export(network).ToBytes());
    }

    [Fact]
    public void BiVM_file_is_at_most_1_MB_and_at_least_15_times_smaller_than_RVM()
    {
        var sizes = new Dictionary<string, long>();
        foreach (var family in new[] { "rvm", "rvm-react", "bivm" })
        {
            using var network = TestNetworks.Create(ModelFamilyNames.Parse(family));
            using var folder = new TempFolder("bivm-export-");
            var path = folder.File(family + ".onnx");
            sizes[family] = MattingExporter.Export(network).Save(path);
            Assert.Equal(sizes[family], new FileInfo(path).Length);
            Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, "*.tmp"));
        }
        double ratio = (double)sizes["rvm"] / sizes["bivm"];
        log.WriteLine(string.Join(", ", sizes.Select(kv => $"{kv.Key} {kv.Value} bytes")) + $"; rvm/bivm = {ratio:F1}");
        Assert.True(sizes["bivm"] <= 1_000_000, $"BiVM file {sizes["bivm"]} bytes > 1 MB");
        Assert.True(ratio >= 15, $"RVM/BiVM size ratio {ratio:F1} < 15");
    }

    [Fact]
    public void Downsample_ratio_one_skips_the_refiner_and_below_one_runs_it()
    {
        // Same network and frame: at r = 1 the DGF is skipped (output = clamped projection), at r = 0.5 it runs,
        // so the two mattes differ; both match TorchSharp (NetworkParityTests), this checks the If really branches.
        using var network = TestNetworks.Create(ModelFamily.Rvm);
        var bytes = MattingExporter.Export(network).ToBytes();
        var frame = Sequences.Frames(1, 32, 32)[0];
        using var one = new OrtMatting(bytes);
        using var half = new OrtMatting(bytes);
        var a = one.Step(frame, [1, 3, 32, 32], 1f);
        var b = half.Step(frame, [1, 3, 32, 32], 0.5f);
        Assert.Equal([1, 16, 16, 16], a.Shapes["r1o"]);
        Assert.Equal([1, 16, 8, 8], b.Shapes["r1o"]);
        Assert.Equal(a.Shapes[MattingContract.Alpha], b.Shapes[MattingContract.Alpha]);
        Assert.False(a[MattingContract.Alpha].AsSpan().SequenceEqual(b[MattingContract.Alpha]));
    }

    [Fact]
    public void Rvms_decoder_convs_read_their_parts_without_a_concatenation()
    {
        // [x, f_k, s_k] has 171, 107, 59 and 35 channels: ONNX Runtime's blocked conv needs a multiple of 8 (or fewer
        // than 8), so each decoder conv is one conv per part, summed (ConvWriter.ConvBnActOverParts).
        using var network = TestNetworks.Create(ModelFamily.Rvm);
        var graph = ModelProto.Parser.ParseFrom(MattingExporter.Export(network).ToBytes()).Graph;
        var producers = graph.Node.SelectMany(n => n.Output.Select(o => (o, n))).ToDictionary(p => p.o, p => p.n);
        var initializers = graph.Initializer.ToDictionary(t => t.Name);
        var convs = graph.Node.Where(n => n.OpType == "Conv").ToList();
        Assert.DoesNotContain(convs, c => producers.TryGetValue(c.Input[0], out var p) && p.OpType == "Concat" && p.Name.EndsWith(".concat", StringComparison.Ordinal));
        var parts = convs.Where(c => c.Name.StartsWith("decoder.decode", StringComparison.Ordinal) && c.Name.Contains(".in")).ToList();
        Assert.Equal(3 * 3 + 2, parts.Count);   // decode3..decode1: x, f_k, s_k; decode0's conv1: x, src
        foreach (var conv in parts)
        {
            long cin = initializers[conv.Input[1]].Dims[1];
            Assert.True(cin % 8 == 0 || cin == 3, $"{conv.Name} reads {cin} channels");
        }
        // The 32-bit BiVM's SHB convs and frame-normalized convs keep the concatenation (nothing to split there).
        using var framed = TestNetworks.Create(ModelFamily.Rvm, normalization: BiVM.Model.Binarization.BatchNormMode.Frame);
        Assert.Equal(4, MattingExporter.Export(framed).NodeCounts().GetValueOrDefault("Concat") - MattingExporter.Export(network).NodeCounts().GetValueOrDefault("Concat"));
    }

    private static string DimText(TensorShapeProto.Types.Dimension d) => d.DimParam.Length > 0 ? d.DimParam : d.DimValue.ToString();
}
