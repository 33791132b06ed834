using System.Numerics.Tensors;
using BiVM.Cli.Matting;
using OpenCvSharp;
using FrameSource = BiVM.Cli.Matting.FrameSource;

namespace BiVM.Cli.Tests;

/// <summary>
/// The one-pass pixel loops of <c>bivm matte</c> (<see cref="PixelKernels"/>): the AVX2 paths give the reference's
/// bits, and the reference gives the bits of the OpenCV and TensorPrimitives chains it replaced, so the composite
/// video is the same as before, frame for frame. Sizes are odd so that the scalar tails run too.
/// </summary>
public sealed class PixelKernelTests
{
    private const int Width = 67, Height = 29, N = Width * Height;

    [Fact]
    public void Bgr_bytes_become_the_same_planar_floats_as_opencvs_extract_and_convert()
    {
        var bgr = RandomBytes(3 * N, seed: 1);
        for (int v = 0; v < 256; v++) { bgr[3 * v] = (byte)v; bgr[3 * v + 1] = (byte)(255 - v); bgr[3 * v + 2] = (byte)(v * 7); }   // every byte value in every channel
        float[] r = new float[N], g = new float[N], b = new float[N];
        PixelKernels.ToPlanar(bgr, r, g, b);

        using var image = Mat.FromPixelData(Height, Width, MatType.CV_8UC3, bgr);
        float[][] planes = [r, g, b];
        for (int c = 0; c < 3; c++)
        {
            using var channel = new Mat();
            using var expected = new Mat();
            Cv2.ExtractChannel(image, channel, 2 - c);
            channel.ConvertTo(expected, MatType.CV_32FC1, 1.0 / 255);
            Assert.Equal(expected.AsSpan<float>().ToArray(), planes[c]);
        }
    }

    [Fact]
    public void Planar_conversion_vectorized_equals_the_reference()
    {
        var bgr = RandomBytes(3 * N, seed: 2);
        float[] r = new float[N], g = new float[N], b = new float[N], rr = new float[N], rg = new float[N], rb = new float[N];
        PixelKernels.ToPlanar(bgr, r, g, b);
        PixelKernels.ToPlanarReference(bgr, rr, rg, rb);
        Assert.Equal(rr, r);
        Assert.Equal(rg, g);
        Assert.Equal(rb, b);
    }

    [Fact]
    public void Composite_vectorized_equals_the_reference_over_a_plane_and_a_colour_with_ties_saturation_and_nan()
    {
        var (f, a, bg) = CompositeInputs(seed: 3);
        byte[] vector = new byte[N], reference = new byte[N];
        PixelKernels.Composite(f, a, bg, vector);
        PixelKernels.CompositeReference(f, a, bg, reference);
        Assert.Equal(reference, vector);
        Assert.Equal(128, reference[0]);   // 127.5 rounds half to even
        Assert.Equal(0, reference[1]);     // below 0
        Assert.Equal(255, reference[2]);   // above 255
        Assert.Equal(0, reference[3]);     // NaN

        foreach (float colour in new[] { 0f, 177 / 255f, 1f })
        {
            PixelKernels.Composite(f, a, colour, vector);
            PixelKernels.CompositeReference(f, a, colour, reference);
            Assert.Equal(reference, vector);
        }
    }

    [Fact]
    public void Composite_gives_the_bytes_of_the_subtract_multiply_add_and_convert_it_replaced()
    {
        var (f, a, bg) = CompositeInputs(seed: 4);
        f[3] = 0.25f;   // no NaN here: that case is the reference's own (above)
        var expected = new float[N];
        TensorPrimitives.Subtract(f, bg, expected);
        TensorPrimitives.MultiplyAdd(expected, a, bg, expected);
        using var floats = Mat.FromPixelData(Height, Width, MatType.CV_32FC1, expected);
        using var bytes = new Mat();
        floats.ConvertTo(bytes, MatType.CV_8UC1, 255);
        var actual = new byte[N];
        PixelKernels.Composite(f, a, bg, actual);
        Assert.Equal(bytes.AsSpan<byte>().ToArray(), actual);
    }

