using BenchmarkDotNet.Attributes;
using BiVM.Estimators.MLNet;
using BiVM.Estimators.Video;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace BiVM.Benchmarks.Bdn;

/// <summary>
/// The ML.NET path against <see cref="VideoMatter"/> on the same frames: a clip of 512×288 RGB24 frames through the
/// shipped BiVM, with <see cref="VideoMatter.ProcessRgb24"/> directly and through ML.NET, doing the same work: a
/// <c>Transform</c> pass is one new stream per clip (as <see cref="VideoMatterClip"/>, which resets), a prediction
/// engine one stream across all its calls (as <see cref="VideoMatterStream"/>, which never resets). A stream's first
/// frame costs more (ONNX Runtime plans buffers again when the state's shape changes). Times are per frame.
/// `dotnet run -c Release --project benchmarks -- --filter '*MLNetBenchmarks*'`; on a shared host,
/// `-- --mlnet` times the same four paths interleaved on thread CPU time (<see cref="Quick.MLNetQuick"/>).
/// The memory diagnoser reports what each path allocates per frame (the ML.NET path adds no copy of the frame).
/// </summary>
[MemoryDiagnoser]
public class MLNetBenchmarks
{
    /// <summary>Frame size in pixels.</summary>
    public const int Width = 512, Height = 288;

    /// <summary>Frames per clip (per benchmark invocation).</summary>
    public const int Frames = 8;
    private readonly MLContext _ml = new(seed: 1);
    private Frame[] _clip = [];
    private IDataView _data = null!;
    private VideoMatter _matter = null!;
    private BiVMTransformer _transformer = null!;
    private PredictionEngine<Frame, Matte> _engine = null!;
    private Matte _prediction = new();

    /// <summary>ONNX Runtime intra-op threads for both paths.</summary>
    [Params(1)]
    public int Threads { get; set; }

    /// <summary>A frame row: interleaved RGB24 bytes.</summary>
    public sealed class Frame
    {
        /// <summary>3·W·H bytes.</summary>
        [VectorType(3 * Width * Height)] public byte[] Pixels { get; set; } = [];
    }

    /// <summary>A prediction: the alpha matte.</summary>
    public sealed class Matte
    {
        /// <summary>H·W alpha values.</summary>
        [VectorType] public float[] Alpha { get; set; } = [];
    }

    /// <summary>Makes the clip, the matter, the transformer and the engine, and runs each path once (sessions warm).</summary>
    [GlobalSetup]
    public void Setup()
    {
        // A moving test card: smooth colours shifted a little each frame, as in ModelBenchmarks.
        _clip = Enumerable.Range(0, Frames).Select(t =>
        {
            var rgb = new byte[3 * Width * Height];
            for (int y = 0; y < Height; y++)
                for (int x = 0; x < Width; x++)
                    for (int c = 0; c < 3; c++)
                        rgb[3 * (y * Width + x) + c] = (byte)(127.5f + 100f * MathF.Sin(0.05f * (x + 4 * t) + 0.07f * y + c));
            return new Frame { Pixels = rgb };
        }).ToArray();
        _data = _ml.Data.LoadFromEnumerable(_clip);
        _matter = new VideoMatter(new VideoMatterOptions { IntraOpThreads = Threads });
        _transformer = _ml.Transforms.ApplyBiVM(new BiVMOptions { InputColumnName = "Pixels", Width = Width, Height = Height, IntraOpThreads = Threads }).Fit(_data);
        _engine = _ml.Model.CreatePredictionEngine<Frame, Matte>(_transformer, new PredictionEngineOptions { OwnsTransformer = false });
        VideoMatterClip();   // sessions warm, buffers allocated
        TransformPass();
        EnginePredict();
    }

    /// <summary>Releases the engine, the transformer and the matter.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _engine.Dispose();
        _transformer.Dispose();
        _matter.Dispose();
    }

    /// <summary>The baseline: <see cref="VideoMatter.ProcessRgb24"/> over the clip as a new stream.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Frames)]
    public float VideoMatterClip()
    {
        _matter.Reset();
        return VideoMatterStream();
    }

    /// <summary><see cref="VideoMatter.ProcessRgb24"/> over the clip, continuing one stream.</summary>
    [Benchmark(OperationsPerInvoke = Frames)]
    public float VideoMatterStream()
    {
        float sum = 0;
        foreach (var frame in _clip) sum += _matter.ProcessRgb24(frame.Pixels, Width, Height).Alpha[0];
        return sum;
    }

    /// <summary>One <c>Transform</c> pass over the clip (a new stream), reading the alpha column.</summary>
    [Benchmark(OperationsPerInvoke = Frames)]
    public float TransformPass()
    {
        var output = _transformer.Transform(_data);
        using var cursor = output.GetRowCursor([output.Schema["Alpha"]]);
        var alpha = cursor.GetGetter<VBuffer<float>>(output.Schema["Alpha"]);
        VBuffer<float> value = default;
        float sum = 0;
        while (cursor.MoveNext())
        {
            alpha(ref value);
            sum += value.GetValues()[0];
        }
        return sum;
    }

    /// <summary>The clip through one prediction engine (one stream across all calls).</summary>
    [Benchmark(OperationsPerInvoke = Frames)]
    public float EnginePredict()
    {
        float sum = 0;
        // The engine's reuse overload, as a hot loop calls it: ML.NET fills the same prediction object each time.
        foreach (var frame in _clip)
        {
            _engine.Predict(frame, ref _prediction);
            sum += _prediction.Alpha[0];
        }
        return sum;
    }
}
