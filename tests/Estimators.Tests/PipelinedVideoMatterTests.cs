using BiVM.Contracts;
using BiVM.Estimators.Video;

namespace BiVM.Estimators.Tests;

/// <summary>
/// <see cref="PipelinedVideoMatter"/>: the shipped model cut into its four stages and run as a pipeline on two
/// threads gives the frames <see cref="VideoMatter"/> gives, in order, state carried; and a stream that ends early,
/// fails in a callback, is cancelled or gets bad values ends with that error, leaving the matter usable.
/// </summary>
public sealed class PipelinedVideoMatterTests
{
    private const int W = 160, H = 96;

    /// <summary>Frame t of a moving pattern (so each frame's matte depends on the carried state as well as on the frame).</summary>
    private static float[] Frame(int t)
    {
        var frame = new float[3 * W * H];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                {
                    bool inside = Math.Abs(x - 40 - 9 * t) < 22 && Math.Abs(y - 50) < 30;
                    frame[(c * H + y) * W + x] = inside ? 0.2f + 0.25f * c : 0.5f + 0.4f * MathF.Sin(0.11f * x + 0.07f * y + c + t);
                }
        return frame;
    }

    [Theory]
    [InlineData(1f, 2)]    // the refiner's If skips the guided filter
    [InlineData(0.5f, 2)]  // the guided filter upsamples
    [InlineData(0.5f, 1)]  // one worker: the stages in turn on the caller
    [InlineData(0.5f, 3)]  // more workers than the state lets run at once
    public void Its_frames_are_the_sequential_streams_frames(float ratio, int workers)
    {
        const int Frames = 7;
        using var sequential = new VideoMatter(new VideoMatterOptions { IntraOpThreads = 1, DownsampleRatio = ratio });
        var expected = Enumerable.Range(0, Frames).Select(t => sequential.Process(Frame(t), W, H)).ToList();

        using var pipelined = new PipelinedVideoMatter(new VideoMatterOptions { DownsampleRatio = ratio, IntraOpThreads = workers });
        Assert.Equal(workers, pipelined.Workers);
        for (int round = 0; round < 2; round++) // a second stream starts from an empty state again
        {
            int read = 0, written = 0;
            long count = pipelined.Run(W, H, buffer =>
            {
                if (read == Frames) return false;
                Frame(read++).CopyTo(buffer);
                return true;
            }, (alpha, foreground) =>
            {
                var frame = expected[written++];
                // The stages are the whole model's nodes; ONNX Runtime optimises each stage on its own, which may
                // regroup float operations at the cut: equal within float rounding.
                Assert.Equal(frame.Alpha.Length, alpha.Length);
                Assert.Equal(frame.Foreground.Length, foreground.Length);
                Assert.True(MaxDifference(frame.Alpha, alpha.Span) <= 1e-5f, $"frame {written - 1}: alpha differs by {MaxDifference(frame.Alpha, alpha.Span)}");
                Assert.True(MaxDifference(frame.Foreground, foreground.Span) <= 1e-5f, $"frame {written - 1}: foreground differs by {MaxDifference(frame.Foreground, foreground.Span)}");
            });
            Assert.Equal(Frames, count);
            Assert.Equal(Frames, written);
        }
    }

    [Fact]
    public void Each_worker_runs_stage_sessions_of_its_own_kept_from_stream_to_stream()
    {
        // Why: ONNX Runtime reuses a session's buffers from run to run; one session run by both workers in turn moved
        // its intermediate tensors between the cores' caches at every frame (PipelinedVideoMatter.Stage).
        using var pipelined = new PipelinedVideoMatter(new VideoMatterOptions { DownsampleRatio = 0.5f, IntraOpThreads = 2 });
        void Stream()
        {
            int read = 0;
            pipelined.Run(W, H, buffer =>
            {
                if (read == 3) return false;
                Frame(read++).CopyTo(buffer);
                return true;
            }, (_, _) => { });
        }
        Stream();
        var firstStream = Enumerable.Range(0, PipelineStagesCount).Select(s => (pipelined.Stage(0, s), pipelined.Stage(1, s))).ToList();
        Stream();
        for (int stage = 0; stage < PipelineStagesCount; stage++)
        {
            var first = pipelined.Stage(0, stage);
            var second = pipelined.Stage(1, stage);
            Assert.NotSame(first, second);
            Assert.Same(firstStream[stage].Item1, first);
            Assert.Same(firstStream[stage].Item2, second);
        }
    }

    private static int PipelineStagesCount => BiVM.Graph.PipelineStages.Names.Count;

    private static float MaxDifference(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        float worst = 0f;
        for (int i = 0; i < a.Length; i++) worst = MathF.Max(worst, MathF.Abs(a[i] - b[i]));
        return worst;
    }

    [Fact]
    public void An_empty_stream_mattes_nothing()
    {
        using var pipelined = new PipelinedVideoMatter();
        Assert.Equal(0, pipelined.Run(W, H, _ => false, (_, _) => throw new InvalidOperationException("no frame was read")));
    }

