using OpenCvSharp;

namespace BiVM.Data.Synthesis;

/// <summary>
/// Renders a <see cref="PersonFigure"/> into exact alpha and foreground colour, in canvas pixels.
/// Alpha = clamp(½ + (d + a·N(x,y)) / s): d is the signed distance to the drawn silhouette
/// (positive inside; 5x5 chamfer, within 0.1 px of Euclidean at the few pixels that matter, 6x faster), N a fractal noise field fixed to the canvas, a the edge jitter and s the edge
/// softness, so edges are soft and ragged rather than polygonal. Hair: radial strands around the
/// upper head whose length and density follow 1-D fractal profiles over the angle, giving the thin,
/// partly transparent structures matting is judged on. Colours: clothes are crops of real photos,
/// skin and hair are tones modulated by noise.
/// </summary>
internal sealed class ForegroundLayer : IForeground
{
    private const int AngleBins = 720;

    private readonly PersonFigure _figure;
    private readonly int _width, _height;
    private readonly Mat _edgeNoise;
    private readonly double _softness, _jitter;
    private readonly float[] _hairLength, _hairDensity;
    private readonly double _hairReach, _hairHalfWidth, _hairSway;
    private readonly Mat _textures; // CV_32FC3 RGB, BodyPart p in rows [p·H, (p+1)·H)
    private readonly Mat _mask, _inverse, _labels, _dilated, _inside, _outside;
    private readonly Mat _kernel;

    public ForegroundLayer(SeededRandom rng, PersonFigure figure, int width, int height, Mat topPhoto, Mat bottomPhoto)
    {
        _figure = figure;
        _width = width;
        _height = height;
        double k = Math.Sqrt(Math.Max(1.0, figure.Head(0).Radius / 7.0)); // edge widths grow with the figure's size
        _softness = rng.Uniform(0.7, 2.0) * k;
        _jitter = rng.Uniform(0.3, 1.3) * k;
        _edgeNoise = FractalNoise.Field(rng, width, height, rng.Uniform(8, 24), 4);

        double r = figure.Head(0).Radius;
        _hairReach = r * rng.Uniform(0.15, 1.3);
        _hairHalfWidth = rng.Uniform(1.0, 2.3);
        _hairSway = rng.Uniform(0, 0.08);
        _hairLength = FractalNoise.Periodic(rng, AngleBins, 6, 4);
        _hairDensity = FractalNoise.Periodic(rng, AngleBins, 120, 3);

        // One texture per BodyPart value, stacked vertically so a pixel's colour is one indexed read.
        _textures = new Mat(height * 5, width, MatType.CV_32FC3, Scalar.All(0));
        SetTexture(BodyPart.Bottom, PhotoTexture(rng, bottomPhoto, width, height, 0.4, 1.0));
        SetTexture(BodyPart.Top, PhotoTexture(rng, topPhoto, width, height, 0.6, 1.2));
        SetTexture(BodyPart.Skin, ToneTexture(rng, SkinTone(rng), width, height, 0.12));
        SetTexture(BodyPart.Hair, ToneTexture(rng, HairTone(rng), width, height, 0.35));

        _mask = new Mat(height, width, MatType.CV_8UC1);
        _inverse = new Mat(height, width, MatType.CV_8UC1);
        _labels = new Mat(height, width, MatType.CV_8UC1);
        _dilated = new Mat(height, width, MatType.CV_8UC1);
        _inside = new Mat(height, width, MatType.CV_32FC1);
        _outside = new Mat(height, width, MatType.CV_32FC1);
        // Alpha reaches s/2 + a pixels outside the silhouette; the label dilation must cover that
        // rim so every pixel with alpha > 0 gets a body colour, not the None texture's black.
        int rim = (int)Math.Ceiling(_softness / 2 + _jitter) + 2;
        _kernel = Cv2.GetStructuringElement(MorphShapes.Ellipse, new Size(2 * rim + 1, 2 * rim + 1));
    }

