using BiVM.Estimators.MLNet;
using BiVM.Estimators.Video;
using Microsoft.ML;
using Microsoft.ML.Data;
using Xunit.Abstractions;

namespace BiVM.Estimators.Tests;

/// <summary>
/// A long-running service makes cursors and prediction engines without end: the live ONNX Runtime sessions and the
/// process's native memory (RSS) must stay flat. Runs the shipped BiVM model, whose session is big enough
/// (tens of MB) that one leaked per pass would show.
/// </summary>
[Collection(nameof(SessionCountCollection))]
public sealed class MLNetResourceTests(ITestOutputHelper output)
{
    private const int W = 64, H = 36, Frames = 3, Passes = 50;

    public sealed class Frame
    {
        [VectorType(3 * W * H)] public byte[] Pixels { get; set; } = [];
    }

    public sealed class Matte
    {
        [VectorType] public float[] Alpha { get; set; } = [];
    }

    private static Frame[] Clip() => Enumerable.Range(0, Frames)
        .Select(t => new Frame { Pixels = Enumerable.Range(0, 3 * W * H).Select(i => (byte)(i * 7 + t * 31)).ToArray() }).ToArray();

    /// <summary>VmRSS of /proc/self/status, in MB, after a full collection (so what remains is really held).</summary>
    private static double RssMB()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        string line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
    }

    [Fact]
    public void Fifty_transform_passes_and_fifty_prediction_engines_keep_sessions_and_native_memory_flat()
    {
        Assert.True(DefaultModel.IsAvailable, "this build ships no models/bivm.onnx");
        var ml = new MLContext(seed: 1);
        var clip = Clip();
        var data = ml.Data.LoadFromEnumerable(clip);
        int before = MattingSession.LiveCount;
        using var model = ml.Transforms.ApplyBiVM(new BiVMOptions { InputColumnName = "Pixels", Width = W, Height = H, IntraOpThreads = 1 }).Fit(data);

        var passSessions = new List<int>();
        var passRss = new List<double>();
        for (int pass = 0; pass < Passes; pass++)
        {
            var alphas = ml.Data.CreateEnumerable<Matte>(model.Transform(data), reuseRowObject: false).ToArray();
            Assert.Equal(Frames, alphas.Length);
            passSessions.Add(MattingSession.LiveCount - before);
            passRss.Add(RssMB());
        }

        var engineSessions = new List<int>();
        var engineRss = new List<double>();
        for (int e = 0; e < Passes; e++)
        {
            // ML.NET's default: the engine owns the transformer and disposes it; the next engine loads the session again.
            using (var engine = ml.Model.CreatePredictionEngine<Frame, Matte>(model))
                foreach (var frame in clip) Assert.Equal(W * H, engine.Predict(frame).Alpha.Length);
            engineSessions.Add(MattingSession.LiveCount - before);
            engineRss.Add(RssMB());
        }

        output.WriteLine($"live sessions after each Transform pass: {string.Join(" ", passSessions)}");
        output.WriteLine($"RSS MB after Transform passes 1, 10, 25, 50: {passRss[0]:F1} {passRss[9]:F1} {passRss[24]:F1} {passRss[49]:F1}");
        output.WriteLine($"live sessions after each engine: {string.Join(" ", engineSessions)}");
        output.WriteLine($"RSS MB after engines 1, 10, 25, 50: {engineRss[0]:F1} {engineRss[9]:F1} {engineRss[24]:F1} {engineRss[49]:F1}");
        // One session per transformer, shared by every pass; none left after a disposed engine took it with it.
        Assert.All(passSessions, n => Assert.Equal(1, n));
        Assert.All(engineSessions, n => Assert.Equal(0, n));
        // Flat: growth after warm-up far below one leaked session per pass (tens of MB each for this model).
        Assert.InRange(passRss[49] - passRss[9], -1e9, 20);
        Assert.InRange(engineRss[49] - engineRss[9], -1e9, 20);
    }

    [Fact]
    public void A_disposed_cursor_releases_its_stream_and_a_disposed_transformer_its_session()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Clip());
        int before = MattingSession.LiveCount;
        var model = ml.Transforms.ApplyBiVM(new BiVMOptions { InputColumnName = "Pixels", Width = W, Height = H, IntraOpThreads = 1 }).Fit(data);
        Assert.Equal(1, MattingSession.LiveCount - before);   // Fit loaded it, once

        var output = model.Transform(data);
        using (var cursor = output.GetRowCursor(output.Schema))
        {
            var alpha = cursor.GetGetter<VBuffer<float>>(output.Schema["Alpha"]);
            Assert.True(cursor.MoveNext());
            VBuffer<float> value = default;
            alpha(ref value);
            Assert.Equal(W * H, value.Length);
        }
        Assert.Equal(1, MattingSession.LiveCount - before);

        // An engine that does not own the transformer, and one that was never disposed: the transformer's Dispose
        // closes both streams and the session; using the engine afterwards says why it fails.
        var engine = ml.Model.CreatePredictionEngine<Frame, Matte>(model, new PredictionEngineOptions { OwnsTransformer = false });
        engine.Predict(Clip()[0]);
        model.Dispose();
        Assert.Equal(0, MattingSession.LiveCount - before);
        var e = Assert.Throws<ObjectDisposedException>(() => engine.Predict(Clip()[1]));
        Assert.Contains("the transformer was disposed while this cursor or prediction engine was open", e.Message);

        // The transformer stays usable: a new pass loads the session again.
        Assert.Equal(Frames, ml.Data.CreateEnumerable<Matte>(model.Transform(data), reuseRowObject: false).Count());
        Assert.Equal(1, MattingSession.LiveCount - before);
        model.Dispose();
        Assert.Equal(0, MattingSession.LiveCount - before);
    }

    [Fact]
    public void A_loaded_pipeline_shares_one_session_among_its_passes()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Clip());
        string zip = Path.Combine(Directory.CreateTempSubdirectory("bivm-loaded-").FullName, "matting.zip");
        using (var fitted = ml.Transforms.ApplyBiVM(new BiVMOptions { InputColumnName = "Pixels", Width = W, Height = H, IntraOpThreads = 1 }).Fit(data))
            ml.Model.Save(fitted, data.Schema, zip);
        int before = MattingSession.LiveCount;
        var fresh = new MLContext(seed: 2);
        fresh.ComponentCatalog.RegisterAssembly(typeof(BiVMTransformer).Assembly);
        var loaded = fresh.Model.Load(zip, out _);
        var rss = new List<double>();
        for (int pass = 0; pass < 20; pass++)
        {
            Assert.Equal(Frames, fresh.Data.CreateEnumerable<Matte>(loaded.Transform(data), reuseRowObject: false).Count());
            rss.Add(RssMB());   // collects: the passes' streams are freed by their finalizers
            Assert.Equal(1, MattingSession.LiveCount - before);
        }
        output.WriteLine($"loaded pipeline, RSS MB after passes 1, 10, 20: {rss[0]:F1} {rss[9]:F1} {rss[19]:F1}");
        Assert.InRange(rss[19] - rss[4], -1e9, 20);
        Directory.Delete(Path.GetDirectoryName(zip)!, recursive: true);
    }
}

/// <summary>Tests that count live sessions run one at a time (xunit runs test classes in parallel otherwise).</summary>
[CollectionDefinition(nameof(SessionCountCollection), DisableParallelization = true)]
public sealed class SessionCountCollection;
