namespace BiVM.CustomOps.Tests;

/// <summary>Random inputs that the glue's tests share.</summary>
internal static class RandomValues
{
    /// <summary><paramref name="n"/> values drawn by <paramref name="r"/>, uniform in [−<paramref name="scale"/>, <paramref name="scale"/>).</summary>
    public static float[] Uniform(Random r, int n, float scale = 1f) => Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1) * scale).ToArray();
}
