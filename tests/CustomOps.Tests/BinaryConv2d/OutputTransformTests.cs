using BiVM.CustomOps.BinaryConv2d;

namespace BiVM.CustomOps.Tests.BinaryConv2d;

public class OutputTransformTests
{
    [Theory]
    [InlineData(288 * 512, 512, true)]  // a conv node's output at decode0's size: channels a plane apart
    [InlineData(72 * 128, 128, true)]   // an encoder conv's
    [InlineData(18 * 32, 32, true)]     // a deep layer's rows of 32
    [InlineData(4 * 20, 20, true)]      // planes of four rows: the fewest that count as planes
    [InlineData(3 * 20, 20, false)]
    [InlineData(512, 512, false)]       // SHB's folded sparse rows at decode0's size: the thread's scratch, a row a channel
    [InlineData(256, 256, false)]       // the ConvGRU's gates at decode1's
    public void Rows_two_on_are_fetched_only_in_planes(long channelStride, int rowWidth, bool fetched) =>
        Assert.Equal(fetched, OutputTransform.FetchesAhead(channelStride, rowWidth));

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(7)]
    [InlineData(12)]
    [InlineData(16)]
    [InlineData(37)]
    [InlineData(100)]
    public unsafe void Channels_rows_are_each_value_alone_into_planes_and_into_scratch(int count)
    {
        // The same counts written into rows a plane apart (fetching ahead) and into rows of the width (not): every
        // value is One's, the multiply then the add, whichever the path and its tail (a sparse row's pieces of 4 to 7
        // in 128-bit vectors, of 1 to 3 one by one), and nothing between the rows is written.
        const int channels = 3, rawStride = 128;
        var random = new Random(count);
        var raw = Enumerable.Range(0, channels * rawStride).Select(_ => random.Next(0, 600)).ToArray();
        float[] alpha = [0.37f, -1.25f, 2.0e-3f], bias = [0.1f, -7f, 0f];
        int[] delta = [0, -18, 6];
        const int fullTaps = 576;
        foreach (long stride in new long[] { 8L * count, count })
        {
            var output = new float[(channels - 1) * stride + count];
            Array.Fill(output, float.NaN);
            bool ahead = OutputTransform.FetchesAhead(stride, count);
            fixed (int* r = raw) fixed (int* d = delta) fixed (float* a = alpha) fixed (float* b = bias) fixed (float* y = output)
                OutputTransform.ApplyChannels(r, rawStride, count, fullTaps, d, a, b, channels, y, stride, ahead);
            for (int c = 0; c < channels; c++)
                for (int i = 0; i < count; i++)
                    Assert.Equal(OutputTransform.One(fullTaps + delta[c] - 2 * raw[c * rawStride + i], alpha[c], bias[c]), output[c * stride + i]);
            for (int c = 0; c < channels - 1; c++)
                for (long i = count; i < stride; i++)
                    Assert.True(float.IsNaN(output[c * stride + i]), $"channel {c}'s row of {count} wrote past its end, at {i}");
        }
    }
}
