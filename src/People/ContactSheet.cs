using OpenCvSharp;

namespace BiVM.People;

/// <summary>
/// The review picture: every cut-out composited over diagonal stripes of two saturated colours, so
/// a halo of the old background, a missing limb or a kept speck stands out. Rejected ones get a red
/// frame. One PNG, tiles of equal height in rows.
/// </summary>
internal static class ContactSheet
{
    private const int TileHeight = 300, SheetWidth = 1800, Gap = 6, LabelHeight = 22;

    public static void Write(string path, IReadOnlyList<(string Label, Mat Image, bool Rejected)> tiles)
    {
        var placed = new List<(Rect Where, Mat Tile)>();
        int x = Gap, y = Gap, rowHeight = TileHeight + LabelHeight;
        try
        {
            foreach (var (label, image, rejected) in tiles)
            {
                int w = Math.Max(1, Math.Min(SheetWidth - 2 * Gap, (int)Math.Round(image.Width * (double)TileHeight / image.Height)));
                if (x + w > SheetWidth - Gap) { x = Gap; y += rowHeight + Gap; }
                placed.Add((new Rect(x, y, w, rowHeight), Tile(image, w, label, rejected)));
                x += w + Gap;
            }
            using var sheet = new Mat(y + rowHeight + Gap, SheetWidth, MatType.CV_8UC3, Scalar.All(40));
            foreach (var (where, tile) in placed)
                using (var target = new Mat(sheet, where))
                    tile.CopyTo(target);
            BankBuilder.Write(path, sheet);
        }
        finally
        {
            foreach (var (_, tile) in placed) tile.Dispose();
        }
    }

    private static Mat Tile(Mat bgra, int width, string label, bool rejected)
    {
        using var resized = new Mat();
        Cv2.Resize(bgra, resized, new Size(width, TileHeight), 0, 0, InterpolationFlags.Area);
        var tile = new Mat(TileHeight + LabelHeight, width, MatType.CV_8UC3, Scalar.All(0));
        var pixels = resized.AsSpan<byte>();
        for (int r = 0; r < TileHeight; r++)
        {
            for (int c = 0; c < width; c++)
            {
                int i = 4 * (r * width + c);
                bool stripe = ((r + c) / 12) % 2 == 0;
                var background = stripe ? new Vec3b(200, 40, 200) : new Vec3b(40, 200, 60); // magenta / green (BGR)
                float a = pixels[i + 3] / 255f;
                tile.Set(r, c, new Vec3b(
                    (byte)Math.Round(pixels[i] * a + background.Item0 * (1 - a)),
                    (byte)Math.Round(pixels[i + 1] * a + background.Item1 * (1 - a)),
                    (byte)Math.Round(pixels[i + 2] * a + background.Item2 * (1 - a))));
            }
        }
        if (rejected) Cv2.Rectangle(tile, new Rect(0, 0, width, TileHeight), new Scalar(0, 0, 255), 5);
        Cv2.PutText(tile, label, new Point(2, TileHeight + 16), HersheyFonts.HersheySimplex, 0.45, rejected ? new Scalar(80, 80, 255) : Scalar.All(230), 1, LineTypes.AntiAlias);
        return tile;
    }
}
