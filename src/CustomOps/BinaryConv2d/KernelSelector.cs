using System.Runtime.Intrinsics.X86;
using BiVM.CustomOps.Jit;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// Picks the popcount kernel at run time from an ordered table of (is-supported, accepts, create): the first row
/// whose instructions the CPU has and which accepts the layer wins. Forcing a name (tests, benchmarks,
/// <c>bivm bench --kernel</c>) skips the ordering but never the support check.
/// </summary>
public static class KernelSelector
{
    /// <summary>One row of the table.</summary>
    internal sealed record Entry(string Name, Func<bool> IsSupported, Func<BinaryConv2dParams, bool> Accepts, Func<IBinaryKernel> Create);

    /// <summary>Fastest first (measured; docs/kernels.md).</summary>
    internal static readonly IReadOnlyList<Entry> Table =
    [
        // Native VPOPCNTQ, emitted at run time (no .NET intrinsic exists): CPUID AVX512_VPOPCNTDQ and ZMM state on.
        new("avx512-vpopcntq-jit", () => JitKernel.VpopcntqSupported, _ => true, () => JitKernel.Vpopcntq),
        // The same with 8-pixel blocks: 10-20 % slower on whole rows (Emerald Rapids, docs/kernels.md), so never the
        // first choice; BinaryConvolution takes it for short pixel lists (the sparse conv's rows), see Narrow.
        new("avx512-vpopcntq8-jit", () => JitKernel.Vpopcntq8Supported, _ => true, () => JitKernel.Vpopcntq8),
        // 512-bit nibble lookup: needs AVX-512BW for vpshufb / vpsadbw on zmm.
        new("avx512bw", () => Avx512BW.IsSupported, _ => true, () => Avx512Kernel.Instance),
        // The avx2 lookup emitted at run time: 3-7 % less time than the intrinsics through ORT on the README's layers
        // (Zen 3, 1 thread, medians of six runs, docs/kernels.md), and the emitter, W^X pages and calling convention run on AVX2 hosts.
        new("avx2-jit", () => JitKernel.Avx2Supported, _ => true, () => JitKernel.Avx2Lookup),
        // The intrinsics kernel, also where run-time code cannot be mapped.
        new("avx2", () => Avx2.IsSupported, _ => true, () => Avx2Kernel.Instance),
        // Any CPU: BitOperations.PopCount is POPCNT where available, a SWAR fallback elsewhere.
        new("portable", () => true, _ => true, () => PortableKernel.Instance),
    ];

    /// <summary>Every kernel name, fastest first.</summary>
    public static IReadOnlyList<string> AllNames => Table.Select(e => e.Name).ToArray();

    /// <summary>The kernels this CPU can run, fastest first.</summary>
    public static IReadOnlyList<string> SupportedNames => Table.Where(e => e.IsSupported()).Select(e => e.Name).ToArray();

    /// <summary>The kernel a layer that every row accepts runs on this CPU (the first supported row): the one reports name.</summary>
    public static string DefaultName => SupportedNames[0];

    /// <summary>Name of the kernel <see cref="Select"/> picks for <paramref name="layer"/>.</summary>
    public static string SelectedName(BinaryConv2dParams layer, string? force = null) => Select(layer, force).Name;

    /// <summary>
    /// A kernel with smaller pixel blocks that counts what <paramref name="kernel"/> counts, for pixel lists much
    /// shorter than a block of <paramref name="kernel"/> (<see cref="BinaryConvolution"/> picks per segment), or null.
    /// </summary>
    internal static IBinaryKernel? Narrow(IBinaryKernel kernel) =>
        kernel.Name == "avx512-vpopcntq-jit" && JitKernel.Vpopcntq8Supported ? JitKernel.Vpopcntq8 : null;

    internal static IBinaryKernel Select(BinaryConv2dParams layer, string? force = null)
    {
        if (!string.IsNullOrEmpty(force))
        {
            var entry = Table.FirstOrDefault(e => e.Name.Equals(force, StringComparison.OrdinalIgnoreCase))
                ?? throw new ArgumentException($"unknown binary kernel '{force}'; known: {string.Join(", ", AllNames)}");
            if (!entry.IsSupported())
                throw new NotSupportedException($"binary kernel '{entry.Name}' needs instructions this CPU does not have; supported here: {string.Join(", ", SupportedNames)}");
            if (!entry.Accepts(layer))
                throw new NotSupportedException($"binary kernel '{entry.Name}' does not accept this layer");
            return entry.Create();
        }
        foreach (var e in Table)
            if (e.IsSupported() && e.Accepts(layer)) return e.Create();
        throw new InvalidOperationException("no binary kernel accepts this layer (the portable kernel should)");
    }
}
