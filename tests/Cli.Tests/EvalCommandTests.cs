using System.CommandLine;
using System.Text.Json;
using BiVM.Data.IO;
using BiVM.Data.Metrics;
using BiVM.Data.Synthesis;
using BiVM.Tests.Shared;

namespace BiVM.Cli.Tests;

public sealed class EvalCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bivm-eval-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    [Fact]
    public void Scores_a_model_on_a_clip_folder_as_a_direct_computation_does()
    {
        // Ground truth: two generated validation clips written as an eval folder.
        var spec = DataSets.ValidationWithSeed(9, 2, new ClipOptions { Frames = 3, Width = 64, Height = 48 });
        string data = Path.Combine(_dir, "data");
        ClipFolder.WriteAll(spec.Clips(), data);
        string model = Path.Combine(_dir, "luma.onnx");
        File.WriteAllBytes(model, ContractTestModels.LumaKeyWithCounter());
        string json = Path.Combine(_dir, "table.json");

        var (code, stdout, stderr) = Run("eval", "--model", model, "--data", data, "--threads", "1", "--json", json, "--csv", Path.Combine(_dir, "t.csv"));
        Assert.True(code == 0, stderr);
        Assert.Contains("pha_mad", stdout);

        // Independent oracle: the luma key (mean of R, G, B) scored with MAD directly, mean over frames of the mean over clips.
        var clips = ClipFolder.ReadAll(data).ToList();
        double expected = Enumerable.Range(0, 3).Average(t => clips.Average(c =>
        {
            int n = c.Width * c.Height;
            var luma = new float[n];
            for (int i = 0; i < n; i++) luma[i] = (c.Src[t * 3 * n + i] + c.Src[t * 3 * n + n + i] + c.Src[t * 3 * n + 2 * n + i]) / 3f;
            return Mad.Compute(luma, c.Pha.AsSpan(t * n, n));
        }));
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        string text = doc.RootElement.ToString();
        Assert.Contains("luma", text);
        Assert.Contains(expected.ToString("F2", System.Globalization.CultureInfo.InvariantCulture)[..4], text.Replace(" ", ""));
        Assert.True(File.Exists(Path.Combine(_dir, "t.csv")));
    }

    [Fact]
    public void Missing_data_folder_and_conflicting_options_fail_clearly()
    {
        string model = Path.Combine(_dir, "luma.onnx");
        File.WriteAllBytes(model, ContractTestModels.LumaKeyWithCounter());
        var (code, _, stderr) = Run("eval", "--model", model, "--data", Path.Combine(_dir, "none"));
        Assert.Equal(1, code);
        Assert.Contains("none: no such folder", stderr);
        var (code2, _, stderr2) = Run("eval", "--model", model, "--data", _dir, "--seed", "3");
        Assert.Equal(2, code2);   // contradicting options: a usage error
        Assert.Contains("not both", stderr2);
        var (code3, _, stderr3) = Run("eval", "--model", model, "--seed", "3", "--csv", "/no/such/dir/t.csv");
        Assert.Equal(1, code3);   // reported before any clip is evaluated
        Assert.Contains("--csv /no/such/dir/t.csv: folder '/no/such/dir' does not exist", stderr3);
    }
}
