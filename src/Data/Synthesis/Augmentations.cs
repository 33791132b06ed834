using OpenCvSharp;

namespace BiVM.Data.Synthesis;

/// <summary>
/// RVM's per-clip photometric augmentations (dataset/augmentation.py), on lists of float RGB frames
/// in [0, 1] (CV_32FC3, alpha CV_32FC1). Each draws its parameters once per clip and varies them over
/// time with a random easing where RVM does. They run before compositing, so the composite equation
/// stays exact.
/// </summary>
internal static class Augmentations
{
    /// <summary>Film grain: N(0,1)·U(0, 0.2)/g at 1/g resolution, g ∈ [1, 4], monochrome half the time.</summary>
    public static void Noise(SeededRandom rng, params IReadOnlyList<Mat>[] clips)
    {
        double grain = rng.NextDouble() * 3 + 1;
        bool monochrome = rng.Chance(0.5);
        foreach (var frames in clips)
        {
            double strength = rng.NextDouble() * 0.2 / grain;
            var size = frames[0].Size();
            int gw = Math.Max(1, (int)Math.Round(size.Width / grain)), gh = Math.Max(1, (int)Math.Round(size.Height / grain));
            // OpenCV's RNG (multiply-with-carry + ziggurat) seeded from the clip's stream: deterministic and ~10x faster than Box-Muller here.
            var normal = new RNG(rng.NextUInt64());
            using var small = new Mat(gh, gw, MatType.CV_32FC(monochrome ? 1 : 3));
            using var full = new Mat();
            using var three = new Mat();
            foreach (var frame in frames)
            {
                normal.Fill(small, DistributionType.Normal, new Scalar(0), new Scalar(strength));
                Cv2.Resize(small, full, size, 0, 0, InterpolationFlags.Linear);
                if (monochrome)
                {
                    Cv2.Merge([full, full, full], three);
                    Cv2.Add(frame, three, frame);
                }
                else
                {
                    Cv2.Add(frame, full, frame);
                }
                Clamp01(frame);
            }
        }
    }

    /// <summary>
    /// Brightness, contrast, saturation and hue eased between two draws, strength U(0, 0.2), as one
    /// 3x4 colour matrix per frame (torchvision applies them in sequence with clamps in between; the
    /// factors are within a few percent of 1, so clamping once at the end differs only at saturation).
    /// Contrast pulls towards the frame's mean luma; saturation towards each pixel's luma; hue rotates
    /// about the grey axis.
    /// </summary>
    public static void ColorJitter(SeededRandom rng, IReadOnlyList<Mat> frames)
    {
        var v = new double[8];
        for (int i = 0; i < v.Length; i++) v[i] = rng.NextGaussian() * 0.1;
        double strength = rng.NextDouble() * 0.2;
        var easing = Easing.Random(rng);
        using var matrix = new Mat(3, 4, MatType.CV_64FC1);
        for (int t = 0; t < frames.Count; t++)
        {
            double p = easing(frames.Count <= 1 ? 0 : t / (double)(frames.Count - 1)) * strength;
            var frame = frames[t];
            double brightness = Math.Max(1 + Lerp(v[0], v[1], p), 0.1);
            double contrast = Math.Max(1 + Lerp(v[2], v[3], p), 0.1);
            // RVM passes the brightness pair to adjust_saturation (a slip); we use the saturation pair.
            double saturation = Math.Max(1 + Lerp(v[4], v[5], p), 0.1);
            double hue = Math.Clamp(Lerp(v[6], v[7], p) * 0.1, -0.5, 0.5);

            var mean = Cv2.Mean(frame);
            double meanLuma = brightness * (Luma[0] * mean.Val0 + Luma[1] * mean.Val1 + Luma[2] * mean.Val2);
            var m = HueRotation(hue * 2 * Math.PI);
            for (int r = 0; r < 3; r++)
            {
                for (int c = 0; c < 3; c++)
                {
                    // saturation ∘ contrast ∘ brightness, then hue: M = H·(s·I + (1 − s)·1·lumaᵀ)·c·b
                    double sum = 0;
                    for (int k = 0; k < 3; k++)
                        sum += m[r, k] * (saturation * (k == c ? 1 : 0) + (1 - saturation) * Luma[c]);
                    matrix.Set(r, c, sum * contrast * brightness);
                }
                // Contrast's offset (1 − c)·mean is grey, so saturation and hue leave it unchanged.
                matrix.Set(r, 3, (1 - contrast) * meanLuma);
            }
            Cv2.Transform(frame, frame, matrix);
            Clamp01(frame);
        }
    }

