namespace BiVM.Export.Tests;

/// <summary>Smooth, moving synthetic frames in 0..1 (so consecutive frames are related and the state matters).</summary>
internal static class Sequences
{
    public static float[][] Frames(int count, int height, int width, int batch = 1)
    {
        var frames = new float[count][];
        for (int t = 0; t < count; t++)
        {
            var f = new float[batch * 3 * height * width];
            for (int n = 0; n < batch; n++)
                for (int c = 0; c < 3; c++)
                    for (int y = 0; y < height; y++)
                        for (int x = 0; x < width; x++)
                        {
                            double blob = Math.Exp(-(Math.Pow(x - width * (0.3 + 0.04 * t), 2) + Math.Pow(y - height * 0.5, 2)) / (0.05 * width * height));
                            double wave = Math.Sin(0.21 * x + 0.4 * t + c + n) * Math.Cos(0.17 * y - 0.3 * t);
                            f[((n * 3 + c) * height + y) * width + x] = (float)Math.Clamp(0.45 + 0.35 * blob + 0.2 * wave, 0, 1);
                        }
            frames[t] = f;
        }
        return frames;
    }
}