    private void SetTexture(BodyPart part, Mat texture)
    {
        using (texture)
        using (var rows = _textures.RowRange((int)part * _height, ((int)part + 1) * _height))
            texture.CopyTo(rows);
    }

    /// <summary>Writes frame t's alpha (CV_32FC1) and foreground (CV_32FC3, RGB) in canvas coordinates.</summary>
    public void Render(int t, Mat alpha, Mat fgr)
    {
        _mask.SetTo(Scalar.All(0));
        _labels.SetTo(Scalar.All(0));
        _figure.Draw(t, _mask, _labels);
        Cv2.DistanceTransform(_mask, _inside, DistanceTypes.L2, DistanceTransformMasks.Mask5);
        Cv2.BitwiseNot(_mask, _inverse);
        Cv2.DistanceTransform(_inverse, _outside, DistanceTypes.L2, DistanceTransformMasks.Mask5);
        Cv2.Dilate(_labels, _dilated, _kernel); // colours for the soft rim just outside the silhouette

        alpha.Create(_height, _width, MatType.CV_32FC1);
        fgr.Create(_height, _width, MatType.CV_32FC3);
        var a = alpha.AsSpan<float>();
        var f = fgr.AsSpan<float>();
        var mask = _mask.AsSpan<byte>();
        var labels = _labels.AsSpan<byte>();
        var dilated = _dilated.AsSpan<byte>();
        var inside = _inside.AsSpan<float>();
        var outside = _outside.AsSpan<float>();
        var noise = _edgeNoise.AsSpan<float>();
        float inverseSoftness = (float)(1 / _softness), jitter = (float)_jitter;
        for (int i = 0; i < a.Length; i++)
        {
            float d = mask[i] != 0 ? inside[i] - 0.5f : 0.5f - outside[i];
            a[i] = Math.Clamp(0.5f + (d + jitter * noise[i]) * inverseSoftness, 0f, 1f);
            if (labels[i] == 0) labels[i] = dilated[i];
        }

        AddHair(t, a, labels);

        var textures = _textures.AsSpan<float>();
        int planeSize = 3 * labels.Length;
        for (int i = 0, j = 0; i < labels.Length; i++, j += 3)
        {
            int k = labels[i] * planeSize + j;
            f[j] = textures[k];
            f[j + 1] = textures[k + 1];
            f[j + 2] = textures[k + 2];
        }
    }

    private void AddHair(int t, Span<float> alpha, Span<byte> labels)
    {
        var (hx, hy, radius, tilt) = _figure.Head(t);
        double reach = radius * 1.05 + _hairReach + 2;
        int x0 = Math.Max(0, (int)(hx - reach)), x1 = Math.Min(_width - 1, (int)Math.Ceiling(hx + reach));
        int y0 = Math.Max(0, (int)(hy - reach)), y1 = Math.Min(_height - 1, (int)Math.Ceiling(hy + reach));
        double sway = _hairSway * Math.Sin(0.3 * t);
        for (int y = y0; y <= y1; y++)
        {
            for (int x = x0; x <= x1; x++)
            {
                double dx = x - hx, dy = y - hy, r = Math.Sqrt(dx * dx + dy * dy);
                // Angle from the head's "up", wrapped to (−π, π].
                double fromUp = Math.Atan2(dy, dx) - tilt + Math.PI / 2 - sway;
                fromUp -= 2 * Math.PI * Math.Floor((fromUp + Math.PI) / (2 * Math.PI));
                double window = Math.Clamp((_hairHalfWidth - Math.Abs(fromUp)) / 0.3, 0, 1);
                if (window <= 0) continue;
                int bin = (int)((fromUp + Math.PI) / (2 * Math.PI) * AngleBins) % AngleBins;
                double length = _hairReach * (0.6 + 0.4 * _hairLength[bin]) + 0.5;
                double fade = 1 - (r - 0.9 * radius) / length;
                int i = y * _width + x;
                if (fade >= 1)
                {
                    // On the scalp: hair-coloured where the window is solid.
                    if (window > 0.5 && r > 0.55 * radius && labels[i] == (byte)BodyPart.Skin) labels[i] = (byte)BodyPart.Hair;
                    continue;
                }
                if (fade <= 0) continue;
                float strand = (float)(window * Math.Pow(fade, 0.8) * (0.3 + 0.35 * (1 + _hairDensity[bin])));
                strand = Math.Min(strand, 1f);
                if (strand > alpha[i])
                {
                    alpha[i] = strand;
                    labels[i] = (byte)BodyPart.Hair;
                }
            }
        }
    }

