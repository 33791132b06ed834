using BiVM.Contracts;
using BiVM.Estimators.Video;
using BiVM.Tests.Shared;

namespace BiVM.Estimators.Tests;

/// <summary>
/// The stream's guards: a cancelled frame leaves the stream usable with its state as before (the Terminate flag is
/// cleared), frames beyond the size limit and ratios below one feature-map cell are refused with our message.
/// </summary>
public sealed class CancellationAndLimitTests
{
    [Fact]
    public void A_cancelled_frame_throws_and_leaves_the_stream_as_it_was()
    {
        using var matter = new VideoMatter(new VideoMatterOptions { IntraOpThreads = 1, DownsampleRatio = 1f });
        const int W = 1920, H = 1080;
        var frame = new float[3 * W * H];
        Array.Fill(frame, 0.4f);
        matter.Process(frame, W, H);
        float[] state = matter.DebugState(0);

        // Cancelled before or while ONNX Runtime runs the frame (1920×1080 at ratio 1: about 1 CPU second with the
        // fused shipped BiVM on Zen 3, so a cancel at 100 ms lands inside it; a 1280×720 frame could finish first on
        // an idle host): either way no frame is returned and the recurrent state is the previous frame's.
        // The cancel comes from a thread of its own, not CancellationTokenSource's timer, whose callback waits for a
        // thread-pool thread that test classes running in parallel can keep busy past the whole frame.
        using (var cancel = new CancellationTokenSource())
        {
            var canceller = new Thread(() => { Thread.Sleep(100); cancel.Cancel(); });
            canceller.Start();
            Assert.ThrowsAny<OperationCanceledException>(() => matter.Process(frame, W, H, cancel.Token));
            canceller.Join();
        }
        using (var cancelled = new CancellationTokenSource())
        {
            cancelled.Cancel();
            Assert.ThrowsAny<OperationCanceledException>(() => matter.Process(frame, W, H, cancelled.Token));
        }
        Assert.Equal(1, matter.FramesSinceReset);
        Assert.Equal(state, matter.DebugState(0));

        // RunOptions.Terminate was cleared: the next frame runs.
        Assert.Equal(W * H, matter.Process(frame, W, H).Alpha.Length);
        Assert.Equal(2, matter.FramesSinceReset);
    }

    [Fact]
    public void A_frame_beyond_the_pixel_limit_is_refused_with_the_limit_and_its_memory()
    {
        string model = ContractTestModels.WriteTemp(ContractTestModels.LumaKeyWithCounter(), "luma.onnx");
        try
        {
            using var matter = new VideoMatter(new VideoMatterOptions { ModelPath = model, MaxFramePixels = 3000 });
            var e = Assert.Throws<UserInputException>(() => matter.ProcessRgb24(new byte[3 * 64 * 48], 64, 48));
            Assert.Equal("the frame is 64×48, 0.0 megapixels: more than the limit of 0.0 (matting takes about 120 bytes per pixel, 0.0 GB for this frame): scale it down first, or raise VideoMatterOptions.MaxFramePixels", e.Message);
            Assert.Equal(0, matter.FramesSinceReset);
            Assert.Equal(40 * 40, matter.ProcessRgb24(new byte[3 * 40 * 40], 40, 40).Alpha.Length);   // 1600 pixels: allowed
            Assert.Equal(4096L * 4096, new VideoMatterOptions().MaxFramePixels);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(model)!, recursive: true);
        }
    }

    [Fact]
    public void A_ratio_below_one_coarsest_cell_is_refused_before_ONNX_Runtime_sees_the_frame()
    {
        string model = ContractTestModels.WriteTemp(ContractTestModels.LumaKeyWithCounter(), "luma.onnx");
        try
        {
            using var matter = new VideoMatter(new VideoMatterOptions { ModelPath = model, DownsampleRatio = 0.2f });
            var e = Assert.Throws<UserInputException>(() => matter.ProcessRgb24(new byte[3 * 64 * 48], 64, 48));
            Assert.Contains("downsample ratio 0.2 is too small for a 64×48 frame: the network would see 12×9 pixels", e.Message);
            Assert.Contains($"the smallest ratio for this size is {MattingContract.SmallestDownsampleRatio(64, 48):G4}", e.Message);
            Assert.Equal(200 * 100, matter.ProcessRgb24(new byte[3 * 200 * 100], 200, 100).Alpha.Length);   // 40×20: enough
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(model)!, recursive: true);
        }
    }
}
