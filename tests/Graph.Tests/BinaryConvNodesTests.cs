using BiVM.Contracts;
using Onnx;

namespace BiVM.Graph.Tests;

/// <summary>The custom node is written in the schema's input order, which the ORT kernels read by position.</summary>
public class BinaryConvNodesTests
{
    private static NodeProto Write(float[]? bias, string? mask)
    {
        var g = new OnnxGraphBuilder("g");
        g.Input("x", TensorProto.Types.DataType.Float, 1, 64, 4, 4);
        if (mask is not null) g.Input(mask, TensorProto.Types.DataType.Uint8, 1, 1, 2, 2);
        return BinaryConvNodes.AddCustom(g, "conv", "x", "y", new ulong[2 * 3 * 3], [2, 3, 3, 1], [1f, 1f], new float[64], bias,
            BinaryConvAttributes.Square(3), mask, maskScale: 2).Proto;
    }

    [Fact]
    public void Dense_node_without_bias_has_four_inputs_and_no_mask_scale()
    {
        var node = Write(bias: null, mask: null);
        Assert.Equal((BinaryConvSchema.Domain, BinaryConvSchema.BinaryConv2d), (node.Domain, node.OpType));
        Assert.Equal(["x", "conv.W", "conv.alpha", "conv.tau"], node.Input);
        Assert.DoesNotContain(node.Attribute, a => a.Name == BinaryConvSchema.MaskScale);
    }

    [Fact]
    public void Dense_node_with_bias_puts_it_at_the_bias_position()
    {
        var node = Write(bias: [0.5f, -0.5f], mask: null);
        Assert.Equal(BinaryConvSchema.InputCount(sparse: false), node.Input.Count);
        Assert.Equal("conv.bias", node.Input[BinaryConvSchema.InputBias]);
    }

    [Fact]
    public void Sparse_node_without_bias_leaves_the_bias_name_empty_before_the_mask()
    {
        var node = Write(bias: null, mask: "m");
        Assert.Equal(BinaryConvSchema.SparseBinaryConv2d, node.OpType);
        Assert.Equal(BinaryConvSchema.InputCount(sparse: true), node.Input.Count);
        Assert.Equal("", node.Input[BinaryConvSchema.InputBias]);
        Assert.Equal("m", node.Input[BinaryConvSchema.InputMask]);
        Assert.Equal(2, node.Attribute.Single(a => a.Name == BinaryConvSchema.MaskScale).I);
    }
}
