using BiVM.Estimators.MLNet;
using BiVM.Estimators.Video;
using BiVM.Tests.Shared;
using Microsoft.ML;
using Microsoft.ML.Data;
using Xunit.Abstractions;

using static BiVM.Estimators.Tests.ResourceRows;

namespace BiVM.Estimators.Tests;

/// <summary>The rows, sizes and memory probe the resource tests below share.</summary>
public static class ResourceRows
{
    public const int W = 64, H = 36, Frames = 3, Passes = 50;

    public sealed class Frame
    {
        [VectorType(3 * W * H)] public byte[] Pixels { get; set; } = [];
    }

    public sealed class Matte
    {
        [VectorType] public float[] Alpha { get; set; } = [];
    }

    /// <summary>A short clip of synthetic RGB24 frames; <paramref name="a"/> and <paramref name="b"/> vary the pattern.</summary>
    public static Frame[] Clip(int a, int b) => Enumerable.Range(0, Frames)
        .Select(t => new Frame { Pixels = Enumerable.Range(0, 3 * W * H).Select(i => (byte)(i * a + t * b)).ToArray() }).ToArray();

    /// <summary>VmRSS of /proc/self/status, in MB, after a full collection (so what remains is really held).</summary>
    public static double RssMB()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        string line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
    }
}

/// <summary>
/// A long-running service makes cursors and prediction engines without end: the live ONNX Runtime sessions and the
/// process's native memory (RSS) must stay flat. Runs the shipped BiVM model, whose session is big enough
/// (tens of MB) that one leaked per pass would show.
/// </summary>
[Collection(nameof(SessionCountCollection))]
public sealed class MLNetResourceTests(ITestOutputHelper output)
{
    private static Frame[] Clip() => ResourceRows.Clip(7, 31);

    [Fact]
    public void Fifty_transform_passes_and_fifty_prediction_engines_keep_sessions_and_native_memory_flat()
    {
        Assert.True(DefaultModel.IsAvailable, "this build ships no models/bivm.onnx");
        var ml = new MLContext(seed: 1);
        var clip = Clip();
        var data = ml.Data.LoadFromEnumerable(clip);
        int before = MattingSession.LiveCount, streamsBefore = FrameStream.LiveCount;
        using var model = ml.Transforms.ApplyBiVM(new BiVMOptions { InputColumnName = "Pixels", Width = W, Height = H, IntraOpThreads = 1 }).Fit(data);

        var streams = new List<int>();   // finalizers do not lower it: a count back to zero is a deterministic release
        var passSessions = new List<int>();
        var passRss = new List<double>();
        for (int pass = 0; pass < Passes; pass++)
        {
            var alphas = ml.Data.CreateEnumerable<Matte>(model.Transform(data), reuseRowObject: false).ToArray();
            Assert.Equal(Frames, alphas.Length);
            passSessions.Add(MattingSession.LiveCount - before);
            streams.Add(FrameStream.LiveCount - streamsBefore);
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
            streams.Add(FrameStream.LiveCount - streamsBefore);
            engineRss.Add(RssMB());
        }

        output.WriteLine($"live sessions after each Transform pass: {string.Join(" ", passSessions)}");
        output.WriteLine($"RSS MB after Transform passes 1, 10, 25, 50: {passRss[0]:F1} {passRss[9]:F1} {passRss[24]:F1} {passRss[49]:F1}");
        output.WriteLine($"live sessions after each engine: {string.Join(" ", engineSessions)}");
        output.WriteLine($"RSS MB after engines 1, 10, 25, 50: {engineRss[0]:F1} {engineRss[9]:F1} {engineRss[24]:F1} {engineRss[49]:F1}");
        output.WriteLine($"live streams after each pass, then each engine: {string.Join(" ", streams)}");
        // One session per transformer, shared by every pass; none left after a disposed engine took it with it.
        Assert.All(passSessions, n => Assert.Equal(1, n));
        Assert.All(engineSessions, n => Assert.Equal(0, n));
        Assert.All(streams, n => Assert.Equal(0, n));
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
        using var folder = new TempFolder("bivm-loaded-");
        string zip = folder.File("matting.zip");
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
    }
}

