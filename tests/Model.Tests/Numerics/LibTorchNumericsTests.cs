using BiVM.Model.Numerics;
using Xunit.Abstractions;

namespace BiVM.Model.Tests.Numerics;

/// <summary>
/// The LibTorch self-check: its reference is right, it passes LibTorch on this host, it catches wrong
/// convolutions of the kinds oneDNN's fault produces, and the policy falls back and refuses as documented.
/// </summary>
public sealed class LibTorchNumericsTests(ITestOutputHelper log)
{
    [Fact]
    public void Reference_convolution_matches_a_hand_computed_case()
    {
        // 1 input channel 3×3, 2 output channels, 3×3 kernel, padding 1: output (1,1) of channel 0 sees every input.
        var shape = new ConvShape("hand", 1, 1, 2, 3, 3, 3);
        float[] x = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        var w = new float[18];
        w[4] = 1;                 // channel 0: centre tap → y = x
        w[9 + 0] = 1;             // channel 1: top-left tap → y[i, j] = x[i − 1, j − 1]
        var (y, magnitude) = ReferenceConv2d.Forward(shape, x, w, [0.5f, 0]);
        Assert.Equal([1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5], y[..9]);
        Assert.Equal([0, 0, 0, 0, 1, 2, 0, 4, 5], y[9..]);
        Assert.Equal(5.5, magnitude[4]);
    }

