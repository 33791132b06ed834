namespace BiVM.Data.Metrics;

/// <summary>
/// Gradient error (RVM evaluate_lr.py MetricGRAD): Σ(|∇g| − |∇p|)² / 1000, where |∇I| is the
/// magnitude of first-order Gaussian-derivative filters with σ = 1.4:
/// fx[i,j] = G(i − 4)·G'(j − 4) / ‖·‖₂ over a 9×9 window (half size ceil(σ·sqrt(−2 ln(sqrt(2π)·σ·0.01))) = 4),
/// fy = fxᵀ, applied as correlation with replicated borders (cv2.filter2D, BORDER_REPLICATE).
/// fx is separable: a G' row pass then a G column pass, which is how it is computed here.
/// The LR script min-max normalises both maps to [0, 1] first (cv2.normalize NORM_MINMAX; a constant
/// map becomes all zeros); the HR script does not: <c>normalize</c> selects which.
/// </summary>
public static class Grad
{
    public const double Sigma = 1.4;
    public const double Scale = 1e-3;

    /// <summary>The 9-tap Gaussian G(k − 4) and derivative G'(k − 4), and the 2-D filter's L2 norm.</summary>
    internal static (double[] Gauss, double[] Derivative, double Norm) Taps { get; } = BuildTaps();

    private static (double[], double[], double) BuildTaps()
    {
        int half = (int)Math.Ceiling(Sigma * Math.Sqrt(-2 * Math.Log(Math.Sqrt(2 * Math.PI) * Sigma * 1e-2)));
        int size = 2 * half + 1;
        var g = new double[size];
        var dg = new double[size];
        for (int k = 0; k < size; k++)
        {
            double x = k - half;
            g[k] = Math.Exp(-x * x / (2 * Sigma * Sigma)) / (Sigma * Math.Sqrt(2 * Math.PI));
            dg[k] = -x * g[k] / (Sigma * Sigma);
        }
        double norm = Math.Sqrt(g.Sum(v => v * v) * dg.Sum(v => v * v));
        return (g, dg, norm);
    }

    /// <summary>The full 9×9 fx filter (for tests and documentation); fy is its transpose.</summary>
    public static double[,] FilterX()
    {
        var (g, dg, norm) = Taps;
        var f = new double[g.Length, g.Length];
        for (int i = 0; i < g.Length; i++)
            for (int j = 0; j < g.Length; j++)
                f[i, j] = g[i] * dg[j] / norm;
        return f;
    }

    public static double Compute(ReadOnlySpan<float> pred, ReadOnlySpan<float> truth, int width, int height, bool normalize = true)
    {
        FrameCheck.SameLength(pred, truth, "Grad");
        FrameCheck.Shape(truth, width, height, "Grad", "ground truth");
        var p = GradientMagnitude(pred, width, height, normalize);
        var g = GradientMagnitude(truth, width, height, normalize);
        double sum = 0;
        for (int i = 0; i < p.Length; i++)
        {
            double d = (double)g[i] - p[i];
            sum += d * d;
        }
        return sum * Scale;
    }

    /// <summary>|∇I| = sqrt((fx ⋆ I)² + (fy ⋆ I)²), float32 like the reference's astype(np.float32).</summary>
    public static float[] GradientMagnitude(ReadOnlySpan<float> image, int width, int height, bool normalize)
    {
        FrameCheck.Shape(image, width, height, "Grad", "image");
        var (g, dg, norm) = Taps;
        var input = new double[image.Length];
        for (int i = 0; i < input.Length; i++) input[i] = image[i];
        if (normalize) MinMaxNormalize(input);

        var alongX = new double[input.Length];
        var fx = new double[input.Length];
        var fy = new double[input.Length];
        Correlate(input, alongX, width, height, dg, horizontal: true);
        Correlate(alongX, fx, width, height, g, horizontal: false);
        Correlate(input, alongX, width, height, g, horizontal: true);
        Correlate(alongX, fy, width, height, dg, horizontal: false);
        var magnitude = new float[input.Length];
        for (int i = 0; i < magnitude.Length; i++)
        {
            double x = fx[i] / norm, y = fy[i] / norm;
            magnitude[i] = (float)Math.Sqrt(x * x + y * y);
        }
        return magnitude;
    }

    /// <summary>cv2.normalize(src, dst, 1, 0, NORM_MINMAX): (x − min)/(max − min); all zeros when max = min.</summary>
    private static void MinMaxNormalize(double[] values)
    {
        double min = values.Min(), max = values.Max();
        double scale = max - min > double.Epsilon ? 1 / (max - min) : 0;
        for (int i = 0; i < values.Length; i++) values[i] = (values[i] - min) * scale;
    }

    /// <summary>1-D correlation out[k] = Σ taps[j]·in[clamp(k + j − half)], along rows or columns.</summary>
    private static void Correlate(double[] input, double[] output, int width, int height, double[] taps, bool horizontal)
    {
        int half = taps.Length / 2;
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                double sum = 0;
                for (int j = 0; j < taps.Length; j++)
                {
                    int xx = horizontal ? Math.Clamp(x + j - half, 0, width - 1) : x;
                    int yy = horizontal ? y : Math.Clamp(y + j - half, 0, height - 1);
                    sum += taps[j] * input[yy * width + xx];
                }
                output[y * width + x] = sum;
            }
        }
    }
}
