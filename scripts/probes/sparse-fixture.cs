#:project ../../src/Benchmarking/BiVM.Benchmarking.csproj
#:property PublishAot=false
// The kernel benchmark's SHB case alone (`bivm bench --kernels`' sparse table, LayerFixture), without the rest of the
// benchmark: the glue with the sparse conv folded in and its input handed over packed, as the shipped model runs SHB,
// at the fixture's 10 % mask and with no cell active (their difference is the sparse conv's part), and the sparse conv
// node's kernel alone against the dense one; medians of RUNS runs each, on one thread. Quick enough to run before and
// after a change, or under perf. From the repository root:
//
//   dotnet build -c Release scripts/probes/sparse-fixture.cs      # then run the dll it names
//   dotnet <dll> ["3x3 64->64 @72x128"|"3x3 35->16 @288x512"|CIN,COUT,H,W,CELL] [RUNS]
//
// CIN,COUT,H,W,CELL: any 3×3 sparse shape, e.g. the shipped model's SHB convs at 512×288 (docs/kernels.md, thirty-ninth
// session): decode3 195,80,36,64,2; decode2 115,40,72,128,4; decode1 59,32,144,256,8; decode0 35,16,288,512,16 and
// 16,16,288,512,16. SF_LOOP=folded|idle: only that glue, RUNS times, for perf.
using System.Diagnostics;
using BiVM.Benchmarking.Cases;
using BiVM.CustomOps.BinaryConv2d;

string name = args.Length > 0 ? args[0] : "3x3 64->64 @72x128";
var layer = name.Split(',') is [var cin, var cout, var h, var w, var cell]
    ? new LayerCase($"3x3 {cin}->{cout} @{h}x{w}", BinaryConv2dParams.Square(1, int.Parse(cin), int.Parse(h), int.Parse(w), int.Parse(cout), 3), int.Parse(cell))
    : LayerCase.ByName(name);
int runs = args.Length > 1 ? int.Parse(args[1]) : 2000;
using var fixture = new LayerFixture(layer, 1);
if (Environment.GetEnvironmentVariable("SF_LOOP") is { } loop)
{
    Action glue = loop == "idle" ? fixture.RunFoldedPackedIdle : fixture.RunFoldedPacked;
    for (int i = 0; i < runs; i++) glue();
    return;
}
double Median(Action run)
{
    for (int i = 0; i < 50; i++) run();
    var times = new double[runs];
    for (int i = 0; i < runs; i++)
    {
        long start = Stopwatch.GetTimestamp();
        run();
        times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }
    Array.Sort(times);
    return times[runs / 2];
}
double folded = Median(fixture.RunFoldedPacked), idle = Median(fixture.RunFoldedPackedIdle);
double dense = Median(fixture.RunRaw), sparse = Median(fixture.RunRawSparse);
Console.WriteLine($"{layer.Name}, cells of {fixture.MaskScale}, {fixture.ActiveFraction:P1} of them active, kernel {fixture.KernelName}:");
Console.WriteLine($"  folded glue, input packed: {folded:F4} ms; with no cell active {idle:F4} ms; the sparse part {folded - idle:F4} ms = {(folded - idle) / dense:P0} of the dense conv");
Console.WriteLine($"  raw kernels: dense {dense:F4} ms, sparse {sparse:F4} ms = {sparse / dense:P0}");