    [Fact]
    public void Reference_gradients_are_the_adjoints_of_the_forward()
    {
        // <∂y, conv(x, w)> = <∂x, x> = <∂w, w> for a bias-free conv: an oracle that shares no loop with the reference's gradients.
        var random = new Random(5);
        foreach (var shape in LibTorchSelfCheck.Shapes)
        {
            float[] Draw(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            var (x, w, gy) = (Draw(shape.InputLength), Draw(shape.WeightLength), Draw(shape.OutputLength));
            var (y, _) = ReferenceConv2d.Forward(shape, x, w, new float[shape.OutChannels]);
            double output = y.Zip(gy, (a, b) => a * b).Sum();
            double input = ReferenceConv2d.InputGradient(shape, w, gy).Value.Zip(x, (a, b) => a * b).Sum();
            double weight = ReferenceConv2d.WeightGradient(shape, x, gy).Value.Zip(w, (a, b) => a * b).Sum();
            Assert.Equal(output, input, 1e-9 * Math.Max(1, Math.Abs(output)));
            Assert.Equal(output, weight, 1e-9 * Math.Max(1, Math.Abs(output)));
        }
    }

    [Fact]
    public void LibTorch_passes_the_check_on_this_host_and_the_process_uses_a_correct_path()
    {
        var direct = LibTorchSelfCheck.Run(LibTorchSelfCheck.TorchConvolution);
        var verdict = LibTorchNumerics.Verdict;
        log.WriteLine($"cpu caches: {verdict.Caches.Describe()}");
        log.WriteLine($"verdict: {verdict.Describe()}");
        Assert.True(direct.Passed, direct.Describe());
        Assert.Equal(LibTorchSelfCheck.Shapes.Count * 3, direct.Checks);
        Assert.True(verdict.Correct, verdict.Describe());
        // The first path tried: the forced one (BIVM_LIBTORCH_PATH, e.g. a CI run of the fallback), else what the caches call for.
        var expected = Environment.GetEnvironmentVariable(LibTorchNumerics.PathVariable) is { Length: > 0 } forced
            ? LibTorchPathNames.Parse(forced)
            : verdict.Caches.HidesDataCacheSizes ? LibTorchPath.OneDnnSse41 : LibTorchPath.OneDnn;
        Assert.Equal(expected, verdict.Attempts[0].Path);
    }

    public static TheoryData<string, string> Faults => new()
    {
        // What oneDNN#5313's reorders do: a block of output channels never written (zeros).
        { "forward", "dropped channels" },
        { "∂x", "dropped channels" },
        { "∂w", "one wrong value" },
        { "forward", "NaN" },
        { "∂x", "truncated" },
    };

    [Theory]
    [MemberData(nameof(Faults))]
    public void The_check_catches_an_injected_wrong_result(string part, string fault)
    {
        var target = LibTorchSelfCheck.Shapes[3];
        ConvResults Faulty(ConvShape shape, float[] x, float[] w, float[] b, float[] gy)
        {
            var right = LibTorchSelfCheck.TorchConvolution(shape, x, w, b, gy);
            if (shape != target) return right;
            var values = part switch { "forward" => right.Output, "∂x" => right.InputGradient, _ => right.WeightGradient };
            switch (fault)
            {
                case "dropped channels": Array.Clear(values, values.Length / 2, values.Length / 4); break;
                case "one wrong value": values[values.Length / 3] *= 1.01f; break;
                case "NaN": values[7] = float.NaN; break;
                case "truncated": return right with { InputGradient = values[..^1] };
            }
            return right;
        }

        var result = LibTorchSelfCheck.Run(Faulty);
        log.WriteLine(result.Describe());
        Assert.False(result.Passed);
        Assert.Contains($"{target.Name} {part}", result.Failure);
    }

    [Fact]
    public void A_host_that_reports_its_caches_keeps_onednn_when_the_check_passes()
    {
        var switches = new RecordingSwitches();
        var verdict = LibTorchNumerics.Decide(ReportingCaches, null, null, switches, Checks(switches, true));
        Assert.Equal(LibTorchPath.OneDnn, verdict.Path);
        Assert.False(verdict.FellBack);
        Assert.Equal(["check"], switches.Calls);
    }

    [Fact]
    public void A_host_that_hides_its_caches_limits_onednn_to_sse41_before_the_first_check()
    {
        var switches = new RecordingSwitches();
        var verdict = LibTorchNumerics.Decide(HidingCaches, null, null, switches, Checks(switches, true));
        Assert.Equal(LibTorchPath.OneDnnSse41, verdict.Path);
        Assert.Equal(["DNNL_MAX_CPU_ISA=SSE41", "check"], switches.Calls);
        Assert.Contains("hides its cache sizes", verdict.Describe());
    }

    [Fact]
    public void A_failed_check_switches_onednn_off_and_checks_again()
    {
        var switches = new RecordingSwitches();
        var verdict = LibTorchNumerics.Decide(ReportingCaches, null, null, switches, Checks(switches, false, true));
        Assert.Equal(LibTorchPath.Aten, verdict.Path);
        Assert.True(verdict.Correct && verdict.FellBack);
        Assert.Equal(["check", "oneDNN off", "check"], switches.Calls);
        Assert.Contains("oneDNN (LibTorch's default) failed", verdict.Describe());
    }

    [Fact]
    public void When_nothing_computes_correctly_training_is_refused_with_the_reason()
    {
        var switches = new RecordingSwitches();
        var verdict = LibTorchNumerics.Decide(HidingCaches, null, null, switches, Checks(switches, false, false));
        Assert.False(verdict.Correct);
        Assert.Equal([LibTorchPath.OneDnnSse41, LibTorchPath.Aten], verdict.Attempts.Select(a => a.Path));
        var refusal = new LibTorchNumericsException(verdict);
        Assert.Contains("cannot train", refusal.Message);
        Assert.Contains("3×3, 32→32 forward", refusal.Message);
    }

    [Fact]
    public void A_forced_path_and_a_user_isa_limit_are_respected()
    {
        var forced = new RecordingSwitches();
        Assert.Equal(LibTorchPath.Aten, LibTorchNumerics.Decide(HidingCaches, LibTorchPath.Aten, null, forced, Checks(forced, true)).Path);
        Assert.Equal(["oneDNN off", "check"], forced.Calls);

        var user = new RecordingSwitches();
        var verdict = LibTorchNumerics.Decide(HidingCaches, null, "AVX2", user, Checks(user, true));
        Assert.Equal(LibTorchPath.OneDnn, verdict.Path);
        Assert.Equal(["check"], user.Calls);
        Assert.Contains("DNNL_MAX_CPU_ISA=AVX2", verdict.Describe());
        Assert.Throws<ArgumentException>(() => LibTorchPathNames.Parse("mkl"));
    }

    private static readonly CpuCaches ReportingCaches = new("cpuid 0x8000001d", 32 << 10, 512 << 10, 32 << 20, ["L1d 32K"]);
    private static readonly CpuCaches HidingCaches = new("cpuid 0x8000001d", 0, 0, 0, []);

    private sealed class RecordingSwitches : ILibTorchSwitches
    {
        public List<string> Calls { get; } = [];
        public void LimitOneDnnIsa(string isa) => Calls.Add($"DNNL_MAX_CPU_ISA={isa}");
        public void DisableOneDnn() => Calls.Add("oneDNN off");
    }

    /// <summary>Scripted check results, recorded in the same call list as the switches (so the order is tested).</summary>
    private static Func<SelfCheckResult> Checks(RecordingSwitches switches, params bool[] outcomes)
    {
        int next = 0;
        return () =>
        {
            switches.Calls.Add("check");
            bool passed = outcomes[next++];
            return new SelfCheckResult(passed, 3, 0.01, passed ? null : "3×3, 32→32 forward: value 5 is 0, expected 1.2", TimeSpan.Zero);
        };
    }
}
