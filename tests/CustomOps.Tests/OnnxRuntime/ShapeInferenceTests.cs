using BiVM.CustomOps.OnnxRuntime;

namespace BiVM.CustomOps.Tests.OnnxRuntime;

public class ShapeInferenceTests
{
    [Fact]
    public void Known_sizes_are_computed_and_symbolic_sizes_stay_symbolic()
    {
        Assert.Equal((5L, ""), ShapeInference.OutputDim(10, "", k: 3, stride: 2, dilation: 1, padTotal: 2));
        Assert.Equal((-1L, "H"), ShapeInference.OutputDim(-1, "H", k: 3, stride: 1, dilation: 2, padTotal: 4)); // size-preserving: same name
        Assert.Equal((-1L, "floor((W-1)/2)+1"), ShapeInference.OutputDim(-1, "W", k: 3, stride: 2, dilation: 1, padTotal: 2));
        Assert.Equal((-1L, ""), ShapeInference.OutputDim(-1, "", k: 3, stride: 2, dilation: 1, padTotal: 2));
    }
}
