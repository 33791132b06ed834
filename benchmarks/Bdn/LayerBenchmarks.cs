using BenchmarkDotNet.Attributes;
using BiVM.Benchmarking.Cases;
using BiVM.CustomOps.BinaryConv2d;

namespace BiVM.Benchmarks.Bdn;

/// <summary>The layers: ai.bivm op through ORT, the raw kernel, and ORT's FP32 Conv, at 1 and 2 threads, for
/// every popcount kernel this CPU runs.</summary>
[MemoryDiagnoser(false)]
public class LayerBenchmarks
{
    private LayerFixture? _fixture;

    public static IEnumerable<string> Layers => LayerCase.All.Select(c => c.Name);

    [ParamsSource(nameof(Layers))]
    public string Layer { get; set; } = "";

    public static IEnumerable<string> Kernels => KernelSelector.SupportedNames;

    [ParamsSource(nameof(Kernels))]
    public string Kernel { get; set; } = "";

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup() => _fixture = new LayerFixture(LayerCase.ByName(Layer), Threads, Kernel);

    [GlobalCleanup]
    public void Cleanup() => _fixture?.Dispose();

    [Benchmark(Baseline = true)]
    public void OrtFp32Conv() => _fixture!.RunFp32();

    [Benchmark]
    public void BinaryConv2dOp() => _fixture!.RunCustom();

    [Benchmark]
    public void RawKernel() => _fixture!.RunRaw();
}
