using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.BitPacking;

namespace BiVM.CustomOps.Tests.BinaryConv2d;

public class ReferenceBinaryConv2dTests
{
    public static TheoryData<int> ShapeIndices() => new(Enumerable.Range(0, ConvCase.Shapes().Count()));

    [Theory]
    [MemberData(nameof(ShapeIndices))]
    public void Reference_equals_float_conv_on_plus_minus_one_data(int shape)
    {
        var c = new ConvCase(ConvCase.Shapes().ElementAt(shape), seed: shape);
        var packed = ActivationPacker.Pack(c.X, c.Tau, c.P.Batch, c.P.InChannels, c.P.InHeight, c.P.InWidth);
        Assert.Equal(c.OracleDots(), ReferenceBinaryConv2d.Run(c.P, packed, c.PackedWeights));
    }
}