    /// <summary>A random crop of a real photo (8-bit BGR), resized to the canvas, as float RGB with a random tint.</summary>
    private static Mat PhotoTexture(SeededRandom rng, Mat photo, int width, int height, double minGain, double maxGain)
    {
        double frac = rng.Uniform(0.2, 0.6);
        int cw = Math.Max(8, (int)(photo.Width * frac)), ch = Math.Max(8, (int)(photo.Height * frac));
        var rect = new Rect(rng.NextInt(photo.Width - cw + 1), rng.NextInt(photo.Height - ch + 1), cw, ch);
        using var crop = new Mat(photo, rect);
        using var resized = new Mat();
        Cv2.Resize(crop, resized, new Size(width, height), 0, 0, InterpolationFlags.Linear);
        using var rgb = new Mat();
        Cv2.CvtColor(resized, rgb, ColorConversionCodes.BGR2RGB);
        var result = new Mat();
        rgb.ConvertTo(result, MatType.CV_32FC3, 1 / 255.0);
        var gain = new Scalar(rng.Uniform(minGain, maxGain), rng.Uniform(minGain, maxGain), rng.Uniform(minGain, maxGain));
        Cv2.Multiply(result, gain, result);
        Augmentations.Clamp01(result);
        return result;
    }

    /// <summary>A flat RGB tone times (1 + variation·N) for noise N: skin shading, hair streaks.</summary>
    private static Mat ToneTexture(SeededRandom rng, (double R, double G, double B) tone, int width, int height, double variation)
    {
        using var noise = FractalNoise.Field(rng, width, height, rng.Uniform(4, 16), 3);
        using var shade = new Mat();
        noise.ConvertTo(shade, MatType.CV_32FC1, variation, 1);
        using var shade3 = new Mat();
        Cv2.Merge([shade, shade, shade], shade3);
        var result = new Mat();
        Cv2.Multiply(shade3, new Scalar(tone.R, tone.G, tone.B), result);
        Augmentations.Clamp01(result);
        return result;
    }

    private static (double R, double G, double B) SkinTone(SeededRandom rng)
    {
        // Between a light and a dark skin tone, with a little hue variation.
        double w = rng.NextDouble();
        return (Lerp(0.96, 0.36, w) * rng.Uniform(0.95, 1.05), Lerp(0.80, 0.22, w) * rng.Uniform(0.95, 1.05), Lerp(0.70, 0.15, w) * rng.Uniform(0.95, 1.05));
    }

    private static (double R, double G, double B) HairTone(SeededRandom rng) => rng.NextInt(5) switch
    {
        0 => (0.08, 0.06, 0.05),   // black
        1 => (0.30, 0.18, 0.10),   // brown
        2 => (0.85, 0.70, 0.45),   // blond
        3 => (0.60, 0.25, 0.10),   // red
        _ => (0.70, 0.70, 0.70),   // grey
    };

    private static double Lerp(double a, double b, double w) => a + (b - a) * w;

    public void Dispose()
    {
        _edgeNoise.Dispose();
        _textures.Dispose();
        _mask.Dispose();
        _inverse.Dispose();
        _labels.Dispose();
        _dilated.Dispose();
        _inside.Dispose();
        _outside.Dispose();
        _kernel.Dispose();
    }
}