    private static readonly double[] Luma = [0.299, 0.587, 0.114];

    /// <summary>Rotation by <paramref name="angle"/> radians about the grey axis (1,1,1)/√3 of RGB space.</summary>
    private static double[,] HueRotation(double angle)
    {
        double cos = Math.Cos(angle), sin = Math.Sin(angle), a = (1 - cos) / 3, b = sin / Math.Sqrt(3);
        return new double[,]
        {
            { cos + a, a - b, a + b },
            { a + b, cos + a, a - b },
            { a - b, a + b, cos + a },
        };
    }

    public static void Grayscale(params IReadOnlyList<Mat>[] clips)
    {
        using var gray = new Mat();
        foreach (var frames in clips)
            foreach (var frame in frames)
            {
                Cv2.CvtColor(frame, gray, ColorConversionCodes.RGB2GRAY);
                Cv2.Merge([gray, gray, gray], frame);
            }
    }

    /// <summary>torchvision adjust_sharpness: blend with the 3x3 [1 1 1; 1 5 1; 1 1 1]/13 smoothing by factor U(0, 8).</summary>
    public static void Sharpen(SeededRandom rng, params IReadOnlyList<Mat>[] clips)
    {
        double factor = rng.NextDouble() * 8;
        using var kernel = Mat.FromPixelData(3, 3, MatType.CV_32FC1, new float[] { 1 / 13f, 1 / 13f, 1 / 13f, 1 / 13f, 5 / 13f, 1 / 13f, 1 / 13f, 1 / 13f, 1 / 13f });
        using var smooth = new Mat();
        foreach (var frames in clips)
            foreach (var frame in frames)
            {
                Cv2.Filter2D(frame, smooth, -1, kernel, null, 0, BorderTypes.Replicate);
                Cv2.AddWeighted(frame, factor, smooth, 1 - factor, 0, frame);
                Clamp01(frame);
            }
    }

    /// <summary>
    /// Gaussian blur with σ eased between two draws of U(0, 10) (RVM's values at 512x288, scaled
    /// here by the frame's short side / 288), kernel int(2σ) made odd.
    /// </summary>
    public static void Blur(SeededRandom rng, params IReadOnlyList<Mat>[] clips)
    {
        var first = clips[0][0];
        double scale = Math.Min(first.Width, first.Height) / 288.0;
        double a = rng.NextDouble() * 10 * scale, b = rng.NextDouble() * 10 * scale;
        var easing = Easing.Random(rng);
        int frames = clips[0].Count;
        for (int t = 0; t < frames; t++)
        {
            double sigma = Math.Max(Lerp(a, b, easing(frames <= 1 ? 0 : t / (double)(frames - 1))), 0);
            if (sigma <= 0) continue;
            int k = (int)(sigma * 2);
            if (k % 2 == 0) k++;
            foreach (var clip in clips)
            {
                Cv2.GaussianBlur(clip[t], clip[t], new Size(k, k), sigma, sigma, BorderTypes.Reflect101);
                Clamp01(clip[t]);
            }
        }
    }

    /// <summary>Freezes frames (pause, pause + length) on frame pause, as RVM's _motion_pause.</summary>
    public static void Pause(SeededRandom rng, params Mat[][] clips)
    {
        int frames = clips[0].Length;
        if (frames < 2) return;
        int pause = rng.NextInt(frames - 1);
        int length = rng.NextInt(frames - pause);
        foreach (var clip in clips)
            for (int t = pause + 1; t < pause + length; t++)
                clip[pause].CopyTo(clip[t]);
    }

    public static void HorizontalFlip(params IReadOnlyList<Mat>[] clips)
    {
        foreach (var frames in clips)
            foreach (var frame in frames)
                Cv2.Flip(frame, frame, FlipMode.Y);
    }

    /// <summary>Clamps to [0, 1] in place (two thresholds: ~50x faster than Cv2.Min/Max with a Scalar on float images).</summary>
    public static void Clamp01(Mat frame)
    {
        Cv2.Threshold(frame, frame, 1, 1, ThresholdTypes.Trunc);
        Cv2.Threshold(frame, frame, 0, 0, ThresholdTypes.Tozero);
    }

    private static double Lerp(double a, double b, double w) => a * (1 - w) + b * w;
}
