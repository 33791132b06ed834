using BenchmarkDotNet.Attributes;
using BiVM.Benchmarking.Popcount;

namespace BiVM.Benchmarks.Bdn;

/// <summary>One call = XOR + popcount of 2 × 4 KiB (32768 bit pairs) per supported method, 131072 for the VPOPCNTQ
/// kernel loop (<see cref="PopcountPeak.Method.BitsPerCall"/>): divide to get Gbit/s.</summary>
public class PopcountBenchmarks
{
    private readonly ulong[] _a = Enumerable.Range(0, PopcountPeak.Words).Select(i => (ulong)i * 0x9E3779B97F4A7C15UL).ToArray();
    private readonly ulong[] _b = Enumerable.Range(0, PopcountPeak.Words).Select(i => ~(ulong)i * 0xC2B2AE3D27D4EB4FUL).ToArray();

    public static IEnumerable<string> Methods => PopcountPeak.Supported.Select(m => m.Name);

    [ParamsSource(nameof(Methods))]
    public string Method { get; set; } = "";

    [Benchmark]
    public long XorPopcount4KiB() => PopcountPeak.Methods.First(m => m.Name == Method).Run(_a, _b);
}
