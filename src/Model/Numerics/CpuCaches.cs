using X86 = System.Runtime.Intrinsics.X86;

namespace BiVM.Model.Numerics;

/// <summary>
/// The data-cache sizes this CPU reports, read the way oneDNN's JIT reads them (Xbyak's
/// <c>Cpu::setCacheHierarchy</c>): CPUID's deterministic cache parameters, leaf 0x8000001D on AMD and
/// leaf 4 on Intel. Virtual machines may return zeros there; oneDNN then sizes its blocking with a
/// per-core cache of 0 and some of its JIT reorders drop data (uxlfoundation/oneDNN#5313), which is why
/// <see cref="LibTorchNumerics"/> reads this before LibTorch's first convolution.
/// The kernel's view (<c>/sys/devices/system/cpu/cpu0/cache</c>, what <c>lscpu</c> prints) is kept
/// beside it for the report: it comes from the same CPUID leaves on Linux.
/// </summary>
public sealed record CpuCaches(string Source, long L1Data, long L2, long L3, IReadOnlyList<string> KernelReport)
{
    /// <summary>The caches of the CPU this process runs on.</summary>
    public static CpuCaches Current { get; } = Detect();

    /// <summary>True where CPUID gives no size for the L1 data or the L2 cache (the levels oneDNN's JIT blocking uses).</summary>
    public bool HidesDataCacheSizes => L1Data == 0 || L2 == 0;

    /// <summary>One line: "cpuid 0x8000001d: L1d 32 KiB, L2 512 KiB, L3 32 MiB; kernel: …".</summary>
    public string Describe()
    {
        string cpuid = L1Data == 0 && L2 == 0 && L3 == 0
            ? $"{Source}: no cache sizes reported"
            : $"{Source}: L1d {Size(L1Data)}, L2 {Size(L2)}, L3 {Size(L3)}";
        string kernel = KernelReport.Count == 0 ? "none reported" : string.Join(", ", KernelReport);
        return $"{cpuid}; kernel (lscpu): {kernel}";
    }

    private static string Size(long bytes) => bytes switch
    {
        0 => "none",
        >= 1 << 20 when bytes % (1 << 20) == 0 => $"{bytes >> 20} MiB",
        _ => $"{bytes >> 10} KiB",
    };

    private static CpuCaches Detect()
    {
        var kernel = KernelCaches();
        if (!X86.X86Base.IsSupported) return new CpuCaches("no CPUID (not x86)", 0, 0, 0, kernel);
        var (_, ebx, ecx, edx) = X86.X86Base.CpuId(0, 0);
        bool amd = ebx == 0x68747541 && edx == 0x69746e65 && ecx == 0x444d4163;   // "AuthenticAMD"
        int leaf = 4;
        if (amd)
        {
            var (maxExtended, _, _, _) = X86.X86Base.CpuId(unchecked((int)0x80000000), 0);
            if ((uint)maxExtended < 0x8000001D) return new CpuCaches("cpuid: no leaf 0x8000001d", 0, 0, 0, kernel);
            leaf = unchecked((int)0x8000001D);
        }
        long l1 = 0, l2 = 0, l3 = 0;
        // Both leaves share one layout (Intel SDM vol. 2A "Deterministic Cache Parameters"; AMD APM vol. 3,
        // CPUID Fn8000_001D): EAX[4:0] type (0 none, 1 data, 2 instruction, 3 unified), EAX[7:5] level;
        // size = ways · partitions · line size · sets, each field stored minus one.
        for (int subLeaf = 0; subLeaf < 16; subLeaf++)
        {
            var (a, b, c, _) = X86.X86Base.CpuId(leaf, subLeaf);
            int type = a & 0x1F;
            if (type == 0) break;
            if (type == 2) continue;
            long size = (long)(((uint)b >> 22) + 1) * ((((uint)b >> 12) & 0x3FF) + 1) * (((uint)b & 0xFFF) + 1) * ((uint)c + 1L);
            switch ((a >> 5) & 0x7)
            {
                case 1: l1 = size; break;
                case 2: l2 = size; break;
                case 3: l3 = size; break;
            }
        }
        return new CpuCaches($"cpuid 0x{leaf:x}", l1, l2, l3, kernel);
    }

    private static IReadOnlyList<string> KernelCaches()
    {
        const string root = "/sys/devices/system/cpu/cpu0/cache";
        if (!Directory.Exists(root)) return [];
        var lines = new List<string>();
        foreach (var index in Directory.GetDirectories(root, "index*").Order(StringComparer.Ordinal))
        {
            string Read(string name) => File.Exists(Path.Combine(index, name)) ? File.ReadAllText(Path.Combine(index, name)).Trim() : "";
            var size = Read("size");
            if (size.Length == 0 || Read("type") == "Instruction") continue;
            lines.Add($"L{Read("level")}{(Read("type") == "Data" ? "d" : "")} {size}");
        }
        return lines;
    }
}
