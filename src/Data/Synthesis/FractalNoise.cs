using OpenCvSharp;

namespace BiVM.Data.Synthesis;

/// <summary>
/// Fractal (multi-octave value) noise: random lattices upsampled with bicubic interpolation and
/// summed with amplitude halving per octave, normalised to about [−1, 1]. Used for the hair-like
/// jitter of matte edges and for texture variation; drawn from the clip's own random stream.
/// </summary>
internal static class FractalNoise
{
    /// <summary>A W×H CV_32FC1 field; the coarsest lattice has cells of <paramref name="coarsestCell"/> pixels.</summary>
    public static Mat Field(SeededRandom rng, int width, int height, double coarsestCell, int octaves)
    {
        var sum = new Mat(height, width, MatType.CV_32FC1, Scalar.All(0));
        using var layer = new Mat();
        double amplitude = 1, total = 0, cell = coarsestCell;
        for (int o = 0; o < octaves; o++)
        {
            int gw = Math.Max(2, (int)Math.Ceiling(width / cell) + 1), gh = Math.Max(2, (int)Math.Ceiling(height / cell) + 1);
            var values = new float[gw * gh];
            rng.FillUniform(values, -1, 1);
            using (var grid = Mat.FromPixelData(gh, gw, MatType.CV_32FC1, values))
                Cv2.Resize(grid, layer, new Size(width, height), 0, 0, InterpolationFlags.Cubic);
            Cv2.ScaleAdd(layer, amplitude, sum, sum);
            total += amplitude;
            amplitude *= 0.5;
            cell = Math.Max(1, cell / 2);
        }
        sum.ConvertTo(sum, MatType.CV_32FC1, 1 / total);
        return sum;
    }

    /// <summary>A periodic 1-D fractal signal over <paramref name="length"/> samples, about [−1, 1].</summary>
    public static float[] Periodic(SeededRandom rng, int length, int coarsestPeriodCount, int octaves)
    {
        var result = new float[length];
        double amplitude = 1, total = 0;
        int knots = Math.Max(2, coarsestPeriodCount);
        for (int o = 0; o < octaves; o++)
        {
            var k = new float[knots];
            rng.FillUniform(k, -1, 1);
            for (int i = 0; i < length; i++)
            {
                double pos = i * (double)knots / length;
                int i0 = (int)pos;
                double f = pos - i0, s = f * f * (3 - 2 * f); // smoothstep between knots
                result[i] += (float)(amplitude * (k[i0 % knots] * (1 - s) + k[(i0 + 1) % knots] * s));
            }
            total += amplitude;
            amplitude *= 0.6;
            knots = Math.Min(length, knots * 2);
        }
        for (int i = 0; i < length; i++) result[i] /= (float)total;
        return result;
    }
}