/// <summary>
/// A pipeline loaded with <see cref="BiVMCatalog.LoadWithBiVM(ModelOperationsCatalog, string, out DataViewSchema)"/>
/// releases what it holds as a fitted one does. <see cref="FrameStream.LiveCount"/> does not count a stream its
/// finalizer freed as released, so a count back to zero is a release by the cursor, engine or transformer.
/// </summary>
[Collection(nameof(SessionCountCollection))]
public sealed class LoadedPipelineResourceTests(ITestOutputHelper output)
{
    private static Frame[] Clip() => ResourceRows.Clip(5, 17);

    private static float[][] Alphas(MLContext ml, ITransformer model, IDataView data) =>
        ml.Data.CreateEnumerable<Matte>(model.Transform(data), reuseRowObject: false).Select(m => m.Alpha).ToArray();

    private static BiVMOptions Options(string input) => new() { InputColumnName = input, Width = W, Height = H, IntraOpThreads = 1 };

    [Fact]
    public void A_loaded_BiVM_transform_releases_streams_and_session_without_the_garbage_collector_over_fifty_passes_and_engines()
    {
        var ml = new MLContext(seed: 1);
        var clip = Clip();
        var data = ml.Data.LoadFromEnumerable(clip);
        using var folder = new TempFolder("bivm-loaded-");
        string zip = folder.File("matting.zip");
        float[][] expected;
        using (var fitted = ml.Transforms.ApplyBiVM(Options("Pixels")).Fit(data))
        {
            expected = Alphas(ml, fitted, data);
            ml.Model.Save(fitted, data.Schema, zip);
        }
        int sessions = MattingSession.LiveCount, streams = FrameStream.LiveCount;

        // A new context, as a service that loads the zip would have (ML.NET registers the assembly the saved form names).
        var fresh = new MLContext(seed: 2);
        var loaded = fresh.Model.LoadWithBiVM(zip, out var schema);
        var bivm = Assert.IsType<BiVMTransformer>(loaded);
        Assert.Equal("Pixels", bivm.Options.InputColumnName);
        Assert.Equal("Pixels", schema[0].Name);

        var passSessions = new List<int>();
        var passStreams = new List<int>();
        for (int pass = 0; pass < Passes; pass++)
        {
            var alphas = Alphas(fresh, loaded, data);   // reads to the end: ML.NET disposes the cursor
            if (pass == 0)
                for (int t = 0; t < Frames; t++) Assert.Equal(expected[t], alphas[t]);   // bit for bit
            passSessions.Add(MattingSession.LiveCount - sessions);
            passStreams.Add(FrameStream.LiveCount - streams);
        }
        double rssAfterPasses = RssMB();

        var engineSessions = new List<int>();
        var engineStreams = new List<int>();
        var engineRss = new List<double>();
        for (int e = 0; e < Passes; e++)
        {
            // ML.NET's default: the engine owns the transformer and disposes it with itself.
            using (var engine = fresh.Model.CreatePredictionEngine<Frame, Matte>(loaded))
                foreach (var frame in clip) Assert.Equal(W * H, engine.Predict(frame).Alpha.Length);
            engineSessions.Add(MattingSession.LiveCount - sessions);
            engineStreams.Add(FrameStream.LiveCount - streams);
            if (e % 10 == 9) engineRss.Add(RssMB());
        }
        output.WriteLine($"loaded BiVMTransformer: live sessions after each pass: {string.Join(" ", passSessions)}");
        output.WriteLine($"live streams after each pass: {string.Join(" ", passStreams)}");
        output.WriteLine($"live sessions after each engine: {string.Join(" ", engineSessions)}");
        output.WriteLine($"live streams after each engine: {string.Join(" ", engineStreams)}");
        output.WriteLine($"RSS MB after 50 passes {rssAfterPasses:F1}; after engines 10..50: {string.Join(" ", engineRss.Select(r => r.ToString("F1")))}");
        Assert.All(passSessions, n => Assert.Equal(1, n));   // one session, shared by every pass
        Assert.All(passStreams, n => Assert.Equal(0, n));    // each pass's stream released when its cursor was
        Assert.All(engineSessions, n => Assert.Equal(0, n)); // gone with the engine that owned the transformer
        Assert.All(engineStreams, n => Assert.Equal(0, n));
        Assert.InRange(engineRss[^1] - engineRss[0], -1e9, 20);
    }

