using BiVM.Contracts;
using BiVM.Graph;
using BiVM.Model;
using BiVM.Model.Binarization;
using Google.Protobuf;
using Onnx;
using Xunit.Abstractions;

namespace BiVM.Export.Tests;

/// <summary>
/// The glue fusion (<see cref="GlueFusion"/>) is exact: over a sequence with the recurrent state carried, the fused
/// file gives the same bits as the unfused export and as the lowered (standard ops) export, for every output and for
/// every binary conv's output (so no sign taken by a binary layer moved); and the shipped models/bivm.onnx (fused)
/// gives the same bits as its unfused form. The one exception is the DGF's fused tail (GuidedUpsample, run when
/// downsample_ratio ≠ 1): it follows ORT's float order but is only promised within 1e-5 of the standard ops, so
/// fgr and pha are compared within 1e-5 there (the log says how many values were bit-identical).
/// </summary>
public sealed class GlueFusionTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData("bivm", BatchNormMode.Frame, 64, 96, 1.0)]
    [InlineData("bivm", BatchNormMode.Frame, 288, 512, 1.0)]
    [InlineData("bivm", BatchNormMode.Batch, 65, 97, 0.5)]
    [InlineData("rvm-react", BatchNormMode.Frame, 64, 64, 1.0)]
    public void Fused_file_is_bit_identical_to_unfused_and_lowered(string family, BatchNormMode normalization, int height, int width, double ratio)
    {
        using var network = TestNetworks.Create(ModelFamilyNames.Parse(family), normalization: normalization);
        var exported = MattingExporter.Export(network);
        var fused = exported.Fused();
        var lowered = MattingExporter.Export(network, new ExportOptions { Lowered = true });
        int chains = fused.NodeCounts().GetValueOrDefault($"{BinaryConvSchema.Domain}.{BinaryConvSchema.ShortcutRPReLU}");
        Assert.True(chains > 0, "nothing was fused");
        Assert.Equal(0, exported.NodeCounts().GetValueOrDefault($"{BinaryConvSchema.Domain}.{BinaryConvSchema.ShortcutRPReLU}"));
        Assert.True(fused.NodeCounts().GetValueOrDefault("PRelu") < exported.NodeCounts()["PRelu"], "PRelu nodes left unfused");
        // Every decoder block's Resize ×2 + crop + Concat (decode3..decode0) is one Upsample2xConcat; Unfuse restores them.
        Assert.Equal(4, fused.NodeCounts().GetValueOrDefault($"{BinaryConvSchema.Domain}.{BinaryConvSchema.Upsample2xConcat}"));
        var restored = GlueFusion.Unfuse(fused.Model);
        Assert.DoesNotContain(restored.Graph.Node, n => n.Domain == BinaryConvSchema.Domain && n.OpType != BinaryConvSchema.BinaryConv2d && n.OpType != BinaryConvSchema.SparseBinaryConv2d);
        // Some glue hands its packed bits to the next binary conv; fusing the fused file again finds nothing.
        Assert.Contains(fused.Model.Graph.Node, n => n.OpType == BinaryConvSchema.BinaryConv2d && n.Input.Count > BinaryConvSchema.InputXPacked);
        var again = GlueFusion.Apply(fused.Model);
        Assert.Equal((0, 0), (again.Fused, again.PackedHandOffs));
        Assert.Equal(1, GuidedUpsampleFusion.Count(fused.Model));
        Assert.Equal(1, GuidedUpsampleFusion.Count(again.Model)); // the DGF tail: fused once, nothing more to fuse
        log.WriteLine($"{family} {normalization}: {chains} chains fused, nodes {exported.Model.Graph.Node.Count} -> {fused.Model.Graph.Node.Count}");
        float tail = ratio == 1.0 ? 0f : 1e-5f;
        int frames = CompareBitwise(exported.ToBytes(), fused.ToBytes(), height, width, ratio, 3, "unfused vs fused", tailTolerance: tail);
        CompareBitwise(lowered.ToBytes(), fused.ToBytes(), height, width, ratio, 3, "lowered vs fused", tailTolerance: tail);
        CompareBitwise(restored.ToByteArray(), fused.ToBytes(), height, width, ratio, 3, "Unfuse(fused) vs fused", tailTolerance: tail);
        Assert.Equal(3, frames);
    }

    [Fact]
    public void Binary_conv_outputs_are_unchanged_by_fusion()
    {
        // Exposed binary outputs are graph outputs: the chains after them still fuse (their input is the IN output
        // or the conv output itself, which is kept), and every exposed conv output must match bit for bit.
        using var network = TestNetworks.Create(ModelFamily.Bivm, normalization: BatchNormMode.Frame);
        var exported = MattingExporter.Export(network, new ExportOptions { ExposeBinaryOutputs = true });
        var fused = exported.Fused();
        Assert.True(fused.NodeCounts().GetValueOrDefault($"{BinaryConvSchema.Domain}.{BinaryConvSchema.ShortcutRPReLU}") > 0);
        CompareBitwise(exported.ToBytes(), fused.ToBytes(), 64, 64, 1.0, 2, "binary outputs, unfused vs fused", allOutputs: true);
    }

    [Fact]
    public void Fp32_rvm_stays_standard_onnx()
    {
        // The FP32 RVM is the reference users compare against: it has the same decoder glue, but no ai.bivm op.
        // (What bivm export --family rvm writes: the default export is Fused(), which used to throw here.)
        using var network = TestNetworks.Create(ModelFamily.Rvm);
        var exported = MattingExporter.Export(network);
        var (model, chains, handOffs) = GlueFusion.Apply(exported.Model);
        Assert.Equal((0, 0), (chains, handOffs));
        var fused = exported.Fused();
        foreach (var graph in new[] { model.Graph, fused.Model.Graph })
        {
            Assert.DoesNotContain(graph.Node, n => n.Domain == BinaryConvSchema.Domain);
            Assert.Contains(graph.Node, n => n.OpType == "Resize");
        }
        Assert.Equal(exported.Model.Graph.Node.Count, fused.Model.Graph.Node.Count);
    }

    [Theory]
    [InlineData(144, 256, 1.0, 4)]
    [InlineData(288, 512, 1.0, 3)]
    [InlineData(145, 259, 0.5, 3)]
    public void Shipped_bivm_is_fused_and_matches_its_unfused_form_bit_for_bit(int height, int width, double ratio, int frames)
    {
        var path = Path.Combine(RepositoryRoot(), "models", "bivm.onnx");
        var shipped = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        // Main graph and the DGF's If branch, whose RPReLU chains are fused too.
        int chains = AllNodes(shipped.Graph).Count(n => n.OpType == BinaryConvSchema.ShortcutRPReLU);
        Assert.True(chains > 0, "models/bivm.onnx is not fused (bivm export --fuse)");
        Assert.Contains(AllNodes(shipped.Graph).Except(shipped.Graph.Node), n => n.OpType == BinaryConvSchema.ShortcutRPReLU);
        int handOffs = AllNodes(shipped.Graph).Count(n => n.OpType == BinaryConvSchema.BinaryConv2d && n.Input.Count > BinaryConvSchema.InputXPacked);
        Assert.True(handOffs > 0, "models/bivm.onnx hands no packed input to a binary conv");
        var again = GlueFusion.Apply(shipped);
        Assert.Equal((0, 0), (again.Fused, again.PackedHandOffs));
        int upsamples = shipped.Graph.Node.Count(n => n.OpType == BinaryConvSchema.Upsample2xConcat);
        Assert.True(upsamples == 4, $"models/bivm.onnx has {upsamples} {BinaryConvSchema.Upsample2xConcat} nodes, expected one per decoder block (bivm export --fuse)");
        var unfused = GlueFusion.Unfuse(shipped);
        Assert.DoesNotContain(AllNodes(unfused.Graph), n => n.OpType is BinaryConvSchema.ShortcutRPReLU or BinaryConvSchema.Upsample2xConcat || n.Input.Count > BinaryConvSchema.InputXPacked);
        var refused = GlueFusion.Apply(unfused);
        Assert.Equal((chains, handOffs), (refused.Fused, refused.PackedHandOffs));
        Assert.Equal(upsamples, refused.Model.Graph.Node.Count(n => n.OpType == BinaryConvSchema.Upsample2xConcat));
        log.WriteLine($"models/bivm.onnx: {handOffs} packed hand-offs");
        log.WriteLine($"models/bivm.onnx: {chains} ShortcutRPReLU nodes");
        CompareBitwise(unfused.ToByteArray(), shipped.ToByteArray(), height, width, ratio, frames, $"shipped {width}x{height} r = {ratio}: unfused vs fused");
    }

    [Theory]
    [InlineData("bivm.onnx", 1080, 1920, 0.25)]
    [InlineData("bivm.onnx", 288, 512, 0.5)]
    [InlineData("rvm-react.onnx", 288, 512, 0.5)]
    public void Shipped_models_fuse_the_DGF_tail_and_match_their_unfused_form(string file, int height, int width, double ratio)
    {
        var shipped = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(RepositoryRoot(), "models", file)));
        Assert.Equal(1, GuidedUpsampleFusion.Count(shipped));
        Assert.Equal(0, GuidedUpsampleFusion.Apply(shipped.Clone())); // fused already: nothing left to fuse
        var unfused = GlueFusion.Unfuse(shipped);
        Assert.Equal(0, GuidedUpsampleFusion.Count(unfused));
        Assert.DoesNotContain(LoweredModel.From(shipped).Graph.Node, n => n.Domain == BinaryConvSchema.Domain);
        Assert.Equal(1, GuidedUpsampleFusion.Count(GlueFusion.Apply(unfused).Model));
        CompareBitwise(unfused.ToByteArray(), shipped.ToByteArray(), height, width, ratio, 3, $"{file} {width}x{height} r={ratio}: unfused vs fused", tailTolerance: 1e-5f);
    }

    /// <summary>
    /// Runs both files over the same frames (state carried) and asks every output to be identical; fgr and pha within
    /// <paramref name="tailTolerance"/>.
    /// </summary>
    private int CompareBitwise(byte[] a, byte[] b, int height, int width, double ratio, int frames, string label, bool allOutputs = false, float tailTolerance = 0f)
    {
        using var first = new OrtMatting(a);
        using var second = new OrtMatting(b);
        var shape = new[] { 1, 3, height, width };
        int t = 0;
        long values = 0, differing = 0;
        foreach (var frame in Sequences.Frames(frames, height, width))
        {
            var x = first.Step(frame, shape, (float)ratio);
            var y = second.Step(frame, shape, (float)ratio);
            var names = allOutputs ? x.Values.Keys.ToList() : MattingContract.Outputs.ToList();
            Assert.True(names.Count >= MattingContract.Outputs.Count());
            foreach (var name in names)
            {
                Assert.Equal(x.Shapes[name], y.Shapes[name]);
                var (u, v) = (x[name], y[name]);
                float tolerance = name is MattingContract.Foreground or MattingContract.Alpha ? tailTolerance : 0f;
                for (int i = 0; i < u.Length; i++)
                {
                    if (u[i] == v[i] || float.IsNaN(u[i]) && float.IsNaN(v[i])) continue;
                    if (Math.Abs(u[i] - v[i]) > tolerance) Assert.Fail($"{label}: frame {t}, {name}[{i}] = {u[i]:R} vs {v[i]:R}");
                    differing++;
                }
                values += u.Length;
            }
            t++;
        }
        log.WriteLine($"{label}: {values - differing} of {values} values over {t} frames identical, {differing} within {tailTolerance:G3}");
        return t;
    }

    private static IEnumerable<NodeProto> AllNodes(GraphProto graph) =>
        graph.Node.SelectMany(n => n.Attribute.Where(a => a.G is not null).SelectMany(a => AllNodes(a.G)).Prepend(n));

    private static string RepositoryRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "BiVM.Onnx.sln"))) dir = Path.GetDirectoryName(dir) ?? throw new InvalidOperationException("no BiVM.Onnx.sln above the test");
        return dir;
    }
}