    [Fact]
    public void A_colour_background_composites_to_the_same_frame_as_an_image_of_that_colour()
    {
        string dir = Directory.CreateTempSubdirectory("bivm-pixels-").FullName;
        try
        {
            string image = Path.Combine(dir, "green.png");
            using (var green = new Mat(Height, Width, MatType.CV_8UC3, new Scalar(64, 177, 0))) Cv2.ImWrite(image, green);   // BGR of "green"
            using var colour = Background.Parse("green");
            using var picture = Background.Parse(image);
            Assert.NotNull(colour.Uniform);
            Assert.Null(picture.Uniform);

            using var alpha = new PlanarFrame(1);
            using var foreground = new PlanarFrame(3);
            alpha.EnsureSize(Width, Height);
            foreground.EnsureSize(Width, Height);
            var random = new Random(5);
            foreach (ref float v in alpha.Data.AsSpan()) v = random.NextSingle();
            foreach (ref float v in foreground.Data.AsSpan()) v = random.NextSingle();
            using var converter = new FrameConverter();
            using Mat overColour = new(), overImage = new();
            converter.Composite(alpha, foreground, colour, 0, overColour);
            converter.Composite(alpha, foreground, picture, 0, overImage);
            Assert.Equal(new Size(Width, Height), overColour.Size());
            Assert.Equal(MatType.CV_8UC3, overColour.Type());
            Assert.Equal(overImage.AsSpan<byte>().ToArray(), overColour.AsSpan<byte>().ToArray());
            // Where α = 1 the composite is the foreground: check one pixel's channel order (BGR bytes from R, G, B planes).
            alpha.Data[0] = 1f;
            foreground.PlaneSpan(0)[0] = 1f; foreground.PlaneSpan(1)[0] = 0f; foreground.PlaneSpan(2)[0] = 0.5f;
            converter.Composite(alpha, foreground, colour, 0, overColour);
            Assert.Equal(new byte[] { 128, 0, 255 }, overColour.AsSpan<byte>()[..3].ToArray());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static byte[] RandomBytes(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Foreground, alpha and background planes, mostly in 0..1, some outside; pixels 0–3 are the special cases.</summary>
    private static (float[] F, float[] A, float[] B) CompositeInputs(int seed)
    {
        var random = new Random(seed);
        float[] f = new float[N], a = new float[N], b = new float[N];
        for (int i = 0; i < N; i++)
        {
            f[i] = random.NextSingle() * 1.2f - 0.1f;
            a[i] = random.NextSingle();
            b[i] = random.NextSingle();
        }
        (f[0], a[0], b[0]) = (1f, 0.5f, 0f);      // exactly 127.5
        (f[1], a[1], b[1]) = (-0.5f, 1f, 0f);     // −127.5
        (f[2], a[2], b[2]) = (1.5f, 1f, 0f);      // 382.5
        (f[3], a[3], b[3]) = (float.NaN, 1f, 0f);
        // Values that land on halves after the multiplications, in bulk: k/510 for every k (ties or their neighbours).
        for (int k = 0; k < 510 && 4 + k < N; k++) (f[4 + k], a[4 + k], b[4 + k]) = (k / 510f, 1f, 0f);
        return (f, a, b);
    }
}

/// <summary>How <c>bivm matte</c> divides the CPUs between ONNX Runtime and the other stages (<see cref="CoreSchedule"/>).</summary>
public sealed class CoreScheduleTests
{
    [Theory]
    [InlineData(3, 2, 2, 3)]     // the user's --threads always wins
    [InlineData(0, 2, 2, 2)]     // 2 vCPUs without SMT: one per core, as ONNX Runtime's default
    [InlineData(0, 4, 4, 4)]
    [InlineData(0, 16, 8, 8)]    // SMT: one per physical core; the siblings take the other stages
    [InlineData(0, 2, 1, 1)]     // one core with two hardware threads
    [InlineData(0, 1, 1, 1)]     // one CPU: never zero threads
    [InlineData(0, 2, 4, 2)]     // more cores reported than CPUs this process may use: capped
    public void The_model_gets_one_thread_per_physical_core(int requested, int logical, int physical, int expected) =>
        Assert.Equal(expected, CoreSchedule.ModelThreads(requested, logical, physical));

    [Fact]
    public void The_h264_output_is_tagged_with_the_inputs_colour_or_bt601_for_rgb_frames()
    {
        Assert.Equal(["-colorspace", "smpte170m", "-color_range", "tv"], FfmpegVideoSink.ColourTags(null));   // images, raw frames
        Assert.Equal(["-colorspace", "smpte170m", "-color_range", "tv"], FfmpegVideoSink.ColourTags(new VideoColour("gbr", null, null)));
        Assert.Equal(["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"],
            FfmpegVideoSink.ColourTags(new VideoColour("bt709", "bt709", "bt709")));
        Assert.Equal(["-color_range", "tv"], FfmpegVideoSink.ColourTags(new VideoColour(null, null, null)));   // YUV that says nothing
    }

    [Fact]
    public void The_models_threads_sleep_rather_than_spin_beside_the_decoder_and_encoder()
    {
        var options = MatteJob.MatterOptions(new MatteRequest("in.mp4", Model: "m.onnx", Downsample: 0.5f), threads: 2);
        Assert.False(options.SpinWhileIdle);
        // Frames are bytes / 255 (ToPlanar, tested above against its reference): in range, so the model does not re-check.
        Assert.False(options.CheckInputRange);
        Assert.Equal((2, 0.5f, "m.onnx"), (options.IntraOpThreads, options.DownsampleRatio!.Value, options.ModelPath));
    }

    [Theory]
    [InlineData(2, "video", 768, 576, true)]      // vtest.avi: faster pipelined on Zen 4 and Zen 5
    [InlineData(2, "video", 1280, 720, true)]
    [InlineData(2, "video", 1600, 900, true)]     // faster pipelined (measured 2026-12-03, Zen 4, eighth session)
    [InlineData(2, "video", 1920, 1080, true)]    // the largest frame it runs by itself: as fast or faster pipelined
    [InlineData(2, "video", 1921, 1080, false)]
    [InlineData(2, "video", 3840, 2160, false)]   // not measured
    [InlineData(1, "video", 768, 576, false)]     // one model thread: nothing to pipeline over
    [InlineData(4, "video", 768, 576, false)]     // more threads than any host it was measured on
    [InlineData(2, "stream", 640, 480, false)]    // a camera or raw stdin: a pipeline adds latency
    [InlineData(2, "image", 640, 480, false)]
    [InlineData(2, "video", 0, 0, false)]         // the decoder reports no size
    public void The_pipeline_is_chosen_by_itself_only_for_video_files_of_at_most_1080p_on_two_model_threads(int threads, string kind, int width, int height, bool expected)
    {
        var source = kind switch { "video" => SourceKind.Video, "stream" => SourceKind.Stream, _ => SourceKind.Image };
        Assert.Equal(expected, CoreSchedule.AutoPipeline(threads, source, width > 0 ? (width, height) : null));
    }

    [Fact]
    public void This_hosts_physical_cores_are_between_one_and_its_cpus() =>
        Assert.InRange(CoreSchedule.PhysicalCores(), 1, Environment.ProcessorCount);

    [Theory]
    [InlineData(1, 2, 1)]
    [InlineData(8, 16, 8)]
    [InlineData(2, 2, 1)]    // --threads filling every CPU: the decoder and encoder still get one thread
    [InlineData(6, 2, 1)]
    public void The_decoder_and_encoder_get_the_cpus_the_model_leaves(int modelThreads, int logical, int expected) =>
        Assert.Equal(expected, CoreSchedule.SideThreads(modelThreads, logical));

    [Fact]
    public void The_encoder_is_given_its_thread_count_and_otherwise_left_to_its_default()
    {
        string dir = Directory.CreateTempSubdirectory("bivm-threads-").FullName;
        try
        {
            string path = Path.Combine(dir, "out.mp4");
            using var one = new FfmpegVideoSink(path, "--out", new OutputTiming(new Rational(25, 1), EncoderThreads: 1), SinkContent.Color);
            using var auto = new FfmpegVideoSink(path, "--out", new OutputTiming(new Rational(25, 1)), SinkContent.Color);
            var args = one.Arguments(64, 48);
            int at = args.ToList().IndexOf("-threads");
            Assert.True(at > args.ToList().IndexOf("pipe:0"), "-threads must be an output (encoder) option, after the input");
            Assert.Equal("1", args[at + 1]);
            Assert.DoesNotContain("-threads", auto.Arguments(64, 48));
            // x264's preset and crf: the default (veryfast, 18) unless set.
            Assert.Equal(["veryfast", "18"], [args[args.ToList().IndexOf("-preset") + 1], args[args.ToList().IndexOf("-crf") + 1]]);
            using var fast = new FfmpegVideoSink(path, "--out", new OutputTiming(new Rational(25, 1), H264: H264Settings.From("ultrafast", 23)), SinkContent.Color);
            var fastArgs = fast.Arguments(64, 48).ToList();
            Assert.Equal(["ultrafast", "23"], [fastArgs[fastArgs.IndexOf("-preset") + 1], fastArgs[fastArgs.IndexOf("-crf") + 1]]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_video_decoded_with_one_thread_gives_the_same_frames_as_with_opencvs_default()
    {
        string dir = Directory.CreateTempSubdirectory("bivm-decode-").FullName;
        try
        {
            // H.264 with B-frames: the codec whose frame-threaded decoder reorders most.
            string path = Path.Combine(dir, "in.mp4");
            var (code, _, err) = Ffmpeg.Run("ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=1.2", "-c:v", "libx264", "-bf", "3", "-pix_fmt", "yuv420p", path]);
            Assert.True(code == 0, err);
            using var single = FrameSource.Open(path, decoderThreads: 1);
            using var standard = FrameSource.Open(path);
            Assert.Equal(1, Assert.IsType<VideoSource>(single).DecoderThreads);   // FFmpeg took the parameter: no silent fallback
            using Mat a = new(), b = new();
            int frames = 0;
            while (single.Read(a))
            {
                Assert.True(standard.Read(b), $"the default decoder ended before frame {frames}");
                Assert.Equal(b.AsSpan<byte>().ToArray(), a.AsSpan<byte>().ToArray());
                frames++;
            }
            Assert.False(standard.Read(b));
            Assert.Equal(30, frames);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
