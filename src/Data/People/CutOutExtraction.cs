using OpenCvSharp;

namespace BiVM.Data.People;

/// <summary>Which edges of its photo a person is cut by (a portrait by the bottom, a shoulder by a side).</summary>
[Flags]
public enum CutEdges
{
    None = 0,
    Left = 1,
    Right = 2,
    Bottom = 4,
}

/// <summary>One person (or a group that touches) cut out of a photo: BGRA pixels and where it was.</summary>
/// <param name="Image">CV_8UC4 BGRA; colour is the estimated foreground, alpha the cleaned matte.</param>
/// <param name="Box">The cut-out's rectangle in the source photo.</param>
/// <param name="Edges">
/// The photo edges that cut the person: a straight cut must stay outside the frame (CutOutLayer), or
/// the network learns that people end in straight lines.
/// </param>
public sealed record CutOutImage(Mat Image, Rect Box, CutEdges Edges) : IDisposable
{
    public void Dispose() => Image.Dispose();
}

/// <summary>
/// Splits a cleaned matte into per-person cut-outs by connected components of its confident part
/// (alpha ≥ 128); each soft pixel goes to the nearest body, so hair between two people is not
/// duplicated. Components shorter than <see cref="MinHeightFraction"/> of the tallest, or than
/// <see cref="MinHeight"/> pixels, are dropped (distant bystanders, objects the teacher kept).
/// </summary>
public static class CutOutExtraction
{
    public const int MinHeight = 96;
    public const double MinHeightFraction = 0.2;

    /// <summary>Cut-outs are stored with a long side of at most this (training frames are 512x288 at most).</summary>
    public const int MaxLongSide = 1024;

    /// <summary>
    /// <paramref name="bgr"/>: the photo (CV_8UC3); <paramref name="alpha"/>: its cleaned matte
    /// (CV_8UC1, same size). Cut-outs come left to right (by box, then top to bottom): a stable order
    /// for ids. The caller disposes them.
    /// </summary>
    public static List<CutOutImage> Split(Mat bgr, Mat alpha)
    {
        if (bgr.Type() != MatType.CV_8UC3) throw new ArgumentException($"bgr must be CV_8UC3, got {bgr.Type()}.", nameof(bgr));
        if (alpha.Type() != MatType.CV_8UC1 || alpha.Size() != bgr.Size())
            throw new ArgumentException($"alpha must be CV_8UC1 of {bgr.Size()}, got {alpha.Type()} of {alpha.Size()}.", nameof(alpha));

        using var components = new ConfidentComponents(alpha);
        int tallest = components.Max(ConnectedComponentsTypes.Height);
        var people = Enumerable.Range(1, Math.Max(0, components.Count - 1))
            .Where(i => components.Stat(i, ConnectedComponentsTypes.Height) is var h && h >= MinHeight && h >= MinHeightFraction * tallest)
            .ToList();
        if (people.Count == 0) return [];

        using var owner = NearestComponent(components.Mask, components.Labels);
        var result = new List<CutOutImage>();
        foreach (int k in people)
        {
            using var mine = new Mat();
            Cv2.Compare(owner, new Scalar(k), mine, CmpTypes.EQ);
            using var soft = new Mat(alpha.Size(), MatType.CV_8UC1, Scalar.All(0));
            alpha.CopyTo(soft, mine);
            var box = Cv2.BoundingRect(soft);
            int left = components.Stat(k, ConnectedComponentsTypes.Left), right = left + components.Stat(k, ConnectedComponentsTypes.Width);
            int bottom = components.Stat(k, ConnectedComponentsTypes.Top) + components.Stat(k, ConnectedComponentsTypes.Height);
            var edges = (left <= 1 ? CutEdges.Left : 0) | (right >= alpha.Width - 1 ? CutEdges.Right : 0) | (bottom >= alpha.Height - 1 ? CutEdges.Bottom : 0);
            using var cropBgr = new Mat(bgr, box);
            using var cropAlpha = new Mat(soft, box);
            result.Add(new CutOutImage(ToBgra(cropBgr, cropAlpha), box, edges));
        }
        return result.OrderBy(c => c.Box.X).ThenBy(c => c.Box.Y).ToList();
    }

    /// <summary>For every pixel, the label (of <paramref name="labels"/>) of the nearest confident pixel.</summary>
    private static Mat NearestComponent(Mat confident, Mat labels)
    {
        // distanceTransform's labels number the connected components of its zero pixels; make the
        // confident pixels the zeros, then translate its numbering to ours through those pixels.
        using var notConfident = new Mat();
        Cv2.BitwiseNot(confident, notConfident);
        using var distance = new Mat();
        using var nearest = new Mat();
        Cv2.DistanceTransformWithLabels(notConfident, distance, nearest, DistanceTypes.L2, DistanceTransformMasks.Mask5, DistanceTransformLabelTypes.CComp);
        var ours = labels.AsSpan<int>();
        var theirs = nearest.AsSpan<int>();
        var map = new Dictionary<int, int>();
        for (int i = 0; i < ours.Length; i++)
            if (ours[i] != 0) map.TryAdd(theirs[i], ours[i]);
        var owner = new Mat(labels.Size(), MatType.CV_32SC1);
        var o = owner.AsSpan<int>();
        for (int i = 0; i < o.Length; i++) o[i] = map.GetValueOrDefault(theirs[i]);
        return owner;
    }

    /// <summary>
    /// BGRA with the foreground colour estimated where alpha &lt; 0.95: the photo's colour there mixes
    /// in the old background, which would show as a halo on a new one. Those pixels are inpainted
    /// (Telea) from the opaque ones, so composites use the person's own colours at the edges.
    /// Downscaled to <see cref="MaxLongSide"/> by area averaging.
    /// </summary>
    private static Mat ToBgra(Mat bgr, Mat alpha)
    {
        using var translucent = new Mat();
        Cv2.Threshold(alpha, translucent, 241, 255, ThresholdTypes.BinaryInv);
        using var foreground = new Mat();
        if (Cv2.CountNonZero(translucent) == translucent.Total()) bgr.CopyTo(foreground); // nothing opaque to spread
        else Cv2.Inpaint(bgr, translucent, foreground, 3, InpaintTypes.Telea);
        using var bgra = new Mat();
        var channels = Cv2.Split(foreground);
        Cv2.Merge([.. channels, alpha], bgra);
        foreach (var c in channels) c.Dispose();
        double scale = (double)MaxLongSide / Math.Max(bgra.Width, bgra.Height);
        if (scale >= 1) return bgra.Clone();
        var small = new Mat();
        Cv2.Resize(bgra, small, new Size(Math.Max(1, (int)Math.Round(bgra.Width * scale)), Math.Max(1, (int)Math.Round(bgra.Height * scale))), 0, 0, InterpolationFlags.Area);
        return small;
    }
}
