using BenchmarkDotNet.Attributes;
using BiVM.Benchmarking.Models;
using BiVM.Estimators.Video;

namespace BiVM.Benchmarks.Bdn;

/// <summary>
/// One frame through each shipped model, the way <c>bivm matte</c> runs it (<see cref="VideoMatter.ProcessInto"/> on
/// buffers kept from frame to frame, recurrent state carried): RVM-ReActNet, BiVM, BiVM lowered to standard ops, and BiVM
/// and RVM as pipelines of stages against full-precision RVM on ONNX Runtime's
/// FP32 path, at the sizes and thread counts of <c>bivm bench --models</c> (the same <see cref="ModelCase"/>s and
/// test card). `dotnet run -c Release --project benchmarks -- --filter '*ModelBenchmarks*'`.
/// </summary>
[MemoryDiagnoser(false)]
public class ModelBenchmarks
{
    private readonly Dictionary<string, (MattingSession Session, VideoMatter Matter)> _models = [];
    private readonly Dictionary<string, PipelinedVideoMatter> _pipelines = [];
    private float[] _frame = [], _alpha = [], _foreground = [];
    private BenchSize _size = BenchSize.Defaults[0];

    /// <summary>The sizes of <see cref="BenchSize.Defaults"/>, by label (WIDTHxHEIGHT, @ratio when not 1).</summary>
    [Params("512x288", "512x512", "1920x1080@0.25")]
    public string Size { get; set; } = "512x288";

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _size = BenchSize.Defaults.Single(s => Label(s) == Size);
        string folder = ModelCase.FindModelsFolder() ?? throw new DirectoryNotFoundException($"no models/ folder above {AppContext.BaseDirectory}");
        foreach (var model in ModelCase.Shipped(folder))
        {
            if (model.Pipelined)
            {
                _pipelines[model.Name] = new PipelinedVideoMatter(model.Bytes, model.Name, new VideoMatterOptions { IntraOpThreads = Threads, DownsampleRatio = _size.Downsample });
                continue;
            }
            var session = new MattingSession(model.Bytes, model.Name, Threads);
            _models[model.Name] = (session, new VideoMatter(session, _size.Downsample));
        }
        _frame = ModelBench.TestCard(_size.Width, _size.Height);
        _alpha = new float[_size.Width * _size.Height];
        _foreground = new float[3 * _size.Width * _size.Height];
        foreach (var (_, matter) in _models.Values) Run(matter);   // state warm, buffers allocated
        foreach (var pipeline in _pipelines.Values) Stream(pipeline);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var (session, matter) in _models.Values)
        {
            matter.Dispose();
            session.Dispose();
        }
        _models.Clear();
        foreach (var pipeline in _pipelines.Values) pipeline.Dispose();
        _pipelines.Clear();
    }

    private static string Label(BenchSize s) => s.Downsample == 1f ? $"{s.Width}x{s.Height}" : $"{s.Width}x{s.Height}@{s.Downsample}";

    [Benchmark(Baseline = true)]
    public void Rvm() => Run(_models["rvm"].Matter);

    [Benchmark]
    public void RvmReact() => Run(_models["rvm-react"].Matter);

    [Benchmark]
    public void Bivm() => Run(_models["bivm"].Matter);

    [Benchmark]
    public void BivmLowered() => Run(_models["bivm-lowered"].Matter);

    /// <summary>Frames per stream of <see cref="BivmPipelined"/> and <see cref="RvmPipelined"/>.</summary>
    private const int StreamFrames = 16;

    /// <summary>
    /// BiVM as a pipeline of stages (<see cref="PipelinedVideoMatter"/>, <see cref="Threads"/> workers): a stream of
    /// <see cref="StreamFrames"/> frames per invocation, reported per frame. Each stream's first frame runs through the
    /// whole model on one thread and the pipeline fills and drains, so this is a little above the steady interval
    /// between frames that <c>bivm bench --models</c> reports.
    /// </summary>
    [Benchmark(OperationsPerInvoke = StreamFrames)]
    public void BivmPipelined() => Stream(_pipelines["bivm-pipelined"]);

    /// <summary>RVM as the same pipeline: the baseline of <see cref="BivmPipelined"/>.</summary>
    [Benchmark(OperationsPerInvoke = StreamFrames)]
    public void RvmPipelined() => Stream(_pipelines["rvm-pipelined"]);

    private void Stream(PipelinedVideoMatter pipeline)
    {
        int read = 0;
        pipeline.Run(_size.Width, _size.Height, buffer =>
        {
            if (read++ == StreamFrames) return false;
            _frame.CopyTo(buffer);
            return true;
        }, (_, _) => { });
    }

    private void Run(VideoMatter matter) => matter.ProcessInto(_frame, _size.Width, _size.Height, _alpha, _foreground);
}
