namespace BiVM.Model.Numerics;

/// <summary>One path tried: its self-check, and why it was tried.</summary>
public sealed record LibTorchAttempt(LibTorchPath Path, string Reason, SelfCheckResult Check);

/// <summary>Which path LibTorch computes convolutions on in this process, and how that was decided.</summary>
public sealed record LibTorchVerdict(CpuCaches Caches, IReadOnlyList<LibTorchAttempt> Attempts)
{
    public bool Correct => Attempts.Count > 0 && Attempts[^1].Check.Passed;

    /// <summary>The path in use (the last one tried).</summary>
    public LibTorchPath Path => Attempts[^1].Path;

    /// <summary>True where LibTorch runs on anything but its default path, or a check failed on the way.</summary>
    public bool FellBack => Attempts.Count > 1 || Path != LibTorchPath.OneDnn;

    /// <summary>"ATen's own convolutions (oneDNN off): …; 24 checks passed …", or why nothing computes correctly.</summary>
    public string Describe()
    {
        var last = Attempts[^1];
        var earlier = string.Concat(Attempts.Take(Attempts.Count - 1).Select(a => $"{a.Path.Describe()} failed ({a.Check.Failure}); "));
        return Correct
            ? $"{earlier}{last.Path.Describe()}, because {last.Reason}: {last.Check.Describe()}"
            : $"{earlier}{last.Path.Describe()} failed too ({last.Check.Failure})";
    }
}

/// <summary>LibTorch cannot be trusted to compute convolutions on this host: nothing passed the self-check.</summary>
public sealed class LibTorchNumericsException(LibTorchVerdict verdict)
    : Exception($"LibTorch computes wrong convolutions on this host, on every path tried, so it cannot train or export here: {verdict.Describe()}")
{
    public LibTorchVerdict Verdict { get; } = verdict;
}

/// <summary>
/// Makes sure LibTorch computes correct convolutions before this process trains, exports or runs a
/// TorchSharp forward (docs/torchsharp-on-debian12.md, "LibTorch's oneDNN miscomputes on hosts that hide
/// their cache sizes"). Once per process:
/// <list type="number">
/// <item>Where the CPU hides its cache sizes from CPUID (the trigger of uxlfoundation/oneDNN#5313), limit
/// oneDNN to SSE4.1 first: measured to compute correctly on such a host, and it must be set before oneDNN's
/// first use, so it cannot wait for a failed check.</item>
/// <item>Run <see cref="LibTorchSelfCheck"/> on LibTorch's convolutions.</item>
/// <item>If it fails, switch oneDNN off (ATen's own convolutions, a runtime switch) and check again.</item>
/// <item>If that fails too, every later call throws <see cref="LibTorchNumericsException"/>.</item>
/// </list>
/// A path other than the default is announced once on standard error. <c>BIVM_LIBTORCH_PATH</c>
/// (onednn, onednn-sse41, aten) forces one path, checked like the others, for measurements and tests;
/// a user-set <c>DNNL_MAX_CPU_ISA</c> is respected.
/// </summary>
public static class LibTorchNumerics
{
    /// <summary>Environment variable that forces one <see cref="LibTorchPath"/> (diagnostics, benchmarks, tests).</summary>
    public const string PathVariable = "BIVM_LIBTORCH_PATH";

    private static readonly Lazy<LibTorchVerdict> Decided = new(Decide, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The verdict for this process, deciding it on first use (under a second).</summary>
    public static LibTorchVerdict Verdict => Decided.Value;

    /// <summary>Called before LibTorch's first convolution: decides the path once, throws if nothing is correct.</summary>
    public static void EnsureVerified()
    {
        var verdict = Decided.Value;
        if (!verdict.Correct) throw new LibTorchNumericsException(verdict);
    }

    private static LibTorchVerdict Decide()
    {
        var forced = Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } name ? LibTorchPathNames.Parse(name) : (LibTorchPath?)null;
        var verdict = Decide(CpuCaches.Current, forced, Environment.GetEnvironmentVariable("DNNL_MAX_CPU_ISA"),
            NativeLibTorchSwitches.Instance, () => LibTorchSelfCheck.Run(LibTorchSelfCheck.TorchConvolution));
        if (verdict.FellBack && verdict.Correct) Console.Error.WriteLine($"bivm: LibTorch numerics: {verdict.Describe()}");
        return verdict;
    }

    /// <summary>The policy, with the switches and the check passed in (tests drive it with injected results).</summary>
    public static LibTorchVerdict Decide(CpuCaches caches, LibTorchPath? forced, string? userIsaLimit, ILibTorchSwitches switches, Func<SelfCheckResult> check)
    {
        var attempts = new List<LibTorchAttempt>();
        LibTorchAttempt Try(LibTorchPath path, string reason)
        {
            if (path == LibTorchPath.OneDnnSse41) switches.LimitOneDnnIsa("SSE41");
            if (path == LibTorchPath.Aten) switches.DisableOneDnn();
            var attempt = new LibTorchAttempt(path, reason, check());
            attempts.Add(attempt);
            return attempt;
        }

        if (forced is { } only)
        {
            Try(only, $"{PathVariable}={only.ToName()}");
            return new LibTorchVerdict(caches, attempts);
        }
        var first = userIsaLimit is { Length: > 0 }
            ? Try(LibTorchPath.OneDnn, $"DNNL_MAX_CPU_ISA={userIsaLimit} was set")
            : caches.HidesDataCacheSizes
                ? Try(LibTorchPath.OneDnnSse41, "this CPU hides its cache sizes from CPUID, where oneDNN's JIT reorders drop data (uxlfoundation/oneDNN#5313)")
                : Try(LibTorchPath.OneDnn, "this CPU reports its cache sizes");
        if (!first.Check.Passed) Try(LibTorchPath.Aten, $"{first.Path.Describe()} failed the self-check");
        return new LibTorchVerdict(caches, attempts);
    }
}