    [Fact]
    public void An_error_in_a_callback_ends_the_stream_and_the_next_stream_runs()
    {
        using var pipelined = new PipelinedVideoMatter(new VideoMatterOptions { DownsampleRatio = 0.5f });
        int read = 0, written = 0;
        var error = Assert.Throws<InvalidOperationException>(() => pipelined.Run(W, H, buffer =>
        {
            Frame(read++).CopyTo(buffer);
            return true; // an endless stream: only the error ends it
        }, (_, _) =>
        {
            if (++written == 4) throw new InvalidOperationException("the sink is full");
        }));
        Assert.Equal("the sink is full", error.Message);

        read = 0;
        Assert.Equal(3, pipelined.Run(W, H, buffer => read++ < 3 && Fill(buffer), (_, _) => { }));
    }

    private static bool Fill(Memory<float> buffer)
    {
        Frame(1).CopyTo(buffer);
        return true;
    }

    [Fact]
    public void A_cancelled_stream_throws_and_the_next_stream_runs()
    {
        using var pipelined = new PipelinedVideoMatter();
        using var cancel = new CancellationTokenSource();
        int read = 0;
        Assert.ThrowsAny<OperationCanceledException>(() => pipelined.Run(W, H, buffer =>
        {
            if (++read == 5) cancel.Cancel();
            return Fill(buffer);
        }, (_, _) => { }, cancel.Token));

        read = 0;
        Assert.Equal(2, pipelined.Run(W, H, buffer => read++ < 2 && Fill(buffer), (_, _) => { }));
    }

    [Fact]
    public void A_frame_with_values_outside_0_to_1_is_refused_with_its_number()
    {
        using var pipelined = new PipelinedVideoMatter();
        int read = 0;
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => pipelined.Run(W, H, buffer =>
        {
            Fill(buffer);
            if (read++ == 2) buffer.Span[17] = 255f;
            return read < 6;
        }, (_, _) => { }));
        Assert.Contains("frame 2 has values outside 0..1", error.Message);
    }

    [Fact]
    public void A_model_without_the_exporters_stages_is_refused_with_one_line()
    {
        using var models = new TestModelFolder();
        var error = Assert.Throws<UserInputException>(() => new PipelinedVideoMatter(new VideoMatterOptions { ModelPath = models.Luma }));
        Assert.Contains("cannot run as a pipeline", error.Message);
        Assert.Contains("no node is named as part of the encoder", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void A_disposed_pipeline_refuses_to_run_and_disposes_once()
    {
        var pipelined = new PipelinedVideoMatter();
        int read = 0;
        Assert.Equal(1, pipelined.Run(W, H, buffer => read++ == 0 && Fill(buffer), (_, _) => { }));
        pipelined.Dispose();
        pipelined.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pipelined.Run(W, H, _ => false, (_, _) => { }));
    }

    [Fact]
    public void A_frame_too_small_for_the_ratio_is_refused_before_anything_runs()
    {
        using var pipelined = new PipelinedVideoMatter(new VideoMatterOptions { DownsampleRatio = 0.05f });
        Assert.Throws<UserInputException>(() => pipelined.Run(W, H, _ => throw new InvalidOperationException("nothing may be read"), (_, _) => { }));
    }
}

/// <summary>
/// The buffers <see cref="PipelinedVideoMatter"/> keeps: counted with the process's allocation counter, so alone (xunit
/// runs test classes in parallel otherwise, and every thread's allocations count).
/// </summary>
[Collection(nameof(AllocationCountCollection))]
public sealed class PipelinedVideoMatterBufferTests
{
    private const int W = 160, H = 96;

    [Fact]
    public void A_second_stream_of_the_same_size_reuses_the_buffers_and_another_size_gets_its_own()
    {
        const int Width = 320, Height = 192;
        var frame = new float[3 * Width * Height];
        Array.Fill(frame, 0.3f);
        using var pipelined = new PipelinedVideoMatter(new VideoMatterOptions { DownsampleRatio = 0.5f });
        long Stream(int frames, int width, int height)
        {
            int read = 0;
            return pipelined.Run(width, height, buffer =>
            {
                if (read++ == frames) return false;
                frame.AsSpan(0, 3 * width * height).CopyTo(buffer.Span);
                return true;
            }, (alpha, _) => Assert.Equal(width * height, alpha.Length));
        }
        Assert.Equal(5, Stream(5, Width, Height));
        // One slot's frame and outputs alone are 7·W·H floats; the ops' own small allocations stay far below that. A
        // worker that runs a stage for the first time still grows its thread's scratch rows (the stages go to the
        // workers as they come, so a later stream can pair them anew): a few streams of the same size may allocate
        // that once, but a pipeline that made its buffers anew for every stream would allocate them in every one.
        long oneSlot = 7L * Width * Height * sizeof(float), allocated = long.MaxValue;
        for (int stream = 0; stream < 5 && allocated >= oneSlot; stream++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            Assert.Equal(5, Stream(5, Width, Height));
            allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        }
        Assert.True(allocated < oneSlot, $"five more streams of the same size each allocated at least {allocated} bytes, one slot's buffers are {oneSlot}");
        Assert.Equal(4, Stream(4, W, H));
        Assert.Equal(3, Stream(3, Width, Height));
    }
}

/// <summary>Tests that read the process-wide allocation counter run one at a time.</summary>
[CollectionDefinition(nameof(AllocationCountCollection), DisableParallelization = true)]
public sealed class AllocationCountCollection;
