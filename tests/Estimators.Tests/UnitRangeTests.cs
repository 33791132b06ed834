using BiVM.Estimators.Video;

namespace BiVM.Estimators.Tests;

/// <summary>
/// The frame check's one pass: every value that is not in [0, 1], NaN included, is found wherever it lies (in the
/// 16-lane body, the 8-lane part or the scalar tail), and the bounds themselves, either zero and subnormals pass.
/// </summary>
public sealed class UnitRangeTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(37)]
    [InlineData(1000)]
    public void Finds_one_value_outside_wherever_it_lies(int length)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++) values[i] = (i % 11) / 10f;
        values[0] = 0f;
        values[^1] = 1f;
        Assert.True(UnitRange.Holds(values));
        values[0] = -0f;
        values[length / 2] = float.Epsilon;
        Assert.True(UnitRange.Holds(values));
        foreach (float bad in new[] { float.NaN, -1e-7f, 1.0000001f, float.PositiveInfinity, float.NegativeInfinity, -float.Epsilon })
            for (int at = 0; at < length; at += Math.Max(1, length / 13))
            {
                float kept = values[at];
                values[at] = bad;
                Assert.False(UnitRange.Holds(values), $"{bad} at {at} of {length}");
                values[at] = kept;
            }
    }

    [Fact]
    public void Empty_input_holds_and_the_message_names_the_range()
    {
        Assert.True(UnitRange.Holds([]));
        Assert.Equal("[-0.5, 2]", UnitRange.Describe([0.25f, -0.5f, 2f]));
    }
}
