using BiVM.Contracts;
using BiVM.Data.Synthesis;
using OpenCvSharp;

namespace BiVM.Data.IO;

/// <summary>
/// A clip as a folder of 8-bit PNG frames, the layout `bivm eval --data DIR` reads (docs/data.md):
/// <code>
/// DIR/src/0000.png   input frames, RGB (required)
/// DIR/pha/0000.png   ground-truth alpha, one channel (required; same file names as src/)
/// DIR/fgr/0000.png   ground-truth foreground, RGB (optional; enables fgr metrics)
/// DIR/bgr/0000.png   background, RGB (optional)
/// </code>
/// A data set is either one such folder or a folder of them (DIR/&lt;clip&gt;/src/…), read in
/// ordinal name order. Values are stored as round(255·x) and read back as x/255, as RVM's
/// evaluation scripts do.
/// </summary>
public static class ClipFolder
{
    public const string SrcDir = "src", PhaDir = "pha", FgrDir = "fgr", BgrDir = "bgr";
    private const string DescriptionFile = "description.txt";
    private static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"];

    /// <summary>Writes every tensor the clip has; frame t is named t as four digits (0000.png).</summary>
    public static void Write(Clip clip, string dir)
    {
        Directory.CreateDirectory(dir);
        WriteTensor(clip, clip.Src, 3, Path.Combine(dir, SrcDir));
        WriteTensor(clip, clip.Pha, 1, Path.Combine(dir, PhaDir));
        if (clip.Fgr is not null) WriteTensor(clip, clip.Fgr, 3, Path.Combine(dir, FgrDir));
        if (clip.Bgr is not null) WriteTensor(clip, clip.Bgr, 3, Path.Combine(dir, BgrDir));
        if (clip.Description.Length > 0) File.WriteAllText(Path.Combine(dir, DescriptionFile), clip.Description + "\n");
    }

    /// <summary>Writes a data set as DIR/0000/, DIR/0001/, … (one clip in memory at a time); returns the clip count.</summary>
    public static int WriteAll(IEnumerable<Clip> clips, string dir)
    {
        int count = 0;
        foreach (var clip in clips) Write(clip, Path.Combine(dir, $"{count++:D4}"));
        return count;
    }

    /// <summary>Frame file name for index t.</summary>
    public static string FrameName(int t) => $"{t:D4}.png";

    /// <summary>True when <paramref name="dir"/> is one clip (has src/ and pha/).</summary>
    public static bool IsClip(string dir) => Directory.Exists(Path.Combine(dir, SrcDir)) && Directory.Exists(Path.Combine(dir, PhaDir));

    /// <summary>The clip folders of a data set: DIR itself when it is a clip, else its clip sub-folders.</summary>
    public static IReadOnlyList<string> ClipDirectories(string dir)
    {
        if (!Directory.Exists(dir)) throw new UserInputException($"Data folder {dir} does not exist.");
        if (IsClip(dir)) return [dir];
        var clips = Directory.GetDirectories(dir).Where(IsClip).OrderBy(d => d, StringComparer.Ordinal).ToArray();
        if (clips.Length == 0)
            throw new UserInputException(
                $"{dir} is not a clip folder (needs {SrcDir}/ and {PhaDir}/ with frames) and has no clip sub-folders; see docs/data.md.");
        return clips;
    }

    /// <summary>Reads the clips of a data set lazily, one at a time.</summary>
    public static IEnumerable<Clip> ReadAll(string dir) => ClipDirectories(dir).Select(Read);

    public static Clip Read(string dir)
    {
        string srcDir = Path.Combine(dir, SrcDir), phaDir = Path.Combine(dir, PhaDir);
        if (!Directory.Exists(srcDir)) throw new UserInputException($"Clip folder {dir} has no {SrcDir}/ sub-folder.");
        if (!Directory.Exists(phaDir)) throw new UserInputException($"Clip folder {dir} has no {PhaDir}/ sub-folder (ground-truth alpha).");
        var names = FrameNames(srcDir);
        if (names.Length == 0) throw new UserInputException($"{srcDir} holds no image frames ({string.Join(", ", ImageExtensions)}).");
        RequireSameNames(names, phaDir);
        string fgrDir = Path.Combine(dir, FgrDir), bgrDir = Path.Combine(dir, BgrDir);
        bool hasFgr = Directory.Exists(fgrDir), hasBgr = Directory.Exists(bgrDir);
        if (hasFgr) RequireSameNames(names, fgrDir);
        if (hasBgr) RequireSameNames(names, bgrDir);

        Size size;
        using (var first = Load(Path.Combine(srcDir, names[0]), ImreadModes.Color)) size = first.Size();
        int T = names.Length, n = size.Width * size.Height;
        var src = new float[T * 3 * n];
        var pha = new float[T * n];
        var fgr = hasFgr ? new float[T * 3 * n] : null;
        var bgr = hasBgr ? new float[T * 3 * n] : null;
        for (int t = 0; t < T; t++)
        {
            ReadRgb(Path.Combine(srcDir, names[t]), size, src.AsSpan(t * 3 * n, 3 * n));
            ReadGray(Path.Combine(phaDir, names[t]), size, pha.AsSpan(t * n, n));
            if (fgr is not null) ReadRgb(Path.Combine(fgrDir, names[t]), size, fgr.AsSpan(t * 3 * n, 3 * n));
            if (bgr is not null) ReadRgb(Path.Combine(bgrDir, names[t]), size, bgr.AsSpan(t * 3 * n, 3 * n));
        }
        string descriptionPath = Path.Combine(dir, DescriptionFile);
        string description = File.Exists(descriptionPath) ? File.ReadAllText(descriptionPath).Trim() : $"folder {dir}";
        return new Clip(T, size.Height, size.Width, src, pha, fgr, bgr, description);
    }

