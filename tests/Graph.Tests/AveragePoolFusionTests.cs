using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph.Tests;

/// <summary>
/// AveragePoolFusion (run by GlueFusion.Apply on graphs with ai.bivm ops): the source pyramid's 2×2 pools (three planes
/// traced to the graph input through Resize and pools) become AveragePool2x in MLAS's NCHW order, a 16-channel pool in
/// its NCHWc order (row by row), as does a 32-channel pool traced through Split, Mul and Concat; pools whose order depends
/// on the host (8 channels), over unknown channel counts, or of
/// another window, stride, padding or counting stay; Unfuse gives the AveragePool back. (Values: AveragePool2xTests against ONNX Runtime, GlueFusionTests on the shipped models.)
/// </summary>
public sealed class AveragePoolFusionTests
{
    private const TensorProto.Types.DataType F32 = TensorProto.Types.DataType.Float;

    private static ModelProto Graph(bool binary)
    {
        var g = new OnnxGraphBuilder("pyramid");
        g.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
        g.Input("src", F32, 1, 3, 64, 64);
        g.Input("features", F32, 1, 16, 32, 32);
        g.Input("features8", F32, 1, 8, 32, 32);
        g.Input("unknown", F32, 1, -1, 32, 32);
        g.Input("scales", F32, 4);
        g.Node("Resize", ["src", "", "scales"], ["small"], "downsample").Attribute("mode", "linear");
        NodeBuilder Pool(string x, string y, long ceil = 1, long includePad = 0, long kernel = 2, long stride = 2) =>
            g.Node("AveragePool", [x], [y], y).Attribute("kernel_shape", kernel, kernel).Attribute("strides", stride, stride)
                .Attribute("ceil_mode", ceil).Attribute("count_include_pad", includePad);
        Pool("small", "down2");
        Pool("down2", "down4", ceil: 0);
        Pool("features", "features.down2");           // 16 channels: ONNX Runtime's NCHWc layout, summed row by row
        Pool("features8", "features8.down2");         // 8 channels: NCHWc on AVX2 hosts (block 8), not on AVX-512 ones (16)
        Pool("unknown", "unknown.down2");             // channels unknown
        Pool("src", "counted", includePad: 1);        // cut windows would count their padding
        Pool("src", "wide", kernel: 3);
        Pool("src", "overlapping", stride: 1);
        g.Node("AveragePool", ["src"], ["padded"], "padded").Attribute("kernel_shape", 2L, 2L).Attribute("strides", 2L, 2L).Attribute("pads", 1L, 1L, 1L, 1L);
        // Channels through a channel Split (sizes given, or even), a channel Concat and a Mul by a per-channel factor:
        // 32 = 16 + 16 (NCHWc order); a Concat with a part of unknown channels stays.
        g.Input("features32", F32, 1, 32, 32, 32);
        g.Input("gate", F32, 1, 16, 1, 1);
        g.Initializer(Tensors.Int64("halves", [16L, 16L], 2));
        g.Node("Split", ["features32", "halves"], ["half0", "half1"], "split").Attribute("axis", 1L);
        g.Node("Split", ["features32"], ["even0", "even1"], "even").Attribute("axis", 1L);
        g.Node("Split", ["features32"], ["uneven0", "uneven1"], "uneven").Attribute("axis", 1L).Attribute("split", 8L, 24L);
        g.Node("Split", ["features32"], ["rows0", "rows1"], "rows");  // axis 0 (the default): not channels
        g.Node("Mul", ["even1", "gate"], ["gated"], "gating");
        g.Node("Concat", ["half0", "gated"], ["cat"], "cat").Attribute("axis", 1L);
        g.Node("Concat", ["half1", "unknown"], ["cat.unknown"], "cat.unknown").Attribute("axis", 1L);
        Pool("cat", "cat.down2");
        Pool("cat.unknown", "cat.unknown.down2");
        Pool("uneven1", "uneven.down2");  // 24 channels by the attribute: the order depends on the host, stays
        Pool("uneven0", "uneven0.down2"); // 8 channels: likewise
        Pool("rows0", "rows.down2");      // a split of rows: channels unknown, stays
        if (binary) g.Node(BinaryConvSchema.BinaryConv2d, ["down4", "scales", "scales", "scales"], ["marker"], "marker", BinaryConvSchema.Domain);
        foreach (var output in new[] { "down2", "down4", "features.down2", "features8.down2", "unknown.down2", "counted", "wide", "overlapping", "padded", "cat.down2", "cat.unknown.down2", "uneven.down2", "uneven0.down2", "rows.down2" })
            g.Output(output, F32, 1, -1, -1, -1);
        return ModelProto.Parser.ParseFrom(g.ToBytes());
    }

    [Fact]
    public void The_source_pyramids_pools_become_the_op_and_the_others_stay()
    {
        var fused = GlueFusion.Apply(Graph(binary: true)).Model;
        var pools = fused.Graph.Node.Where(AveragePoolFusion.IsFused).ToList();
        Assert.Equal(["down2", "down4", "features.down2", "cat.down2"], pools.Select(n => n.Name));
        Assert.Equal(1, pools[0].Attribute.Single(a => a.Name == BinaryConvSchema.PoolCeilMode).I);
        Assert.DoesNotContain(pools[1].Attribute, a => a.Name == BinaryConvSchema.PoolCeilMode && a.I != 0);
        Assert.Equal(["small"], pools[0].Input);
        Assert.Equal(["down4"], pools[1].Output);
        // Three planes in MLAS's NCHW order, sixteen row by row as its NCHWc kernels sum them; eight left to the host.
        Assert.Equal([false, false, true, true], pools.Select(n => n.Attribute.Any(a => a.Name == BinaryConvSchema.PoolRowOrder && a.I == 1)));
        Assert.Equal(10, fused.Graph.Node.Count(n => n.OpType == "AveragePool"));
        Assert.Contains("4 AveragePool 2×2 as AveragePool2x", fused.MetadataProps.Single(m => m.Key == GlueFusion.MetadataKey).Value);
    }

    [Fact]
    public void A_model_without_binary_ops_stays_standard_onnx()
    {
        var fused = GlueFusion.Apply(Graph(binary: false)).Model;
        Assert.DoesNotContain(fused.Graph.Node, AveragePoolFusion.IsFused);
    }

    [Fact]
    public void Unfuse_gives_the_average_pool_back()
    {
        var unfused = GlueFusion.Unfuse(GlueFusion.Apply(Graph(binary: true)).Model);
        Assert.DoesNotContain(unfused.Graph.Node, AveragePoolFusion.IsFused);
        var down2 = unfused.Graph.Node.Single(n => n.Name == "down2");
        Assert.Equal("AveragePool", down2.OpType);
        Assert.Equal("", down2.Domain);
        Assert.Equal([2L, 2L], down2.Attribute.Single(a => a.Name == "kernel_shape").Ints);
        Assert.Equal([2L, 2L], down2.Attribute.Single(a => a.Name == "strides").Ints);
        Assert.Equal(1, down2.Attribute.Single(a => a.Name == "ceil_mode").I);
        Assert.Equal(0, down2.Attribute.Single(a => a.Name == "count_include_pad").I);
        Assert.Equal(0, unfused.Graph.Node.Single(n => n.Name == "down4").Attribute.Single(a => a.Name == "ceil_mode").I);
    }
}
