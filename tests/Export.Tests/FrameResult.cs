namespace BiVM.Export.Tests;

/// <summary>One frame's results: fgr, pha, r1o..r4o, and any extra outputs (binary node outputs), as flat arrays.</summary>
internal sealed record FrameResult(Dictionary<string, float[]> Values, Dictionary<string, int[]> Shapes)
{
    public float[] this[string name] => Values[name];
}
