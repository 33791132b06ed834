namespace BiVM.Data.Metrics;

internal static class FrameCheck
{
    public static void SameLength(ReadOnlySpan<float> pred, ReadOnlySpan<float> truth, string metric)
    {
        if (pred.Length != truth.Length)
            throw new ArgumentException($"{metric}: prediction has {pred.Length} values, ground truth {truth.Length}.");
    }

    public static void Shape(ReadOnlySpan<float> map, int width, int height, string metric, string name)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"{metric}: frame size must be positive, got {width}x{height}.");
        if (map.Length != width * height)
            throw new ArgumentException($"{metric}: {name} has {map.Length} values, a {width}x{height} frame needs {width * height}.");
    }
}
