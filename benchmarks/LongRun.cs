using System.Diagnostics;
using System.Globalization;
using BiVM.Estimators.MLNet;
using BiVM.Estimators.Video;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace BiVM.Benchmarks;

/// <summary>
/// <c>--long-run N [--only videomatter|mlnet]</c>: N frames of a moving 128×72 test card through <see cref="VideoMatter"/> (one stream) and then
/// through the ML.NET path (one <c>Transform</c> pass over a lazily generated data view of N rows, one stream), with
/// the shipped BiVM. Every N/10 frames it prints the process's resident memory (VmRSS: managed and native together),
/// the managed heap after a full collection, and the live ONNX Runtime sessions: a leak of an OrtValue or a native
/// buffer per frame shows as RSS growing with the frame count. Too slow for CI (about 1–3 minutes per 10,000 frames per
/// path on 2 cores); README "Reliability" has the figures.
/// </summary>
internal static class LongRun
{
    private const int Width = 128, Height = 72;

    /// <param name="frames">Frames per path.</param>
    /// <param name="only">"videomatter" or "mlnet" to run one path; null for both.</param>
    public static int Run(int frames, string? only = null)
    {
        Console.WriteLine("path,frame,rss_mb,managed_mb,live_sessions,seconds");
        if (only is null or "videomatter") ThroughVideoMatter(frames);
        if (only is null or "mlnet") ThroughMLNet(frames);
        return 0;
    }

    private static void ThroughVideoMatter(int frames)
    {
        var clock = Stopwatch.StartNew();
        using var matter = new VideoMatter(new VideoMatterOptions { IntraOpThreads = 1 });
        for (int t = 0; t < frames; t++)
        {
            matter.ProcessRgb24(Frame(t), Width, Height);
            if ((t + 1) % Math.Max(frames / 10, 1) == 0 || t == 0) Sample("VideoMatter", t + 1, clock);
        }
    }

    private static void ThroughMLNet(int frames)
    {
        var clock = Stopwatch.StartNew();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Rows(frames));
        using var transformer = ml.Transforms.ApplyBiVM(new BiVMOptions { InputColumnName = "Pixels", Width = Width, Height = Height, IntraOpThreads = 1 }).Fit(data);
        var output = transformer.Transform(data);
        using var cursor = output.GetRowCursor([output.Schema["Alpha"]]);
        var alpha = cursor.GetGetter<VBuffer<float>>(output.Schema["Alpha"]);
        VBuffer<float> value = default;
        int t = 0;
        while (cursor.MoveNext())
        {
            alpha(ref value);
            t++;
            if (t % Math.Max(frames / 10, 1) == 0 || t == 1) Sample("ML.NET", t, clock);
        }
    }

    public sealed class Row
    {
        [VectorType(3 * Width * Height)] public byte[] Pixels { get; set; } = [];
    }

    private static IEnumerable<Row> Rows(int frames)
    {
        for (int t = 0; t < frames; t++) yield return new Row { Pixels = Frame(t) };
    }

    /// <summary>A bright disc moving over smooth colours; frame t is a pure function of t.</summary>
    private static byte[] Frame(int t)
    {
        var rgb = new byte[3 * Width * Height];
        int cx = 20 + t % 90;
        for (int y = 0; y < Height; y++)
            for (int x = 0; x < Width; x++)
            {
                bool disc = (x - cx) * (x - cx) + (y - 36) * (y - 36) < 144;
                for (int c = 0; c < 3; c++)
                    rgb[3 * (y * Width + x) + c] = disc ? (byte)230 : (byte)(127.5f + 100f * MathF.Sin(0.05f * (x + t) + 0.07f * y + c));
            }
        return rgb;
    }

    private static void Sample(string path, int frame, Stopwatch clock)
    {
        long managed = GC.GetTotalMemory(forceFullCollection: true);
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(c, $"{path},{frame},{Rss() / 1e6:F1},{managed / 1e6:F1},{MattingSession.LiveCount},{clock.Elapsed.TotalSeconds:F1}"));
    }

    /// <summary>Resident set size in bytes, from /proc/self/status (VmRSS, in kB).</summary>
    private static long Rss()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        return 0;
    }
}
