using BiVM.Data.Synthesis;
using OpenCvSharp;

namespace BiVM.Data.People;

/// <summary>
/// A real-person cut-out placed on the canvas, as RVM places its still ImageMatte foregrounds:
/// the person does not move by itself; the generator's motion affines move it. Placement follows
/// how the person was photographed: one cut by the photo's bottom edge (portrait, upper body)
/// stands on the frame's bottom edge at 0.7–1.4 frame heights; a whole body stands at 0.5–0.95
/// frame heights with its feet in the bottom eighth. A cut edge is pushed 5–15 % of the frame
/// beyond the frame's matching edge, past the static affine's ±10 % shift, so that the straight
/// line where the photo ended is rarely seen (except a portrait's two side cuts: see below).
/// </summary>
internal sealed class CutOutLayer : IForeground
{
    private readonly Mat _alpha, _fgr;

    /// <param name="centreMin">With <paramref name="centreMax"/>: where the centre may fall, as fractions of the width:
    /// 30–70 % for one person; a group of cut-outs spreads wider so that its people do not all stack in the middle.</param>
    /// <param name="centreMax">See <paramref name="centreMin"/>.</param>
    public CutOutLayer(SeededRandom rng, Mat bgra, CutEdges edges, int width, int height, double centreMin = 0.3, double centreMax = 0.7)
    {
        bool bottomCut = edges.HasFlag(CutEdges.Bottom);
        double targetHeight = height * (bottomCut ? rng.Uniform(0.7, 1.4) : rng.Uniform(0.5, 0.95));
        double scale = Math.Min(targetHeight / bgra.Height, width * rng.Uniform(0.5, 0.9) / bgra.Width); // wide groups fit the frame
        double beyondLeft = width * rng.Uniform(0.05, 0.15), beyondRight = width * rng.Uniform(0.05, 0.15);
        bool leftCut = edges.HasFlag(CutEdges.Left), rightCut = edges.HasFlag(CutEdges.Right);
        // Cut by both sides: wider than the frame when that keeps it under 1.6 frame heights (groups);
        // a tall portrait would become a close-up of a nose, so it keeps its size and its side cuts show.
        double fill = (width + beyondLeft + beyondRight) / bgra.Width;
        if (leftCut && rightCut && bgra.Height * fill <= 1.6 * height) scale = Math.Max(scale, fill);
        bool fills = bgra.Width * scale >= width + beyondLeft + beyondRight - 1;
        int w = Math.Max(1, (int)Math.Round(bgra.Width * scale)), h = Math.Max(1, (int)Math.Round(bgra.Height * scale));
        int x = (int)Math.Round(width * rng.Uniform(centreMin, centreMax) - w / 2.0);
        if (leftCut && (fills || !rightCut)) x = Math.Min(x, (int)-beyondLeft);
        if (rightCut && (fills || !leftCut)) x = Math.Max(x, (int)(width + beyondRight) - w);
        int bottom = bottomCut ? height + (int)(height * rng.Uniform(0.05, 0.15)) : (int)(height * rng.Uniform(0.88, 1.0));
        int y = bottom - h;
        // A close-up taller than the frame keeps its head in view: only the bottom goes further out.
        if (bottomCut) y = Math.Max(y, -(int)(h * rng.Uniform(0, 0.15)));

        using var resized = new Mat();
        // Area averaging when shrinking: a bilinear warp from 1024 px to 144 would alias hair into noise.
        Cv2.Resize(bgra, resized, new Size(w, h), 0, 0, scale < 1 ? InterpolationFlags.Area : InterpolationFlags.Linear);
        using var asFloat = new Mat();
        resized.ConvertTo(asFloat, MatType.CV_32FC4, 1 / 255.0);
        var channels = Cv2.Split(asFloat);
        try
        {
            _alpha = new Mat(height, width, MatType.CV_32FC1, Scalar.All(0));
            // Outside the cut-out the colour is never seen (alpha 0) except through the warp's
            // bilinear taps at its rim: the person's mean colour keeps those taps from darkening.
            using var alpha8 = new Mat();
            Cv2.ExtractChannel(resized, alpha8, 3);
            using var opaque = new Mat();
            Cv2.Threshold(alpha8, opaque, 127, 255, ThresholdTypes.Binary);
            var mean = Cv2.Mean(resized, opaque); // B, G, R, A
            _fgr = new Mat(height, width, MatType.CV_32FC3, new Scalar(mean.Val2 / 255, mean.Val1 / 255, mean.Val0 / 255));
            var canvas = new Rect(0, 0, width, height);
            var placed = new Rect(x, y, w, h);
            var visible = placed & canvas;
            if (visible.Width <= 0 || visible.Height <= 0) return; // cannot happen with the ranges above; an empty frame is still valid
            var source = new Rect(visible.X - x, visible.Y - y, visible.Width, visible.Height);
            using (var a = new Mat(channels[3], source))
            using (var target = new Mat(_alpha, visible))
                a.CopyTo(target);
            using var rgb = new Mat();
            Cv2.Merge([channels[2], channels[1], channels[0]], rgb);
            using (var c = new Mat(rgb, source))
            using (var target = new Mat(_fgr, visible))
                c.CopyTo(target);
        }
        finally
        {
            foreach (var c in channels) c.Dispose();
        }
    }

