using System.Globalization;
using BiVM.Benchmarking.Models;
using ScottPlot;

namespace BiVM.BenchChart;

/// <summary>
/// The README's chart of a <see cref="ModelReport"/> (from <c>bivm bench --models --json</c>), drawn with
/// ScottPlot: frames per second, one group of bars per frame size and thread count, one bar per model; 1-thread bars
/// from the calling thread's CPU time where it was measured.
/// </summary>
public static class ModelChart
{
    /// <summary>Writes the chart as PNG to a temporary file beside <paramref name="path"/>, renamed to it when complete.</summary>
    public static void Save(ModelReport report, string path, int width = 1100, int height = 520)
    {
        if (report.Results.Count == 0) throw new ArgumentException("the report has no results to chart", nameof(report));
        var c = CultureInfo.InvariantCulture;
        var models = report.Results.Select(r => r.Model).Distinct().ToList();
        var groups = report.Results.Select(r => (r.Width, r.Height, r.Downsample, r.Threads)).Distinct().ToList();
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var bars = new List<Bar>();
        double slot = models.Count + 1; // one empty slot between groups
        for (int g = 0; g < groups.Count; g++)
            for (int m = 0; m < models.Count; m++)
            {
                var r = report.Results.FirstOrDefault(x => x.Model == models[m] && (x.Width, x.Height, x.Downsample, x.Threads) == groups[g]);
                if (r is null) continue;
                // 1 thread: the calling thread's CPU time where measured (the undisturbed estimate on a loaded machine).
                double fps = r.CpuMs is { } cpu ? 1000 / cpu : r.Fps;
                bars.Add(new Bar { Position = g * slot + m, Value = fps, FillColor = palette.GetColor(m), Label = fps.ToString("F1", c) });
            }
        var series = plot.Add.Bars(bars);
        series.ValueLabelStyle.FontSize = 10;
        var ticks = groups.Select((k, g) => new Tick(g * slot + (models.Count - 1) / 2.0,
            string.Format(c, "{0}×{1}{2}\n{3} thread{4}", k.Width, k.Height, k.Downsample == 1f ? "" : string.Format(c, " @{0}", k.Downsample), k.Threads, k.Threads == 1 ? "" : "s"))).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.Axes.Margins(bottom: 0, top: 0.35); // room for the legend above the tallest bar, wherever it is
        plot.YLabel("frames per second");
        plot.Title(report.Results.Any(r => r.CpuMs is not null)
            ? "bivm bench --models: frames per second, state carried (1 thread: CPU time of the thread; 2: wall time)"
            : "bivm bench --models: frames per second, recurrent state carried");
        for (int m = 0; m < models.Count; m++)
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = models[m], FillColor = palette.GetColor(m) });
        plot.Legend.Alignment = Alignment.UpperRight;
        plot.ShowLegend();

        string full = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileNameWithoutExtension(full)}.tmp-{Environment.ProcessId}.png");
        try
        {
            plot.SavePng(temp, width, height);
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
