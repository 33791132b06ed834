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
            float strength = (float)(rng.NextDouble() * 0.2 / grain);
            var size = frames[0].Size();
            int gw = Math.Max(1, (int)Math.Round(size.Width / grain)), gh = Math.Max(1, (int)Math.Round(size.Height / grain));
            int channels = monochrome ? 1 : 3;
            var values = new float[gw * gh * channels];
            using var full = new Mat();
            foreach (var frame in frames)
            {
                rng.FillGaussian(values, strength);
                using var small = Mat.FromPixelData(gh, gw, MatType.CV_32FC(channels), values);
                Cv2.Resize(small, full, size, 0, 0, InterpolationFlags.Linear);
                if (monochrome)
                {
                    using var three = new Mat();
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

    /// <summary>Brightness, contrast, saturation and hue eased between two draws, strength U(0, 0.2).</summary>
    public static void ColorJitter(SeededRandom rng, IReadOnlyList<Mat> frames)
    {
        var v = new double[8];
        for (int i = 0; i < v.Length; i++) v[i] = rng.NextGaussian() * 0.1;
        double strength = rng.NextDouble() * 0.2;
        var easing = Easing.Random(rng);
        using var gray = new Mat();
        using var gray3 = new Mat();
        using var hsv = new Mat();
        for (int t = 0; t < frames.Count; t++)
        {
            double p = easing(frames.Count <= 1 ? 0 : t / (double)(frames.Count - 1)) * strength;
            var frame = frames[t];
            double brightness = Math.Max(1 + Lerp(v[0], v[1], p), 0.1);
            double contrast = Math.Max(1 + Lerp(v[2], v[3], p), 0.1);
            // RVM passes the brightness pair to adjust_saturation (a slip); we use the saturation pair.
            double saturation = Math.Max(1 + Lerp(v[4], v[5], p), 0.1);
            double hue = Math.Clamp(Lerp(v[6], v[7], p) * 0.1, -0.5, 0.5);

            frame.ConvertTo(frame, MatType.CV_32FC3, brightness);
            Clamp01(frame);
            Cv2.CvtColor(frame, gray, ColorConversionCodes.RGB2GRAY);
            double mean = Cv2.Mean(gray).Val0;
            frame.ConvertTo(frame, MatType.CV_32FC3, contrast, (1 - contrast) * mean);
            Clamp01(frame);
            Cv2.CvtColor(frame, gray, ColorConversionCodes.RGB2GRAY);
            Cv2.Merge([gray, gray, gray], gray3);
            Cv2.AddWeighted(frame, saturation, gray3, 1 - saturation, 0, frame);
            Clamp01(frame);
            if (hue != 0)
            {
                Cv2.CvtColor(frame, hsv, ColorConversionCodes.RGB2HSV_FULL); // float: H in degrees [0, 360)
                var pixels = hsv.AsSpan<float>();
                float shift = (float)(hue * 360);
                for (int i = 0; i < pixels.Length; i += 3)
                {
                    float h = pixels[i] + shift;
                    pixels[i] = h < 0 ? h + 360 : h >= 360 ? h - 360 : h;
                }
                Cv2.CvtColor(hsv, frame, ColorConversionCodes.HSV2RGB_FULL);
                Clamp01(frame);
            }
        }
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

    public static void Clamp01(Mat frame)
    {
        Cv2.Max(frame, Scalar.All(0), frame);
        Cv2.Min(frame, Scalar.All(1), frame);
    }

    private static double Lerp(double a, double b, double w) => a * (1 - w) + b * w;
}
