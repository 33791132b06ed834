using BiVM.Estimators.Video;

namespace BiVM.Estimators.Tests;

/// <summary>
/// The shipped model from several threads at once gives, bit for bit, what it gives one stream at a time: streams
/// over one shared session (ONNX Runtime's concurrent Run), and separate sessions in one process.
/// </summary>
public sealed class ConcurrencyTests
{
    private const int Width = 96, Height = 64, Frames = 3, Streams = 8;

    /// <summary>Stream s, frame t: a disc whose place and colour depend on both, so every stream's result differs.</summary>
    private static byte[] Frame(int s, int t)
    {
        var rgb = new byte[3 * Width * Height];
        for (int y = 0; y < Height; y++)
            for (int x = 0; x < Width; x++)
            {
                int i = 3 * (y * Width + x);
                int dx = x - (20 + 6 * s + 4 * t), dy = y - 32;
                bool inside = dx * dx + dy * dy < 15 * 15;
                rgb[i] = (byte)(inside ? 230 : 30 + 10 * s);
                rgb[i + 1] = (byte)(inside ? 200 - 5 * t : 120);
                rgb[i + 2] = (byte)(inside ? 180 : 60 + 3 * t);
            }
        return rgb;
    }

    private static float[][] Stream(VideoMatter matter, int s) =>
        Enumerable.Range(0, Frames).Select(t =>
        {
            var frame = matter.ProcessRgb24(Frame(s, t), Width, Height);
            return frame.Alpha.Concat(frame.Foreground).ToArray();
        }).ToArray();

    private static float[][][] Serial()
    {
        using var session = new MattingSession(new VideoMatterOptions { IntraOpThreads = 1 });
        return Enumerable.Range(0, Streams).Select(s =>
        {
            using var matter = new VideoMatter(session);
            return Stream(matter, s);
        }).ToArray();
    }

    [Fact]
    public void Eight_streams_over_one_session_on_eight_threads_match_the_serial_results()
    {
        var expected = Serial();
        using var session = new MattingSession(new VideoMatterOptions { IntraOpThreads = 1 });
        var actual = new float[Streams][][];
        using var start = new Barrier(Streams);
        var threads = Enumerable.Range(0, Streams).Select(s => new Thread(() =>
        {
            using var matter = new VideoMatter(session);
            start.SignalAndWait();   // all streams run at once
            actual[s] = Stream(matter, s);
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        for (int s = 0; s < Streams; s++)
            for (int t = 0; t < Frames; t++)
                Assert.True(expected[s][t].AsSpan().SequenceEqual(actual[s][t]), $"stream {s}, frame {t} differs from the serial run");
    }

    [Fact]
    public void Separate_sessions_in_parallel_match_the_serial_results()
    {
        var expected = Serial();
        var actual = new float[Streams][][];
        Parallel.For(0, Streams, new ParallelOptions { MaxDegreeOfParallelism = 4 }, s =>
        {
            using var matter = new VideoMatter(new VideoMatterOptions { IntraOpThreads = 1 });
            actual[s] = Stream(matter, s);
        });
        for (int s = 0; s < Streams; s++)
            for (int t = 0; t < Frames; t++)
                Assert.True(expected[s][t].AsSpan().SequenceEqual(actual[s][t]), $"stream {s}, frame {t} differs from the serial run");
    }
}
