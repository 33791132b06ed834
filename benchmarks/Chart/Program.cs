using BiVM.Benchmarking.Models;
using BiVM.BenchChart;

// `dotnet run -c Release --project benchmarks/Chart -- RESULTS.json CHART.png`: draws the chart of a
// `bivm bench --models --json` run and prints that run's markdown table (the README quotes both).
if (args.Length != 2 || !args[1].EndsWith(".png", StringComparison.OrdinalIgnoreCase))
{
    Console.Error.WriteLine("usage: bivm-bench-chart RESULTS.json CHART.png  (RESULTS.json: the output of `bivm bench --models --json`)");
    return 2;
}
if (!File.Exists(args[0]))
{
    Console.Error.WriteLine($"bivm-bench-chart: {args[0]}: file not found");
    return 1;
}
string? folder = Path.GetDirectoryName(Path.GetFullPath(args[1]));
if (folder is null || !Directory.Exists(folder))
{
    Console.Error.WriteLine($"bivm-bench-chart: {args[1]}: folder '{folder}' does not exist");
    return 1;
}
ModelReport report;
try
{
    report = ModelReportWriter.FromJson(File.ReadAllText(args[0]));
}
catch (System.Text.Json.JsonException e)
{
    Console.Error.WriteLine($"bivm-bench-chart: {args[0]}: not the JSON of `bivm bench --models --json`: {e.Message}");
    return 1;
}
ModelChart.Save(report, args[1]);
Console.Write(ModelReportWriter.ToText(report));
return 0;
