using BiVM.Contracts;
using BiVM.Estimators.Video;
using BiVM.Tests.Shared;

namespace BiVM.Estimators.Tests;

public class VideoMatterTests : IDisposable
{
    private readonly string _model = ContractTestModels.WriteTemp(ContractTestModels.LumaKeyWithCounter(), "luma.onnx");

    public void Dispose() => Directory.Delete(Path.GetDirectoryName(_model)!, recursive: true);

    private static float[] Frame(int width, int height, float value) => Enumerable.Repeat(value, 3 * width * height).ToArray();

    [Fact]
    public void Runs_the_model_and_returns_alpha_and_foreground_of_the_frame_size()
    {
        using var matter = new VideoMatter(new VideoMatterOptions { ModelPath = _model, IntraOpThreads = 1 });
        var rgb = new float[3 * 5 * 4];
        for (int i = 0; i < 20; i++) { rgb[i] = 0.9f; rgb[20 + i] = 0.3f; rgb[40 + i] = 0.0f; }
        var result = matter.Process(rgb, width: 5, height: 4);
        Assert.Equal((5, 4), (result.Width, result.Height));
        Assert.All(result.Alpha, a => Assert.Equal(0.4f, a, 5));   // mean of (0.9, 0.3, 0)
        Assert.Equal(rgb, result.Foreground);
    }

    [Fact]
    public void Process_reuses_its_copy_of_the_frame_and_allocates_only_the_frame_it_returns()
    {
        const int width = 64, height = 48, n = width * height;
        using var session = new MattingSession(new VideoMatterOptions { ModelPath = _model, IntraOpThreads = 1 });
        using var copying = new VideoMatter(session);
        using var binding = new VideoMatter(session);
        var rgb = new byte[3 * n];
        var alpha = new float[n];
        var foreground = new float[3 * n];
        for (int f = 0; f < 4; f++)
        {
            var planar = Enumerable.Range(0, 3 * n).Select(i => (i * 7 + f * 13) % 101 / 100f).ToArray();
            long before = GC.GetAllocatedBytesForCurrentThread();
            var frame = copying.Process(planar, width, height);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            binding.ProcessInto(planar, width, height, alpha, foreground);
            // Each frame of the stream as ProcessInto gives it (the copy reused from frame to frame changes nothing)...
            Assert.Equal(alpha, frame.Alpha);
            Assert.Equal(foreground, frame.Foreground);
            // ...and from the second frame on no copy of the frame is allocated: the returned alpha and foreground
            // (16 floats a pixel) and ONNX Runtime's small objects, well under another frame's 12 bytes a pixel.
            if (f > 0) Assert.True(allocated < 16L * n + 6 * n, $"Process allocated {allocated} bytes for a {width}×{height} frame");
            rgb.AsSpan().Fill((byte)(40 * f));
            var converted = copying.ProcessRgb24(rgb, width, height);
            Assert.All(converted.Alpha, a => Assert.Equal(40 * f / 255f, a, 5));
        }
    }

    [Fact]
    public void Recurrent_state_is_carried_and_resets_on_size_change_and_on_request()
    {
        using var session = new MattingSession(new VideoMatterOptions { ModelPath = _model, IntraOpThreads = 1 });
        using var matter = new VideoMatter(session);
        for (int i = 0; i < 3; i++) matter.Process(Frame(8, 6, 0.5f), 8, 6);
        Assert.Equal(3, matter.FramesSinceReset);
        Assert.Equal(3f, StateValue(matter));

        matter.Process(Frame(10, 6, 0.5f), 10, 6);               // new size: new stream
        Assert.Equal(1, matter.FramesSinceReset);
        Assert.Equal(1f, StateValue(matter));

        matter.Reset();
        matter.Process(Frame(10, 6, 0.5f), 10, 6);
        Assert.Equal(1f, StateValue(matter));
    }

    // The test model's r1o counts frames; read it back through one more Run's input.
    private static float StateValue(VideoMatter matter) => matter.DebugState(0)[0];

    [Fact]
    public void Rgb24_input_is_scaled_to_0_1_and_honours_the_stride()
    {
        using var matter = new VideoMatter(new VideoMatterOptions { ModelPath = _model, IntraOpThreads = 1 });
        // 2×2 frame with a 2-byte row padding: stride 8.
        byte[] rgb = [255, 0, 0, 0, 255, 0, 9, 9, 0, 0, 255, 255, 255, 255, 9, 9];
        var result = matter.ProcessRgb24(rgb, 2, 2, stride: 8);
        Assert.Equal(new[] { 1f, 0f, 0f, 1f }, result.Foreground[..4]);                // R plane
        Assert.Equal(new[] { 1f / 3, 1f / 3, 1f / 3, 1f }, result.Alpha.Select(a => MathF.Round(a, 5)).ToArray(), new ToleranceComparer(1e-5f));
    }

