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

    [Fact]
    public void Info_reports_the_cache_sizes_the_memory_pages_and_the_libtorch_verdict()
    {
        var (code, text) = Run("info");
        Assert.Equal(0, code);
        Assert.Matches(@"cpu caches: cpuid 0x[0-9a-f]+: ", text);
        Assert.Matches(@"memory pages: (transparent huge pages|4 KB pages)", text);
        Assert.Matches(@"jit: methods with loops (compiled optimized at their first call|first compiled unoptimized) \((runtimeconfig|DOTNET_TC_QuickJitForLoops)\)", text);
        Assert.Matches(@"libtorch convolutions: .* \d+ checks passed", text);
    }

    /// <summary>
    /// The two switches reach LibTorch in a real process: oneDNN reports the SSE4.1 limit it read from the
    /// native environment (set through libc's setenv, after .NET started), and with oneDNN off no oneDNN
    /// primitive executes; the self-check passes on both paths.
    /// </summary>
    [Theory]
    [InlineData("onednn-sse41")]
    [InlineData("aten")]
    public async Task A_forced_libtorch_path_takes_effect_in_a_child_process(string path)
    {
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { typeof(BivmCommandLine).Assembly.Location, "info" }) start.ArgumentList.Add(arg);
        start.Environment["BIVM_LIBTORCH_PATH"] = path;
        start.Environment["ONEDNN_VERBOSE"] = "1";
        start.Environment.Remove("DOTNET_TC_QuickJitForLoops");
        using var process = System.Diagnostics.Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        var text = stdout + await stderr;
        Assert.Equal(0, process.ExitCode);
        Assert.Matches(@"libtorch convolutions: .* \d+ checks passed", text);
        // bivm's own runtimeconfig (not the test host's): the kernels compiled optimized from the first frame.
        Assert.Contains("jit: methods with loops compiled optimized at their first call (runtimeconfig)", text);
        if (path == "aten")
        {
            Assert.Contains("ATen's own convolutions", text);
            Assert.DoesNotContain("onednn_verbose,v1,primitive,exec", text);
        }
        else
        {
            Assert.Contains("oneDNN limited to SSE4.1", text);
            Assert.Contains("isa:Intel SSE4.1", text);
            Assert.Matches(@"onednn_verbose,v1,primitive,exec,cpu,convolution,[a-z_0-9]*:sse41", text);
        }
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