    [Fact]
    public void A_loaded_chain_gets_its_BiVM_transform_back_and_disposing_the_chain_releases_it()
    {
        var ml = new MLContext(seed: 1);
        var clip = Clip();
        var data = ml.Data.LoadFromEnumerable(clip);
        using var folder = new TempFolder("bivm-loaded-");
        string zip = folder.File("matting.zip");
        float[][] expected;
        // A training-only part too: the rebuilt chain must keep each part's scope.
        using (var fitted = ml.Transforms.CopyColumns("Frame", "Pixels")
            .Append(ml.Transforms.CopyColumns("TrainingOnly", "Pixels"), TransformerScope.Training)
            .Append(ml.Transforms.ApplyBiVM(Options("Frame"))).Fit(data))
        {
            expected = Alphas(ml, fitted, data);
            ml.Model.Save(fitted, data.Schema, zip);
        }
        int sessions = MattingSession.LiveCount, streams = FrameStream.LiveCount;
        var fresh = new MLContext(seed: 2);
        var loaded = fresh.Model.LoadWithBiVM(zip, out _);
        var chain = Assert.IsType<TransformerChain<ITransformer>>(loaded);
        Assert.Single(chain.OfType<BiVMTransformer>());
        Assert.Equal(3, chain.GetModelFor(TransformerScope.Training).Count());
        Assert.Equal(2, chain.GetModelFor(TransformerScope.Scoring).Count());
        Assert.Null(loaded.Transform(data).Schema.GetColumnOrNull("TrainingOnly"));   // Transform scores

        var alphas = Alphas(fresh, loaded, data);
        for (int t = 0; t < Frames; t++) Assert.Equal(expected[t], alphas[t]);
        Assert.Equal(0, FrameStream.LiveCount - streams);
        Assert.Equal(1, MattingSession.LiveCount - sessions);

        // Engines that do not own the chain keep their streams until the chain goes; disposing it releases all.
        var engines = Enumerable.Range(0, 5).Select(_ => fresh.Model.CreatePredictionEngine<Frame, Matte>(loaded, new PredictionEngineOptions { OwnsTransformer = false })).ToList();
        foreach (var engine in engines) engine.Predict(clip[0]);
        Assert.Equal(5, FrameStream.LiveCount - streams);
        ((IDisposable)loaded).Dispose();
        Assert.Equal(0, FrameStream.LiveCount - streams);
        Assert.Equal(0, MattingSession.LiveCount - sessions);

        // Saving the loaded chain again writes the same saved form: a plain Model.Load of it gives the same alphas.
        string again = folder.File("again.zip");
        fresh.Model.Save(loaded, data.Schema, again);
        var reloaded = new MLContext(seed: 3).Model.Load(again, out _);
        var realphas = Alphas(fresh, reloaded, data);
        for (int t = 0; t < Frames; t++) Assert.Equal(expected[t], realphas[t]);
    }
}

/// <summary>Tests that count live sessions run one at a time (xunit runs test classes in parallel otherwise).</summary>
[CollectionDefinition(nameof(SessionCountCollection), DisableParallelization = true)]
public sealed class SessionCountCollection;
