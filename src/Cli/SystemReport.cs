using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using BiVM.CustomOps.Cpu;
using BiVM.Model.Numerics;
using Microsoft.ML.OnnxRuntime;

namespace BiVM.Cli;

/// <summary>What <c>bivm info</c> reports. Each native component is probed, never assumed.</summary>
public sealed record SystemReport(
    string BivmVersion,
    string DotnetVersion,
    string Os,
    int LogicalCores,
    IReadOnlyList<string> CpuFeatures,
    string CpuCaches,
    string MemoryPages,
    string Jit,
    IReadOnlyDictionary<string, string> Components,
    bool AllLoaded)
{
    public static SystemReport Collect()
    {
        var components = new Dictionary<string, string>();
        bool ok = true;
        void Probe(string name, Func<string> probe)
        {
            try { components[name] = probe(); }
            catch (Exception e) { components[name] = "FAILED: " + e.GetBaseException().Message; ok = false; }
        }
        Probe("onnxruntime", () => OrtEnv.Instance().GetVersionString() ?? "unknown");
        Probe("opencv", () => OpenCvSharp.Cv2.GetVersionString() ?? "unknown");
        Probe("custom ops (ai.bivm)", BiVM.CustomOps.OnnxRuntime.BiVMOps.SelfTest);
        // Training, export and TorchSharp forwards run on this path (LibTorchNumerics decides it once per process).
        Probe("libtorch convolutions", () =>
        {
            var verdict = LibTorchNumerics.Verdict;
            return verdict.Correct ? verdict.Describe() : throw new LibTorchNumericsException(verdict);
        });
        var version = typeof(SystemReport).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?";
        return new SystemReport(version.Split('+')[0], RuntimeInformation.FrameworkDescription, RuntimeInformation.OSDescription,
            Environment.ProcessorCount, BiVM.CustomOps.Cpu.CpuFeatures.Current.SupportedNames(), Model.Numerics.CpuCaches.Current.Describe(), HugePages.Describe(), JitMode(), components, ok);
    }

    /// <summary>
    /// How .NET compiles methods with loops, which all of ai.bivm's kernels are: bivm's runtimeconfig turns quick JIT
    /// for loops off (src/Cli/BiVM.Cli.csproj), so they run optimized from a video's first frame; DOTNET_TC_QuickJitForLoops
    /// overrides it.
    /// </summary>
    private static string JitMode()
    {
        string? variable = Environment.GetEnvironmentVariable("DOTNET_TC_QuickJitForLoops");
        bool quick = variable is not null ? variable.Trim() != "0"
            : !string.Equals(AppContext.GetData("System.Runtime.TieredCompilation.QuickJitForLoops") as string, "false", StringComparison.OrdinalIgnoreCase);
        string source = variable is not null ? "DOTNET_TC_QuickJitForLoops" : "runtimeconfig";
        return quick
            ? $"methods with loops first compiled unoptimized ({source}): the first 30 or so frames run 1.3–1.5× slower"
            : $"methods with loops compiled optimized at their first call ({source})";
    }

    public string ToText()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"bivm {BivmVersion}");
        sb.AppendLine($"runtime: {DotnetVersion} on {Os}, {LogicalCores} logical cores");
        sb.AppendLine($"cpu features: {(CpuFeatures.Count == 0 ? "none detected" : string.Join(' ', CpuFeatures))}");
        sb.AppendLine($"cpu caches: {CpuCaches}");
        sb.AppendLine($"memory pages: {MemoryPages}");
        sb.AppendLine($"jit: {Jit}");
        foreach (var (name, value) in Components) sb.AppendLine($"{name}: {value}");
        return sb.ToString();
    }

    public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true }) + Environment.NewLine;
}
