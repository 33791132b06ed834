using OpenCvSharp;

namespace BiVM.Data.People;

/// <summary>
/// Cleans a teacher's 8-bit alpha matte before it becomes ground truth: drops specks (small
/// confident blobs and the soft haze around them, far from any person) and fills small holes inside
/// a body (pixels the teacher was unsure about, enclosed by one person). Both decisions are made on
/// the "confident" mask alpha ≥ 128; soft alpha is kept only in a band around the kept bodies, so
/// hair and edges survive.
/// </summary>
public static class MatteCleaning
{
    /// <summary>A confident blob smaller than this fraction of the largest one is a speck.</summary>
    public const double SpeckFraction = 0.02;

    /// <summary>A hole enclosed by one body and smaller than this fraction of that body is filled; larger ones (the gap between an arm and the torso) stay.</summary>
    public const double HoleFraction = 0.004;

    /// <summary>Width of the soft-alpha band kept around each body, as a fraction of the image's long side (hair reaches this far).</summary>
    public const double BandFraction = 0.012;

    /// <summary>Returns the cleaned matte (CV_8UC1, same size); <paramref name="alpha"/> is not changed.</summary>
    public static Mat Clean(Mat alpha)
    {
        using var components = new ConfidentComponents(alpha);
        int n = components.Count, largest = components.Max(ConnectedComponentsTypes.Area);
        var result = new Mat(alpha.Size(), MatType.CV_8UC1, Scalar.All(0));
        if (largest == 0) return result; // nothing confident: an empty matte, not haze

        // Bodies: confident components that are not specks.
        var keep = new bool[n];
        for (int i = 1; i < n; i++) keep[i] = components.Stat(i, ConnectedComponentsTypes.Area) >= SpeckFraction * largest;
        using var bodies = new Mat(alpha.Size(), MatType.CV_8UC1, Scalar.All(0));
        var lab = components.Labels.AsSpan<int>();
        var body = bodies.AsSpan<byte>();
        for (int i = 0; i < lab.Length; i++) body[i] = keep[lab[i]] ? (byte)255 : (byte)0;

        // Soft alpha survives only near a body.
        int band = Math.Max(2, (int)Math.Round(BandFraction * Math.Max(alpha.Width, alpha.Height)));
        using var near = new Mat();
        using (var kernel = Cv2.GetStructuringElement(MorphShapes.Ellipse, new Size(2 * band + 1, 2 * band + 1)))
            Cv2.Dilate(bodies, near, kernel);
        alpha.CopyTo(result, near);
        // Specks inside the band (a confident blob next to a body) go too.
        var res = result.AsSpan<byte>();
        for (int i = 0; i < lab.Length; i++)
            if (lab[i] != 0 && !keep[lab[i]]) res[i] = 0;

        FillHoles(bodies, components, keep, largest, result);
        return result;
    }

    /// <summary>
    /// Background components of the body mask that do not touch the image border are holes; one
    /// enclosed by a single body and smaller than <see cref="HoleFraction"/> of it becomes opaque.
    /// </summary>
    private static void FillHoles(Mat bodies, ConfidentComponents body, bool[] keep, int largestBody, Mat result)
    {
        using var background = new Mat();
        Cv2.BitwiseNot(bodies, background);
        using var labels = new Mat();
        using var stats = new Mat();
        using var centroids = new Mat();
        int n = Cv2.ConnectedComponentsWithStats(background, labels, stats, centroids, PixelConnectivity.Connectivity4, MatType.CV_32S);
        int w = bodies.Width, h = bodies.Height;
        for (int i = 1; i < n; i++)
        {
            int x = stats.At<int>(i, 0), y = stats.At<int>(i, 1), bw = stats.At<int>(i, 2), bh = stats.At<int>(i, 3);
            if (x == 0 || y == 0 || x + bw == w || y + bh == h) continue; // open to the border: real background
            int area = stats.At<int>(i, (int)ConnectedComponentsTypes.Area);
            if (area >= HoleFraction * largestBody) continue; // too large for any body
            // The enclosing body: the one label of the body pixels 8-adjacent to the hole.
            var roi = new Rect(x - 1, y - 1, bw + 2, bh + 2);
            using var holeLabels = new Mat(labels, roi);
            using var enclosing = new Mat(body.Labels, roi);
            int owner = -1;
            bool single = true;
            for (int r = 0; r < roi.Height && single; r++)
            {
                for (int c = 0; c < roi.Width; c++)
                {
                    int b = enclosing.At<int>(r, c);
                    if (b == 0 || !keep[b]) continue;
                    if (!Touches(holeLabels, r, c, i)) continue;
                    if (owner < 0) owner = b;
                    else if (owner != b) { single = false; break; }
                }
            }
            if (owner < 0 || !single) continue; // between two people: background seen through
            if (area >= HoleFraction * body.Stat(owner, ConnectedComponentsTypes.Area)) continue;
            using var hole = new Mat();
            Cv2.Compare(holeLabels, new Scalar(i), hole, CmpTypes.EQ);
            using var target = new Mat(result, roi);
            target.SetTo(Scalar.All(255), hole);
        }
    }

    private static bool Touches(Mat labels, int r, int c, int label)
    {
        for (int dr = -1; dr <= 1; dr++)
            for (int dc = -1; dc <= 1; dc++)
            {
                int rr = r + dr, cc = c + dc;
                if (rr < 0 || cc < 0 || rr >= labels.Rows || cc >= labels.Cols) continue;
                if (labels.At<int>(rr, cc) == label) return true;
            }
        return false;
    }
}
