using System.Runtime.Intrinsics.X86;
using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.Cpu;

namespace BiVM.CustomOps.Jit;

/// <summary>
/// A popcount kernel whose inner loops are machine code emitted at run time (<see cref="PopcountKernelEmitter"/>)
/// into <see cref="ExecutableMemory"/> and called through an unmanaged function pointer: the way to reach
/// VPOPCNTQ, which .NET 10 has no intrinsic for. The managed side checks every argument the code trusts, since a
/// wrong count in native code is a crash or a silent overrun rather than an exception.
/// </summary>
internal sealed unsafe class JitKernel : IBinaryKernel, IDisposable
{
    private readonly ExecutableMemory _code;
    private readonly delegate* unmanaged<ulong*, int, ulong*, int, int, int*, int, void> _entry;
    private readonly bool _readsNibblePatches; // PopcountVariant.ReadsNibblePatches: Accumulate splits the patches first

    public JitKernel(PopcountVariant variant)
    {
        var (code, _, _) = PopcountKernelEmitter.Emit(variant);
        _code = ExecutableMemory.Create(code);
        _entry = (delegate* unmanaged<ulong*, int, ulong*, int, int, int*, int, void>)_code.Pointer;
        Name = variant.Name;
        PixelBlock = variant.PixelBlock;
        _readsNibblePatches = variant.ReadsNibblePatches;
    }

    /// <summary>AVX-512 with VPOPCNTQ: CPUID's AVX512_VPOPCNTDQ bit, and ZMM state enabled by the OS (XGETBV,
    /// which .NET checks for <see cref="Avx512F.IsSupported"/>; <see cref="CpuFeatures"/> requires both); and a
    /// system that lets us map code (<see cref="Emitted"/>).</summary>
    public static bool VpopcntqSupported => VpopcntdqCpu && s_vpopcntq.Value is not null;

    /// <summary>The same with 8-pixel blocks (one zmm per channel): fewer idle lanes on short pixel lists.</summary>
    public static bool Vpopcntq8Supported => VpopcntdqCpu && s_vpopcntq8.Value is not null;

    private static bool VpopcntdqCpu => CpuFeatures.Current.Avx512Vpopcntdq && Avx512F.IsSupported;

    public static bool Avx2Supported => Avx2.IsSupported && s_avx2.Value is not null;

    // One copy of each kernel per process (the code does not depend on the layer), emitted on first use.
    private static readonly Lazy<JitKernel?> s_vpopcntq = new(() => Emitted(new VpopcntqVariant()));
    private static readonly Lazy<JitKernel?> s_vpopcntq8 = new(() => Emitted(new VpopcntqVariant(registers: 1)));
    private static readonly Lazy<JitKernel?> s_avx2 = new(() => Emitted(new Avx2LookupVariant()));

    public static JitKernel Vpopcntq => VpopcntqSupported ? s_vpopcntq.Value! : throw new PlatformNotSupportedException("this CPU or OS cannot run AVX-512 VPOPCNTQ");
    public static JitKernel Vpopcntq8 => Vpopcntq8Supported ? s_vpopcntq8.Value! : throw new PlatformNotSupportedException("this CPU or OS cannot run AVX-512 VPOPCNTQ");
    public static JitKernel Avx2Lookup => Avx2Supported ? s_avx2.Value! : throw new PlatformNotSupportedException("this CPU or OS cannot run run-time AVX2 code");

    /// <summary>
    /// The kernel, or null where run-time code is impossible: not Linux x86-64, or a system that refuses to map
    /// pages executable (SELinux execmem, PaX MPROTECT). Then the table falls through to the intrinsics kernels.
    /// </summary>
    private static JitKernel? Emitted(PopcountVariant variant)
    {
        if (!ExecutableMemory.IsSupported) return null;
        JitKernel kernel;
        try { kernel = new JitKernel(variant); }
        catch (Exception e) when (e is UnauthorizedAccessException or OutOfMemoryException) { return null; }
        if (CountsExactly(kernel)) return kernel;
        kernel.Dispose();
        return null;
    }