    private static string[] FrameNames(string dir) =>
        Directory.GetFiles(dir)
            .Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Select(Path.GetFileName).OfType<string>()
            .OrderBy(f => f, StringComparer.Ordinal).ToArray();

    private static void RequireSameNames(string[] expected, string dir)
    {
        var actual = FrameNames(dir);
        var missing = expected.Except(actual, StringComparer.Ordinal).ToArray();
        if (missing.Length > 0)
            throw new UserInputException($"{dir} lacks {missing.Length} frame(s) that {SrcDir}/ has, first {missing[0]}; file names must match.");
        var extra = actual.Except(expected, StringComparer.Ordinal).ToArray();
        if (extra.Length > 0)
            throw new UserInputException($"{dir} has {extra.Length} frame(s) that {SrcDir}/ lacks, first {extra[0]}; file names must match.");
    }

    private static Mat Load(string path, ImreadModes mode)
    {
        var image = Cv2.ImRead(path, mode);
        if (image.Empty())
        {
            image.Dispose();
            throw new UserInputException($"Could not decode image {path}.");
        }
        return image;
    }

    private static void ReadRgb(string path, Size size, Span<float> planes)
    {
        using var image = Load(path, ImreadModes.Color);
        RequireSize(path, image, size);
        int n = size.Width * size.Height;
        var bgr = image.AsSpan<byte>();
        for (int i = 0, j = 0; i < n; i++, j += 3)
        {
            planes[i] = bgr[j + 2] / 255f;
            planes[n + i] = bgr[j + 1] / 255f;
            planes[2 * n + i] = bgr[j] / 255f;
        }
    }

    private static void ReadGray(string path, Size size, Span<float> plane)
    {
        using var image = Load(path, ImreadModes.Grayscale);
        RequireSize(path, image, size);
        var gray = image.AsSpan<byte>();
        for (int i = 0; i < plane.Length; i++) plane[i] = gray[i] / 255f;
    }

    private static void RequireSize(string path, Mat image, Size size)
    {
        if (image.Size() != size)
            throw new UserInputException($"{path} is {image.Width}x{image.Height}; the clip's first src frame is {size.Width}x{size.Height}.");
        if (!image.IsContinuous()) throw new InvalidDataException($"{path} decoded into a non-continuous buffer.");
    }

    private static void WriteTensor(Clip clip, float[] tensor, int channels, string dir)
    {
        Directory.CreateDirectory(dir);
        int n = clip.PixelsPerFrame;
        using var image = new Mat(clip.Height, clip.Width, channels == 3 ? MatType.CV_8UC3 : MatType.CV_8UC1);
        for (int t = 0; t < clip.Frames; t++)
        {
            var pixels = image.AsSpan<byte>();
            var frame = tensor.AsSpan(t * channels * n, channels * n);
            int nan = IndexOfNaN(frame);
            if (nan >= 0)
                throw new InvalidDataException($"Frame {t} of {Path.GetFileName(dir)}/ has NaN at channel {nan / n}, y {nan % n / clip.Width}, x {nan % clip.Width}; cannot write {Path.Combine(dir, FrameName(t))}.");
            if (channels == 1)
            {
                for (int i = 0; i < n; i++) pixels[i] = Quantize(frame[i]);
            }
            else
            {
                for (int i = 0, j = 0; i < n; i++, j += 3)
                {
                    pixels[j] = Quantize(frame[2 * n + i]);     // OpenCV stores BGR
                    pixels[j + 1] = Quantize(frame[n + i]);
                    pixels[j + 2] = Quantize(frame[i]);
                }
            }
            string path = Path.Combine(dir, FrameName(t));
            if (!Cv2.ImWrite(path, image)) throw new IOException($"OpenCV could not write {path}.");
        }
    }

    private static int IndexOfNaN(ReadOnlySpan<float> values)
    {
        for (int i = 0; i < values.Length; i++)
            if (float.IsNaN(values[i])) return i;
        return -1;
    }

    /// <summary>round(255·x) clamped to [0, 255]; NaN is an error, not a silent 0.</summary>
    public static byte Quantize(float x)
    {
        if (float.IsNaN(x)) throw new InvalidDataException("Cannot quantize NaN to an 8-bit frame.");
        return (byte)Math.Clamp(MathF.Round(x * 255f), 0f, 255f);
    }
}
