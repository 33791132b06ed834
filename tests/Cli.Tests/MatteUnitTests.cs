using BiVM.Cli.Matting;
using BiVM.Tests.Shared;
using OpenCvSharp;

namespace BiVM.Cli.Tests;

/// <summary>
/// The pieces of <c>bivm matte</c>'s media handling that need no process: rates, file order, allocations. Alone in
/// its collection, run after the others: the allocation count is process-wide, so no other test may run beside it.
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class MatteUnitTests
{
    [Theory]
    [InlineData("24000/1001", 24000, 1001)]
    [InlineData("25", 25, 1)]
    [InlineData("50/2", 25, 1)]
    public void Rates_parse_as_fractions(string text, long numerator, long denominator)
    {
        Assert.True(Rational.TryParse(text, out var rate));
        Assert.Equal(new Rational(numerator, denominator), rate);
        Assert.Equal(text.Contains('/') && denominator != 1 ? text : numerator.ToString(System.Globalization.CultureInfo.InvariantCulture), rate.ToString());
    }

    [Theory]
    [InlineData("0/0")]
    [InlineData("")]
    [InlineData("-25")]
    [InlineData("24000/0")]
    [InlineData("abc")]
    public void Unknown_or_invalid_rates_do_not_parse(string text) => Assert.False(Rational.TryParse(text, out _));

    [Fact]
    public void Camera_rates_known_only_as_doubles_become_ntsc_fractions()
    {
        Assert.Equal(new Rational(30000, 1001), Rational.FromDouble(29.97002997));
        Assert.Equal(new Rational(30, 1), Rational.FromDouble(30.0));
    }

    [Fact]
    public void Image_folders_are_read_in_natural_order()
    {
        string[] names = ["frame10.png", "frame2.png", "frame1.png", "frame02b.png", "a.png", "frame0001.png"];
        Assert.Equal(["a.png", "frame0001.png", "frame1.png", "frame2.png", "frame02b.png", "frame10.png"], names.Order(NaturalOrder.Instance).ToArray());
    }

    [Fact]
    public void Matting_a_video_allocates_nothing_of_a_frames_size_per_frame()
    {
        using var dir = new TempFolder("bivm-alloc-");
        string model = dir.File("luma.onnx");
        File.WriteAllBytes(model, ContractTestModels.LumaKeyWithCounter());
        const int width = 640, height = 480;
        string input = dir.File("in.mkv");
        using (var writer = new VideoWriter(input, VideoWriter.FourCC('F', 'F', 'V', '1'), 25, new Size(width, height)))
            for (int t = 0; t < 60; t++)
            {
                using var frame = new Mat(height, width, MatType.CV_8UC3, new Scalar(40, 90, 160));
                Cv2.Circle(frame, new Point(40 + t * 8, 240), 60, new Scalar(230, 230, 230), -1);
                writer.Write(frame);
            }
        long Allocated(int frames)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            MatteJob.Run(new MatteRequest(input, dir.File($"out{frames}.mkv"), Model: model, Threads: 1, MaxFrames: frames, Alpha: dir.File($"a{frames}.mkv")));
            return GC.GetTotalAllocatedBytes(precise: true) - before;
        }
        Allocated(5);   // JIT and first-use allocations
        long perFrame = (Allocated(60) - Allocated(20)) / 40;
        // The smallest per-frame buffer, the 8-bit alpha, is 640·480 = 307,200 bytes (the BGR frame 921,600, the planar
        // floats 3,686,400): one such copy per frame would show. What remains is small objects (ORT and OpenCV handles).
        Assert.InRange(perFrame, 0, 64 * 1024);
    }
}

/// <summary>Tests that must not share the process with others running at the same time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AloneCollection
{
    public const string Name = "alone";
}