    /// <summary>
    /// Before the table may pick it, the emitted code counts a few random problems (1 and 3 blocks, 4 and 8 channels,
    /// 1, 9 and 37 words: tails, a 3×3×64 patch, several byte budgets) and must agree with scalar XOR + popcount read
    /// straight from the layout. Machine code that was only ever checked by disassembly and simulation (the VPOPCNTQ
    /// variant on hosts without it) then cannot give a host wrong mattes: where it disagrees, the intrinsics kernels run.
    /// </summary>
    internal static bool CountsExactly(IBinaryKernel kernel)
    {
        var random = new Random(12);
        foreach (var (blocks, cout, words) in new[] { (1, 4, 1), (3, 8, 9), (1, 4, 37), (3, 4, 9) })
        {
            int pb = kernel.PixelBlock, stride = blocks * pb;
            var patches = new ulong[blocks * words * pb];
            var planes = new ulong[3 * cout * words];   // words, low nibbles, high nibbles (IBinaryKernel)
            foreach (var (array, length) in new[] { (patches, patches.Length), (planes, cout * words) })
                for (int i = 0; i < length; i++) array[i] = (ulong)random.NextInt64() ^ ((ulong)random.NextInt64() << 1);
            var counts = new int[cout * stride];
            fixed (ulong* pp = patches) fixed (ulong* pw = planes) fixed (int* pc = counts)
            {
                IBinaryKernel.WriteNibblePlanes(pw, cout * words);
                kernel.Accumulate(pp, blocks, pw, cout, words, pc, stride);
            }
            for (int co = 0; co < cout; co++)
                for (int p = 0; p < stride; p++)
                {
                    int expected = 0;
                    for (int k = 0; k < words; k++)
                        expected += System.Numerics.BitOperations.PopCount(patches[(p / pb * words + k) * pb + p % pb] ^ planes[co * words + k]);
                    if (counts[co * stride + p] != expected) return false;
                }
        }
        return true;
    }

    public string Name { get; }
    public int PixelBlock { get; }

    /// <summary>The VPOPCNTQ code reads the weights' words alone; the AVX2 lookup their nibble planes.</summary>
    public bool ReadsWeightWordsOnly => !_readsNibblePatches;
    public int SegmentScale => _readsNibblePatches ? 2 : 1;

    public void Accumulate(ulong* patches, int blocks, ulong* weights, int coutPadded, int patchWords, int* counts, int countsStride)
    {
        if (patches == null || weights == null || counts == null) throw new ArgumentNullException(nameof(patches), "null buffer");
        // The emitted loops run at least once (do-while) and keep 64-bit byte offsets, so zero or negative counts
        // would run away; patchWords·64 must fit an int count.
        if (blocks < 1) throw new ArgumentOutOfRangeException(nameof(blocks), blocks, "must be ≥ 1");
        if (coutPadded < IBinaryKernel.CoutBlock || coutPadded % IBinaryKernel.CoutBlock != 0)
            throw new ArgumentOutOfRangeException(nameof(coutPadded), coutPadded, $"must be a positive multiple of {IBinaryKernel.CoutBlock}");
        if (patchWords < 1 || patchWords > int.MaxValue / 64) throw new ArgumentOutOfRangeException(nameof(patchWords), patchWords, "must be in [1, 2^25)");
        if (countsStride < (long)blocks * PixelBlock) throw new ArgumentOutOfRangeException(nameof(countsStride), countsStride, $"must hold blocks·{PixelBlock} counts");
        ObjectDisposedException.ThrowIf(_code.IsClosed, this);
        // The lookup's code reads each patch word as its two nibble vectors, split here once for every block of channels.
        if (_readsNibblePatches)
        {
            long words = (long)blocks * patchWords * PixelBlock;
            ulong* split = ThreadScratch.NibblePatches(checked((int)(2 * words)));
            IBinaryKernel.SplitNibbles(patches, words, split);
            patches = split;
        }
        // No reference is taken on the pages per call (SafeHandle.DangerousAddRef/Release): those are two atomic
        // operations on the handle's state, one cache line that every thread calling this shared kernel writes, so
        // with two workers it moved between the cores at every call (perf, 600 pipelined 512×288 frames on Zen 5:
        // this method's own samples 65 with one worker, 342 with two). The process's kernels are never disposed; a
        // kernel made for a test is disposed by its owner after its last call (see Dispose). KeepAlive (no atomic) keeps
        // the handle's finalizer from unmapping the pages of a kernel nothing else references while its code runs.
        _entry(patches, blocks, weights, coutPadded, patchWords, counts, countsStride);
        GC.KeepAlive(_code);
    }

    /// <summary>Unmaps the code. Only for a kernel of one's own, after its last call: a call racing this would jump into
    /// unmapped pages. The process's kernels (<see cref="Vpopcntq"/>, <see cref="Vpopcntq8"/>, <see cref="Avx2Lookup"/>)
    /// live as long as the process and are never disposed.</summary>
    public void Dispose() => _code.Dispose();
}
