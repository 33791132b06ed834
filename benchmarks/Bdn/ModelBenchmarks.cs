using BenchmarkDotNet.Attributes;
using BiVM.Estimators.Video;

namespace BiVM.Benchmarks.Bdn;

/// <summary>
/// One 512×288 frame through each shipped model (models/*.onnx), the way <c>bivm matte</c> runs it
/// (<see cref="VideoMatter"/>, recurrent state carried): BiVM and RVM-ReActNet against full-precision RVM
/// on ONNX Runtime's FP32 path, in one run. `dotnet run -c Release --project benchmarks -- --filter '*ModelBenchmarks*'`.
/// </summary>
public class ModelBenchmarks
{
    private const int Width = 512, Height = 288;
    private readonly Dictionary<string, VideoMatter> _matters = [];
    private float[] _frame = [];

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        string models = Path.Combine(RepositoryRoot(), "models");
        foreach (var name in new[] { "rvm", "rvm-react", "bivm" })
        {
            string path = Path.Combine(models, name + ".onnx");
            if (!File.Exists(path)) throw new FileNotFoundException($"{path}: export the trained model first (README, 'Training and accuracy')", path);
            _matters[name] = new VideoMatter(new VideoMatterOptions { ModelPath = path, IntraOpThreads = Threads });
        }
        // A smooth test card: the cost of these networks does not depend on the content,
        // except SHB's mask density, which the τ* search keeps within its candidate range.
        _frame = new float[3 * Width * Height];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < Height; y++)
                for (int x = 0; x < Width; x++)
                    _frame[(c * Height + y) * Width + x] = 0.5f + 0.4f * MathF.Sin(0.05f * x + 0.07f * y + c);
        foreach (var matter in _matters.Values) matter.Process(_frame, Width, Height);   // state warm, buffers allocated
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var matter in _matters.Values) matter.Dispose();
    }

    [Benchmark(Baseline = true)]
    public MatteFrame Rvm() => _matters["rvm"].Process(_frame, Width, Height);

    [Benchmark]
    public MatteFrame RvmReact() => _matters["rvm-react"].Process(_frame, Width, Height);

    [Benchmark]
    public MatteFrame Bivm() => _matters["bivm"].Process(_frame, Width, Height);

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "BiVM.Onnx.sln"))) return dir.FullName;
        throw new InvalidOperationException($"No BiVM.Onnx.sln above {AppContext.BaseDirectory}.");
    }
}
