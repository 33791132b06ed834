using X86 = System.Runtime.Intrinsics.X86;

namespace BiVM.CustomOps.Cpu;

/// <summary>
/// The instruction-set extensions that decide which binary-conv kernel runs.
/// The .NET flags say what the JIT will emit; CPUID says what the silicon has
/// (VPOPCNTDQ has no .NET intrinsic, so only CPUID can report it).
/// </summary>
public sealed record CpuFeatures(
    bool Popcnt,
    bool Avx2,
    bool Avx512F,
    bool Avx512BW,
    bool Avx512Vbmi,
    bool Avx512Vpopcntdq,
    bool Avx512Bitalg)
{
    /// <summary>The features of the machine this process runs on.</summary>
    public static CpuFeatures Current { get; } = Detect();

    private static CpuFeatures Detect()
    {
        bool vpopcntdq = false, bitalg = false;
        if (X86.X86Base.IsSupported)
        {
            // CPUID leaf 7, sub-leaf 0: ECX bit 14 = AVX512_VPOPCNTDQ, bit 12 = AVX512_BITALG (Intel SDM vol. 2A, CPUID).
            var (maxLeaf, _, _, _) = X86.X86Base.CpuId(0, 0);
            if (maxLeaf >= 7)
            {
                var (_, _, ecx, _) = X86.X86Base.CpuId(7, 0);
                vpopcntdq = (ecx & (1 << 14)) != 0;
                bitalg = (ecx & (1 << 12)) != 0;
            }
        }
        return new CpuFeatures(
            X86.Popcnt.X64.IsSupported,
            X86.Avx2.IsSupported,
            X86.Avx512F.IsSupported,
            X86.Avx512BW.IsSupported,
            X86.Avx512Vbmi.IsSupported,
            vpopcntdq && X86.Avx512F.IsSupported,
            bitalg && X86.Avx512BW.IsSupported);
    }

    /// <summary>Names of the supported features, in the order of the record.</summary>
    public IReadOnlyList<string> SupportedNames()
    {
        var names = new List<string>();
        if (Popcnt) names.Add("POPCNT");
        if (Avx2) names.Add("AVX2");
        if (Avx512F) names.Add("AVX-512F");
        if (Avx512BW) names.Add("AVX-512BW");
        if (Avx512Vbmi) names.Add("AVX-512VBMI");
        if (Avx512Vpopcntdq) names.Add("AVX-512VPOPCNTDQ");
        if (Avx512Bitalg) names.Add("AVX-512BITALG");
        return names;
    }
}