    [Fact]
    public void Values_outside_0_1_are_refused_unless_the_caller_vouches_for_them()
    {
        // A 2×2 frame with one value above 1: refused in one line by default; CheckInputRange = false skips that pass
        // (bivm matte's frames come from bytes / 255) and the frame runs as it is.
        float[] frame = [0f, 0.5f, 1f, 1.5f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f];
        var alpha = new float[4];
        var foreground = new float[12];
        using (var checking = new VideoMatter(new VideoMatterOptions { ModelPath = _model, IntraOpThreads = 1 }))
        {
            Assert.True(checking.CheckInputRange);
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => checking.ProcessInto(frame, 2, 2, alpha, foreground));
            Assert.Contains("frame values must be in 0..1, found range [0, 1.5]", e.Message);
        }
        using var trusting = new VideoMatter(new VideoMatterOptions { ModelPath = _model, IntraOpThreads = 1, CheckInputRange = false });
        trusting.ProcessInto(frame, 2, 2, alpha, foreground);
        Assert.Equal(1.5f, foreground[3]); // the luma-key model copies src to fgr: the value went through unchecked
    }

    [Fact]
    public void Threads_that_sleep_instead_of_spinning_compute_the_same_frames()
    {
        // The shipped model on two threads, so that its parallel sections really hand work to a second thread; only
        // the waiting differs between the two sessions, never the split of the work or the result.
        var random = new Random(7);
        var frames = Enumerable.Range(0, 2).Select(_ => Enumerable.Range(0, 3 * 64 * 48).Select(_ => random.NextSingle()).ToArray()).ToList();
        using var spinning = new VideoMatter(new VideoMatterOptions { IntraOpThreads = 2, DownsampleRatio = 1f });
        using var sleeping = new VideoMatter(new VideoMatterOptions { IntraOpThreads = 2, DownsampleRatio = 1f, SpinWhileIdle = false });
        Assert.True(new VideoMatterOptions().SpinWhileIdle, "ONNX Runtime's default, for a model that has the CPUs to itself");
        foreach (var frame in frames)
        {
            var a = spinning.Process(frame, 64, 48);
            var b = sleeping.Process(frame, 64, 48);
            Assert.Equal(a.Alpha, b.Alpha);
            Assert.Equal(a.Foreground, b.Foreground);
            Assert.Contains(a.Alpha, v => v > 0.01f && v < 0.99f);   // a real matte, not a constant
        }
    }

    [Fact]
    public void Bad_frames_are_rejected_with_what_is_wrong()
    {
        using var matter = new VideoMatter(new VideoMatterOptions { ModelPath = _model });
        Assert.Contains("needs 72", Assert.Throws<ArgumentException>(() => matter.Process(new float[10], 6, 4)).Message);
        Assert.Contains("0..1", Assert.Throws<ArgumentOutOfRangeException>(() => matter.Process(Frame(6, 4, 1.5f), 6, 4)).Message);
        var nan = Frame(6, 4, 0.5f); nan[7] = float.NaN;
        Assert.Throws<ArgumentOutOfRangeException>(() => matter.Process(nan, 6, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => matter.Process([], 0, 4));
        Assert.Equal(0, matter.FramesSinceReset);
    }

    [Fact]
    public void Model_files_that_are_not_matting_models_fail_with_their_name()
    {
        string notMatting = ContractTestModels.WriteTemp(ContractTestModels.NotAMattingModel(), "identity.onnx");
        string garbage = ContractTestModels.WriteTemp("not an onnx file"u8.ToArray(), "garbage.onnx");
        try
        {
            var e1 = Assert.Throws<UserInputException>(() => new VideoMatter(new VideoMatterOptions { ModelPath = notMatting }));
            Assert.Contains("identity.onnx", e1.Message);
            Assert.Contains("no input 'src'", e1.Message);
            var e2 = Assert.Throws<UserInputException>(() => new VideoMatter(new VideoMatterOptions { ModelPath = garbage }));
            Assert.Contains("garbage.onnx: not a loadable ONNX model", e2.Message);
            var e3 = Assert.Throws<UserInputException>(() => new VideoMatter(new VideoMatterOptions { ModelPath = "/no/such/model.onnx" }));
            Assert.Contains("/no/such/model.onnx", e3.Message);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(notMatting)!, true);
            Directory.Delete(Path.GetDirectoryName(garbage)!, true);
        }
    }

    [Fact]
    public void Separate_streams_over_one_session_run_concurrently_with_their_own_state()
    {
        using var session = new MattingSession(new VideoMatterOptions { ModelPath = _model });
        var frame = Frame(64, 48, 0.25f);
        var results = new float[8][];
        Parallel.For(0, 8, i =>
        {
            using var stream = new VideoMatter(session);
            for (int t = 0; t < 5; t++) stream.Process(frame, 64, 48);
            results[i] = stream.DebugState(0);
        });
        Assert.All(results, r => Assert.Equal(5f, r[0]));
    }

    private sealed class ToleranceComparer(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => MathF.Abs(x - y) <= tolerance;
        public int GetHashCode(float obj) => 0;
    }
}