    /// <summary>The placed alpha (CV_32FC1, frame size); read by <see cref="PeopleGroupLayer"/>.</summary>
    internal Mat AlphaCanvas => _alpha;

    /// <summary>The placed colour (CV_32FC3 RGB, frame size); read by <see cref="PeopleGroupLayer"/>.</summary>
    internal Mat ColourCanvas => _fgr;

    /// <summary>
    /// A crop of a cut-out to part of the body, for <see cref="ClipOptions.PartialPeople"/>: 60 % of the time the
    /// top 30–70 % of its height (upper body, head and shoulders; the new bottom edge is a cut), else a window
    /// of 35–70 % of its width (one or two people of a group; each new side is a cut). Null when the crop would
    /// hold less than 5 % opaque pixels (e.g. a window between two people): the caller keeps the whole cut-out.
    /// </summary>
    public static Mat? PartialCrop(SeededRandom rng, Mat bgra, ref CutEdges edges, out string part)
    {
        int w = bgra.Width, h = bgra.Height;
        Rect region;
        var cut = edges;
        if (rng.Chance(0.6))
        {
            double f = rng.Uniform(0.3, 0.7);
            region = new Rect(0, 0, w, Math.Max(1, (int)Math.Round(h * f)));
            cut |= CutEdges.Bottom;
            part = $"top{f:F2}";
        }
        else
        {
            double f = rng.Uniform(0.35, 0.7);
            int cw = Math.Max(1, (int)Math.Round(w * f));
            int x = rng.NextInt(w - cw + 1);
            region = new Rect(x, 0, cw, h);
            if (x > 0) cut |= CutEdges.Left;
            if (x + cw < w) cut |= CutEdges.Right;
            part = $"window{x / (double)w:F2}x{f:F2}";
        }
        using var crop = new Mat(bgra, region);
        using var alpha = new Mat();
        Cv2.ExtractChannel(crop, alpha, 3);
        using var opaque = new Mat();
        Cv2.Threshold(alpha, opaque, 127, 255, ThresholdTypes.Binary);
        if (Cv2.CountNonZero(opaque) < 0.05 * region.Width * region.Height)
        {
            part = "whole";
            return null;
        }
        edges = cut;
        return crop.Clone();
    }

    public void Render(int t, Mat alpha, Mat fgr)
    {
        _alpha.CopyTo(alpha);
        _fgr.CopyTo(fgr);
    }

    public void Dispose()
    {
        _alpha.Dispose();
        _fgr.Dispose();
    }
}
