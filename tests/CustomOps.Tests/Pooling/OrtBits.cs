namespace BiVM.CustomOps.Tests.Pooling;

/// <summary>The pools' oracle check: an op of ours gives ONNX Runtime's node's outputs bit for bit (any NaN for a NaN).</summary>
internal static class OrtBits
{
    /// <summary>Every output of <paramref name="actual"/> has the bits of <paramref name="expected"/>'s, ONNX Runtime's; <paramref name="what"/> names the case.</summary>
    public static void AssertSame(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]) || float.IsNaN(expected[i]) && float.IsNaN(actual[i]),
                $"{what}: output {i} is {actual[i]:R}, ONNX Runtime's {expected[i]:R}");
    }
}
