using System.CommandLine;
using System.Text.Json;
using BiVM.Cli;

namespace BiVM.Cli.Tests;

public class InfoCommandTests
{
    private static (int Code, string Out) Run(params string[] args)
    {
        var (code, stdout, stderr) = CliRunner.Run(args);
        return (code, stdout + stderr);
    }

    [Fact]
    public void Info_reports_the_cpu_features_that_proc_cpuinfo_lists()
    {
        var (code, text) = Run("info", "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(text);
        var reported = doc.RootElement.GetProperty("CpuFeatures").EnumerateArray().Select(e => e.GetString()).ToHashSet();

        // Independent oracle: the kernel's own flag list.
        var flags = File.ReadLines("/proc/cpuinfo").First(l => l.StartsWith("flags")).Split(':')[1]
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        Assert.Equal(flags.Contains("avx2"), reported.Contains("AVX2"));
        Assert.Equal(flags.Contains("avx512f"), reported.Contains("AVX-512F"));
        Assert.Equal(flags.Contains("avx512bw"), reported.Contains("AVX-512BW"));
        Assert.Equal(flags.Contains("avx512_vpopcntdq"), reported.Contains("AVX-512VPOPCNTDQ"));
        Assert.Equal(flags.Contains("popcnt"), reported.Contains("POPCNT"));
    }

    [Fact]
    public void Info_reports_the_onnxruntime_and_opencv_versions()
    {
        var (code, text) = Run("info");
        Assert.Equal(0, code);
        Assert.Contains("onnxruntime: 1.31.1", text);
        Assert.Matches(@"opencv: 4\.\d+", text);
    }

    [Theory]
    [InlineData("no-such-command")]
    [InlineData("info", "--no-such-option")]
    public void Unknown_subcommand_or_option_prints_usage_and_fails(params string[] args)
    {
        var (code, text) = Run(args);
        Assert.Equal(2, code);
        Assert.Contains("Unrecognized command or argument", text);
        Assert.Contains("Usage:", text);
    }
}
