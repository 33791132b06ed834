using System.Text.Json;
using BiVM.Benchmarking.Models;
using BiVM.Benchmarking.Quick;
using BiVM.Contracts;
using BiVM.Estimators.Video;
using BiVM.Export;
using Google.Protobuf;
using Onnx;
using OpenCvSharp;

namespace BiVM.Cli.Tests;

/// <summary>
/// <c>bivm bench --models</c> in CI's dry mode (every model once, small, 1 thread: it must build and run; no timing
/// is asserted), its JSON form and profile, and the lowering of bivm.onnx it times as "bivm-lowered".
/// </summary>
public sealed class BenchModelsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bivm-bench-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Dry_mode_runs_every_shipped_model_and_writes_the_documented_json_and_a_profile()
    {
        static int Profiles() => Directory.GetFiles(Environment.CurrentDirectory, "onnxruntime_profile_*.json").Length;
        int profilesBefore = Profiles();
        var (code, stdout, stderr) = CliRunner.Run("bench", "--models", "--dry", "--profile", "--json");
        Assert.True(code == 0, stderr);
        Assert.Equal(profilesBefore, Profiles());   // ONNX Runtime's profiles went to a temporary folder, now deleted
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(["results"], doc.RootElement.EnumerateObject().Select(p => p.Name));
        var results = doc.RootElement.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(ModelCase.Names, results.Select(r => r.GetProperty("model").GetString()));
        foreach (var r in results)
        {
            Assert.Equal(128, r.GetProperty("width").GetInt32());
            Assert.Equal(72, r.GetProperty("height").GetInt32());
            Assert.Equal(1.0, r.GetProperty("downsample").GetDouble());
            Assert.Equal(1, r.GetProperty("threads").GetInt32());
            Assert.True(r.GetProperty("ms").GetDouble() > 0);
            Assert.True(r.GetProperty("fps").GetDouble() > 0);
            Assert.True(r.GetProperty("modelFileBytes").GetInt64() > 0);
        }
        Assert.Contains("\"downsample\": 1.0,", stdout);   // the documented form, not 1
        // The profile names the op types: the custom conv in bivm, only standard ops in its lowering.
        static HashSet<string> Ops(JsonElement r) => r.GetProperty("profile").EnumerateArray().Select(o => o.GetProperty("opType").GetString()!).ToHashSet();
        Assert.Contains(BinaryConvSchema.BinaryConv2d, Ops(results[2]));
        Assert.DoesNotContain(BinaryConvSchema.BinaryConv2d, Ops(results[3]));
        Assert.DoesNotContain(BinaryConvSchema.SparseBinaryConv2d, Ops(results[3]));
        Assert.Contains("Conv", Ops(results[3]));
        Assert.Equal(results[2].GetProperty("kernel").GetString(), BiVM.CustomOps.BinaryConv2d.KernelSelector.DefaultName);
        // bivm-pipelined runs bivm.onnx (cut into its stages; no ONNX Runtime profile of a whole model to give).
        Assert.Equal(results[2].GetProperty("modelFileBytes").GetInt64(), results[4].GetProperty("modelFileBytes").GetInt64());
        Assert.Equal(results[2].GetProperty("kernel").GetString(), results[4].GetProperty("kernel").GetString());
        Assert.Equal("none", results[0].GetProperty("kernel").GetString());
        // rvm-pipelined runs rvm.onnx, as bivm-pipelined runs bivm.onnx; every row's ratio to the fastest RVM is that RVM's ms over its own.
        Assert.Equal(results[0].GetProperty("modelFileBytes").GetInt64(), results[5].GetProperty("modelFileBytes").GetInt64());
        Assert.Equal("none", results[5].GetProperty("kernel").GetString());
        double fastestRvm = Math.Min(results[0].GetProperty("ms").GetDouble(), results[5].GetProperty("ms").GetDouble());
        foreach (var r in results)
        {
            double expected = fastestRvm / r.GetProperty("ms").GetDouble(), actual = r.GetProperty("ratioToFastestRvm").GetDouble();
            Assert.True(Math.Abs(actual - expected) <= 0.002 * expected + 0.0005, $"{r.GetProperty("model")}: ratio to the fastest RVM {actual}, expected {expected} (ms rounded in the JSON)");
        }
        // The chart program (benchmarks/Chart) reads this JSON back: every field survives the round trip.
        var back = ModelReportWriter.FromJson(stdout);
        Assert.Equal(stdout, ModelReportWriter.ToJson(back));
    }

    /// <summary>A lossless (FFV1) clip of <paramref name="frames"/> frames: a uniform BGR colour with a moving white disc.</summary>
    private string WriteClip(string name, int frames, int width = 48, int height = 32)
    {
        string path = Path.Combine(_dir, name);
        using var writer = new VideoWriter(path, VideoWriter.FourCC('F', 'F', 'V', '1'), 10, new OpenCvSharp.Size(width, height));
        for (int t = 0; t < frames; t++)
        {
            using var frame = new Mat(height, width, MatType.CV_8UC3, new Scalar(30, 90, 200));   // BGR
            if (t > 0) Cv2.Circle(frame, new OpenCvSharp.Point(6 * t, height / 2), 5, new Scalar(255, 255, 255), -1);
            writer.Write(frame);
        }
        return path;
    }

    [Fact]
    public void Dry_mode_times_a_videos_frames_in_turn_and_says_so()
    {
        string clip = WriteClip("clip.avi", 5);
        var (code, stdout, stderr) = CliRunner.Run("bench", "--models", "--dry", "--video", clip, "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var results = doc.RootElement.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(ModelCase.Names, results.Select(r => r.GetProperty("model").GetString()));
        Assert.All(results, r => Assert.Equal("clip.avi, its first 5 frames in turn", r.GetProperty("source").GetString()));
        Assert.Equal(stdout, ModelReportWriter.ToJson(ModelReportWriter.FromJson(stdout)));
        // Without --video: the test card, named as such in the JSON and the table.
        var (cardCode, card, cardErr) = CliRunner.Run("bench", "--models", "--dry");
        Assert.True(cardCode == 0, cardErr);
        Assert.Contains("frames: the test card", card);
        var (videoCode, table, videoErr) = CliRunner.Run("bench", "--models", "--dry", "--video", clip);
        Assert.True(videoCode == 0, videoErr);
        Assert.Contains("frames: clip.avi, its first 5 frames in turn", table);
    }

    [Fact]
    public void A_videos_frames_are_planar_rgb_in_0_to_1_at_each_size_within_the_budget()
    {
        string clip = WriteClip("uniform.avi", 1);
        var video = Matting.BenchVideoFrames.Open(clip);
        Assert.Equal("uniform.avi", video.Name);
        // R plane first: the BGR colour (30, 90, 200) is R 200, G 90, B 30; the same at the file's size, scaled down
        // (area) and scaled up (bilinear), a uniform picture staying uniform.
        foreach (var (w, h) in new[] { (48, 32), (24, 16), (96, 64) })
        {
            var frame = Assert.Single(video.FramesAt(w, h));
            int n = w * h;
            Assert.Equal(3 * n, frame.Length);
            Assert.All(frame.AsSpan(0, n).ToArray(), v => Assert.Equal(200 / 255f, v, 1e-6f));
            Assert.All(frame.AsSpan(n, n).ToArray(), v => Assert.Equal(90 / 255f, v, 1e-6f));
            Assert.All(frame.AsSpan(2 * n, n).ToArray(), v => Assert.Equal(30 / 255f, v, 1e-6f));
        }
        // Frames in order, as many as the budget holds (at least one): 5 decoded, room for 2 at 48×32.
        string moving = WriteClip("moving.avi", 5);
        var all = Matting.BenchVideoFrames.Open(moving).FramesAt(48, 32);
        Assert.Equal(5, all.Count);
        Assert.Equal(all.Count, all.Select(f => string.Join(",", f.Take(3 * 48 * 32).Where((_, i) => i % 7 == 0))).Distinct().Count());   // the disc moves: no two alike
        var budgeted = Matting.BenchVideoFrames.Open(moving, sizeBudgetBytes: 2L * 3 * 48 * 32 * sizeof(float) + 100).FramesAt(48, 32);
        Assert.Equal(2, budgeted.Count);
        Assert.Equal(all[0], budgeted[0]);
        Assert.Equal(all[1], budgeted[1]);
        Assert.Single(Matting.BenchVideoFrames.Open(moving, sizeBudgetBytes: 1).FramesAt(48, 32));
    }

    [Fact]
    public void Video_is_refused_outside_the_model_suite_and_a_missing_file_gets_one_line()
    {
        var (code, _, stderr) = CliRunner.Run("bench", "--kernels", "--video", "clip.avi");
        Assert.Equal(2, code);
        Assert.Contains("--video applies to --models only", stderr);
        string missing = Path.Combine(_dir, "missing.avi");
        var (missingCode, _, missingErr) = CliRunner.Run("bench", "--models", "--dry", "--video", missing);
        Assert.NotEqual(0, missingCode);
        Assert.Contains(missing, missingErr);
        Assert.Single(missingErr.Trim().Split('\n'));
    }

    [Theory]
    [InlineData(new[] { "rvm", "bivm", "rvm-pipelined" }, new[] { 98.0, 16.0, 70.0 }, 70.0)]   // RVM pipelined faster (the Zen 4 host)
    [InlineData(new[] { "rvm", "bivm", "rvm-pipelined" }, new[] { 56.0, 16.0, 57.0 }, 56.0)]   // frame by frame faster (Zen 5)
    [InlineData(new[] { "bivm", "rvm" }, new[] { 16.0, 98.0 }, 98.0)]
    [InlineData(new[] { "rvm-react", "bivm-pipelined" }, new[] { 50.0, 14.0 }, null)]
    public void The_fastest_rvm_is_the_faster_of_its_two_schedules(string[] names, double[] ms, double? fastest) =>
        Assert.Equal(fastest, ModelBench.FastestRvm(names, ms));

    [Theory]
    [InlineData(9, new[] { 3, 3, 3 })]
    [InlineData(10, new[] { 3, 3, 4 })]
    [InlineData(2, new[] { 1, 1 })]
    [InlineData(1, new[] { 1 })]
    public void Each_models_timed_frames_are_spread_over_rounds_of_blocks(int frames, int[] blocks) =>
        Assert.Equal(blocks, ModelBench.Blocks(frames));

    [Fact]
    public void Two_thread_blocks_run_every_model_and_time_every_frame()
    {
        // The path with the pause before each block (ONNX Runtime's workers spin after a run; ModelBench's remarks).
        var options = ModelBenchOptions.Dry with { Threads = [2], Frames = 2 };
        var report = ModelBench.Run(ModelCase.Shipped(ModelCase.FindModelsFolder()!), options);
        Assert.Equal(ModelCase.Names, report.Results.Select(r => r.Model));
        Assert.All(report.Results, r => Assert.True(r.Threads == 2 && r.Frames == 2 && r.Ms > 0 && r.MinMs <= r.Ms, $"{r.Model}: {r}"));
    }

    [Fact]
    public void Dry_mode_warms_up_its_minimum_only_and_reports_it()
    {
        var report = ModelBench.Run(ModelCase.Shipped(ModelCase.FindModelsFolder()!), ModelBenchOptions.Dry);
        // Frame by frame: the one warm-up frame; a pipeline: one stream of its lead frames and one more.
        Assert.All(report.Results, r => Assert.Equal(r.Model.EndsWith("-pipelined", StringComparison.Ordinal) ? 4 : 1, r.WarmupFrames));
        var back = ModelReportWriter.FromJson(ModelReportWriter.ToJson(report));
        Assert.Equal(report.Results.Select(r => r.WarmupFrames), back.Results.Select(r => r.WarmupFrames));
    }

    [Fact]
    public void The_jit_warmup_runs_its_minimum_then_until_nothing_was_compiled_for_the_quiet_time()
    {
        Assert.Equal(3, JitWarmup.Run(() => { }, 3, TimeSpan.Zero, JitWarmup.Limit));
        // Steps that compile a new method (a compiled expression is a dynamic method the JIT compiles) for the first
        // five calls, then nothing: the warm-up goes on past the fifth until the quiet time has passed after it.
        int calls = 0;
        long lastCompile = 0;
        var quiet = TimeSpan.FromMilliseconds(150);
        int steps = JitWarmup.Run(() =>
        {
            if (++calls <= 5)
            {
                var f = System.Linq.Expressions.Expression.Lambda<Func<int>>(System.Linq.Expressions.Expression.Constant(calls)).Compile();
                Assert.Equal(calls, f());
                lastCompile = System.Diagnostics.Stopwatch.GetTimestamp();
            }
            Thread.Sleep(10);
        }, 2, quiet, JitWarmup.Limit);
        Assert.Equal(calls, steps);
        Assert.True(steps > 6, $"stopped after {steps} steps");
        Assert.True(System.Diagnostics.Stopwatch.GetElapsedTime(lastCompile) >= quiet, "stopped before the quiet time had passed since the last compilation");
        // A warm-up that never settles stops at its limit.
        int endless = 0;
        int limited = JitWarmup.Run(() =>
        {
            System.Linq.Expressions.Expression.Lambda<Func<int>>(System.Linq.Expressions.Expression.Constant(++endless)).Compile()();
        }, 1, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(200));
        Assert.Equal(endless, limited);
    }

    [Fact]
    public void Raw_rgb24_frames_come_back_planar_in_0_to_1_whole_frames_only()
    {
        // Two 3×2 frames and half of a third: byte = 100·frame + 10·pixel + channel, interleaved RGB.
        string path = Path.Combine(_dir, "frames.rgb");
        var bytes = new List<byte>();
        for (int f = 0; f < 2; f++)
            for (int p = 0; p < 6; p++)
                for (int c = 0; c < 3; c++) bytes.Add((byte)(100 * f + 10 * p + c));
        bytes.AddRange(new byte[9]);
        File.WriteAllBytes(path, bytes.ToArray());

        var frames = ModelBench.Rgb24Frames(path, 3, 2);

        Assert.Equal(2, frames.Count);
        for (int f = 0; f < 2; f++)
            for (int c = 0; c < 3; c++)
                for (int p = 0; p < 6; p++) Assert.Equal((100 * f + 10 * p + c) / 255f, frames[f][c * 6 + p]);
        File.WriteAllBytes(path, new byte[17]);
        Assert.Contains("holds no whole 3x2 rgb24 frame", Assert.Throws<ArgumentException>(() => ModelBench.Rgb24Frames(path, 3, 2)).Message);
    }

    [Fact]
    public void The_lowered_bivm_has_only_standard_ops_and_mattes_like_the_custom_one()
    {
        var custom = ModelProto.Parser.ParseFrom(DefaultModel.Load());
        var lowered = LoweredModel.From(custom);
        // The shipped file is fused: its ai.bivm nodes are binary convs and glue; the convs become Conv, and so does the
        // head's projection that the last glue computes (project_mat, written back by the unfusing before the lowering).
        // The 1×1 and sparse convs folded into their glue (PointwiseW, SparseW) come back as nodes too, and each ConvGru's two.
        int binary = custom.Graph.Node.Count(n => n.Domain == BinaryConvSchema.Domain && n.OpType is BinaryConvSchema.BinaryConv2d or BinaryConvSchema.SparseBinaryConv2d)
            + custom.Graph.Node.Count(BiVM.Graph.PointwiseFusion.IsFolded) + custom.Graph.Node.Count(BiVM.Graph.SparseFusion.IsFolded)
            + 2 * custom.Graph.Node.Count(BiVM.Graph.ConvGruFusion.IsFused);
        Assert.Equal(4, custom.Graph.Node.Count(BiVM.Graph.ConvGruFusion.IsFused)); // every decoder block's ConvGRU
        Assert.Equal(5, custom.Graph.Node.Count(BiVM.Graph.SparseFusion.IsFolded)); // SHB's sparse 3×3 of every decoder block (decode0 has two)
        int projections = custom.Graph.Node.Count(n => n.OpType == BinaryConvSchema.ShortcutRPReLU && n.Output.Count > BinaryConvSchema.ActivationProjectedOutput && n.Output[BinaryConvSchema.ActivationProjectedOutput].Length > 0);
        Assert.True(binary > 0);
        Assert.Equal(1, projections);
        Assert.DoesNotContain(lowered.Graph.Node, n => n.Domain == BinaryConvSchema.Domain);
        Assert.DoesNotContain(lowered.OpsetImport, o => o.Domain == BinaryConvSchema.Domain);
        // The stem's FP32 Conv comes back from its Stem node.
        int stems = custom.Graph.Node.Count(BiVM.Graph.StemFusion.IsFused);
        Assert.Equal(1, stems);
        Assert.Equal(custom.Graph.Node.Count(n => n.OpType == "Conv") + binary + projections + stems, lowered.Graph.Node.Count(n => n.OpType == "Conv"));
        // The packed weights went with the nodes that read them.
        Assert.DoesNotContain(lowered.Graph.Initializer, t => t.DataType == (int)TensorProto.Types.DataType.Uint64);

        const int width = 96, height = 64;
        var frame = ModelBench.TestCard(width, height);
        float[] Alpha(byte[] model, int frames)
        {
            using var session = new MattingSession(model, "test", 1);
            using var matter = new VideoMatter(session, 1f);
            MatteFrame last = default!;
            for (int f = 0; f < frames; f++) last = matter.Process(frame, width, height);
            return last.Alpha;
        }
        // Two frames, so the recurrent state goes through both graphs too. The binary convs' integer parts are exact
        // in both; ONNX Runtime may fold the lowering's Mul into its Conv, which rounds differently in the last bit,
        // and a threshold further on (SHB's mask) may then flip for a value that sits on it: compare on average.
        var a = Alpha(DefaultModel.Load(), 2);
        var b = Alpha(lowered.ToByteArray(), 2);
        double meanDiff = a.Zip(b, (x, y) => (double)Math.Abs(x - y)).Average();
        Assert.True(meanDiff < 1e-3, $"mean |alpha difference| {meanDiff}");
        Assert.True(a.Zip(b, (x, y) => Math.Abs(x - y) < 1e-4f).Count(same => same) > 0.95 * a.Length);
    }
}
