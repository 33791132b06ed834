namespace BiVM.Architecture.Tests;

/// <summary>
/// The references the architecture forbids (docs/architecture.md). Each rule names the project it constrains and
/// says, for a graph, which of its references break it; an empty list means the rule holds.
/// </summary>
public static class DependencyRules
{
    public sealed record Rule(string Description, Func<ProjectGraph, IEnumerable<string>> Violations);

    private const string TorchSharp = "TorchSharp-cpu", BenchmarkDotNet = "BenchmarkDotNet";
    private static readonly string[] OpenCv = ["OpenCvSharp4", "OpenCvSharp4.official.runtime.linux-x64"];

    public static readonly IReadOnlyList<Rule> All =
    [
        new("Contracts references nothing: every library may depend on it",
            g => g.Projects["Contracts"].Projects.Concat(g.Projects["Contracts"].Packages)),
        new("CustomOps references ONNX Runtime and Contracts only",
            g => g.Projects["CustomOps"].Projects.Where(p => p != "Contracts")
                .Concat(g.Projects["CustomOps"].Packages.Where(p => p != "Microsoft.ML.OnnxRuntime"))),
        new("Estimators (the inference library) reaches neither Model, Training, Export nor TorchSharp",
            g => g.ReachableProjects("Estimators").Intersect(["Model", "Training", "Export"])
                .Concat(g.ReachablePackages("Estimators").Where(p => p == TorchSharp))),
        new("Model (networks, binarization, losses) reaches neither Data nor OpenCV",
            g => g.ReachableProjects("Model").Where(p => p == "Data").Concat(g.ReachablePackages("Model").Intersect(OpenCv))),
        new("Export reaches neither Training, Data nor OpenCV",
            g => g.ReachableProjects("Export").Intersect(["Training", "Data"]).Concat(g.ReachablePackages("Export").Intersect(OpenCv))),
        new("Cli (the shipped tool) reaches neither benchmarks/ nor BenchmarkDotNet",
            g => g.ReachableProjects("Cli").Where(p => p == "Benchmarks").Concat(g.ReachablePackages("Cli").Where(p => p == BenchmarkDotNet))),
        new("Benchmarking (used by the tool) does not reference BenchmarkDotNet",
            g => g.ReachablePackages("Benchmarking").Where(p => p == BenchmarkDotNet)),
        new("Cli (which runs ML.NET's image transforms on SkiaSharp 2.88) never reaches ScottPlot (SkiaSharp 3)",
            g => g.ReachablePackages("Cli").Where(p => p == "ScottPlot")),
        new("Nothing shipped (Estimators, Cli, CustomOps) reaches People, the tool that runs the teachers (AGPL and GPL weights)",
            g => new[] { "Estimators", "Cli", "CustomOps" }.Where(p => g.ReachableProjects(p).Contains("People"))),
        new("No project references a test project",
            g => g.Projects.Values.SelectMany(p => p.Projects).Where(p => p.EndsWith(".Tests", StringComparison.Ordinal))),
    ];
}
