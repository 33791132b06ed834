using System.Text.Json;
using BiVM.Data.Metrics;

namespace BiVM.Data.Tests;

public class MetricsTableTests
{
    [Fact]
    public void Summary_is_the_mean_over_frame_index_of_the_mean_over_clips()
    {
        var table = new MetricsTable();
        table.Add("bivm", "a", "pha_mad", [1, 2, 3]);
        table.Add("bivm", "b", "pha_mad", [3, 4]);
        // Index means: (1+3)/2 = 2, (2+4)/2 = 3, 3/1 = 3 → (2+3+3)/3 = 8/3 (not the flat mean 13/5).
        Assert.Equal(8.0 / 3, table.Summary("bivm", "pha_mad"), 12);
        table.Add("bivm", "a", "fgr_mse", [double.NaN, 6]);
        Assert.Equal(6, table.Summary("bivm", "fgr_mse"), 12); // NaN frames are left out
        Assert.True(double.IsNaN(table.Summary("bivm", "pha_conn")));
        Assert.Equal(2, table.ClipCount("bivm"));
    }

    [Fact]
    public void Prints_and_writes_csv_and_json()
    {
        var table = new MetricsTable();
        table.Add("rvm", "c0", "pha_mad", [10, 20]);
        table.Add("rvm", "c0", "pha_dtssd", [0, 4]);
        table.Add("bivm", "c0", "pha_mad", [5, 5]);
        string text = table.Format();
        Assert.Contains("pha_mad", text);
        Assert.Contains("15.000", text);
        Assert.Contains("n/a", text); // bivm has no dtssd

        string csv = table.ToCsv();
        var lines = csv.Trim().Split('\n');
        Assert.Equal("model,pha_mad,pha_dtssd,clips", lines[0]);
        Assert.Equal("rvm,15,2,1", lines[1]);

        string dir = Directory.CreateTempSubdirectory("bivm-table-").FullName;
        try
        {
            string json = Path.Combine(dir, "m.json");
            table.WriteJson(json);
            table.WriteCsv(Path.Combine(dir, "m.csv"));
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var rows = doc.RootElement.GetProperty("rows");
            Assert.Equal("bivm", rows[1].GetProperty("model").GetString());
            Assert.Equal(5, rows[1].GetProperty("metrics").GetProperty("pha_mad").GetDouble());
            Assert.Equal(JsonValueKind.Null, rows[1].GetProperty("metrics").GetProperty("pha_dtssd").ValueKind);
            Assert.Equal(csv, File.ReadAllText(Path.Combine(dir, "m.csv")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Unknown_metric_names_are_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MetricsTable().Add("m", "c", "pha_sad", [1]));
        Assert.Contains("pha_sad", ex.Message);
    }
}
