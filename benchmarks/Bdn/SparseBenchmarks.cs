using BenchmarkDotNet.Attributes;
using BiVM.Benchmarking.Cases;

namespace BiVM.Benchmarks.Bdn;

/// <summary>SparseBinaryConv2d at a 10 % mask against the dense op on the same layer.</summary>
public class SparseBenchmarks
{
    private LayerFixture? _fixture;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup() => _fixture = new LayerFixture(LayerCase.Sparse, Threads);

    [GlobalCleanup]
    public void Cleanup() => _fixture?.Dispose();

    [Benchmark(Baseline = true)]
    public void Dense() => _fixture!.RunCustom();

    [Benchmark]
    public void SparseTenPercent() => _fixture!.RunSparse();
}
