using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.Jit;

namespace BiVM.Benchmarking.Popcount;

/// <summary>
/// The machine's XOR + popcount ceiling: tight loops over two L1-resident 4 KiB buffers, one per method this
/// CPU and .NET can run, so each layer's binary ops/s can be stated as a fraction of what the hardware allows.
/// Each method uses four independent accumulators so the loop is throughput-bound, not latency-bound.
/// </summary>
public static unsafe class PopcountPeak
{
    /// <summary>Words per buffer: 512 × 8 B = 4 KiB, two buffers well inside a 32 KiB L1.</summary>
    public const int Words = 512;

    /// <param name="BitsPerCall">XOR+popcounted bit pairs per call of Run: one pass over the buffers unless said.</param>
    public sealed record Method(string Name, Func<bool> IsSupported, Func<ulong[], ulong[], long> Run, long BitsPerCall = Words * 64);

    public static readonly IReadOnlyList<Method> Methods =
    [
        new("scalar popcnt", () => true, Scalar),
        new("avx2 nibble lookup", () => Avx2.IsSupported, Avx2Lookup),
        new("avx512bw nibble lookup", () => Avx512BW.IsSupported, Avx512Lookup),
        new("avx512 vpopcntq (jit kernel loop)", () => JitKernel.VpopcntqSupported, VpopcntqKernelLoop, VpopcntqBitsPerCall),
    ];

    public static IEnumerable<Method> Supported => Methods.Where(m => m.IsSupported());

    /// <summary>
    /// The peak method for a kernel: the nibble lookup it shares (the emitted avx2-jit computes the same lookup),
    /// the VPOPCNTQ kernel's own inner loop, scalar for portable.
    /// </summary>
    public static string? MethodOf(string kernel) => kernel switch
    {
        "avx512-vpopcntq-jit" => "avx512 vpopcntq (jit kernel loop)",
        "avx512bw" => "avx512bw nibble lookup",
        "avx2" or "avx2-jit" => "avx2 nibble lookup",
        "portable" => "scalar popcnt",
        _ => null,
    };

    /// <summary>
    /// Gbit/s of XOR + popcount on <paramref name="threads"/> threads, each on its own buffers. One thread runs on
    /// the calling thread and may be timed by its CPU time (<see cref="Quick.Clock"/>); several use wall time.
    /// </summary>
    public static double Measure(Method method, int threads, double seconds = 0.25, bool threadCpu = false)
    {
        var buffers = Enumerable.Range(0, threads).Select(t =>
        {
            var rng = new Random(t + 1);
            ulong[] Fill() => Enumerable.Range(0, Words).Select(_ => (ulong)rng.NextInt64()).ToArray();
            return (A: Fill(), B: Fill());
        }).ToArray();
        // Calibrate the call count for about `seconds` on one thread.
        var sw = Stopwatch.StartNew();
        const long probe = 2000;
        for (long i = 0; i < probe; i++) method.Run(buffers[0].A, buffers[0].B);
        long calls = Math.Max(probe, (long)(probe * seconds / sw.Elapsed.TotalSeconds));
        long sink = 0;
        double elapsedMs;
        if (threads == 1)
        {
            double start = Quick.Clock.NowMilliseconds(threadCpu);
            for (long i = 0; i < calls; i++) sink += method.Run(buffers[0].A, buffers[0].B);
            elapsedMs = Quick.Clock.NowMilliseconds(threadCpu) - start;
        }
        else
        {
            // Wall time from the first worker's start to the last worker's end, each taken by the worker itself: a
            // clock started by the calling thread after the barrier started late whenever that thread, one more than
            // the CPUs, was not scheduled until a worker had run much of its loop (a "peak" 4× the one-thread one on a
            // 2-vCPU host).
            using var start = new Barrier(threads);
            var spans = new (long Start, long End)[threads];
            var workers = buffers.Select((b, t) => new Thread(() =>
            {
                start.SignalAndWait();
                long begin = Stopwatch.GetTimestamp(), s = 0;
                for (long i = 0; i < calls; i++) s += method.Run(b.A, b.B);
                spans[t] = (begin, Stopwatch.GetTimestamp());
                Interlocked.Add(ref sink, s);
            })).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());
            elapsedMs = Stopwatch.GetElapsedTime(spans.Min(x => x.Start), spans.Max(x => x.End)).TotalMilliseconds;
        }
        GC.KeepAlive(sink);
        return threads * calls * (double)method.BitsPerCall / (elapsedMs / 1e3) / 1e9;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static long Scalar(ulong[] a, ulong[] b)
    {
        long s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        fixed (ulong* pa = a) fixed (ulong* pb = b)
            for (int i = 0; i < Words; i += 4)
            {
                s0 += BitOperations.PopCount(pa[i] ^ pb[i]);
                s1 += BitOperations.PopCount(pa[i + 1] ^ pb[i + 1]);
                s2 += BitOperations.PopCount(pa[i + 2] ^ pb[i + 2]);
                s3 += BitOperations.PopCount(pa[i + 3] ^ pb[i + 3]);
            }
        return s0 + s1 + s2 + s3;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static long Avx2Lookup(ulong[] a, ulong[] b)
    {
        var lut = Vector256.Create((byte)0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
        var low = Vector256.Create((byte)0x0F);
        Vector256<ulong> total = default;
        fixed (ulong* pa = a) fixed (ulong* pb = b)
            for (int i0 = 0; i0 < Words; i0 += 16 * 31) // 16 words per step; a byte counter takes 31 steps of ≤ 8
            {
                int i1 = Math.Min(Words, i0 + 16 * 31);
                Vector256<byte> s0 = default, s1 = default, s2 = default, s3 = default;
                for (int i = i0; i < i1; i += 16)
                {
                    s0 = Avx2.Add(s0, Count(Avx2.Xor(Avx.LoadVector256(pa + i), Avx.LoadVector256(pb + i)), lut, low));
                    s1 = Avx2.Add(s1, Count(Avx2.Xor(Avx.LoadVector256(pa + i + 4), Avx.LoadVector256(pb + i + 4)), lut, low));
                    s2 = Avx2.Add(s2, Count(Avx2.Xor(Avx.LoadVector256(pa + i + 8), Avx.LoadVector256(pb + i + 8)), lut, low));
                    s3 = Avx2.Add(s3, Count(Avx2.Xor(Avx.LoadVector256(pa + i + 12), Avx.LoadVector256(pb + i + 12)), lut, low));
                }
                total += Avx2.SumAbsoluteDifferences(s0, Vector256<byte>.Zero).AsUInt64() + Avx2.SumAbsoluteDifferences(s1, Vector256<byte>.Zero).AsUInt64()
                       + Avx2.SumAbsoluteDifferences(s2, Vector256<byte>.Zero).AsUInt64() + Avx2.SumAbsoluteDifferences(s3, Vector256<byte>.Zero).AsUInt64();
            }
        return (long)Vector256.Sum(total);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static long Avx512Lookup(ulong[] a, ulong[] b)
    {
        var lut = Vector512.Create(Vector256.Create((byte)0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4));
        var low = Vector512.Create((byte)0x0F);
        Vector512<ulong> total = default;
        fixed (ulong* pa = a) fixed (ulong* pb = b)
            for (int i0 = 0; i0 < Words; i0 += 32 * 31)
            {
                int i1 = Math.Min(Words, i0 + 32 * 31);
                Vector512<byte> s0 = default, s1 = default, s2 = default, s3 = default;
                for (int i = i0; i < i1; i += 32)
                {
                    s0 = Avx512BW.Add(s0, Count(Avx512F.Xor(Avx512F.LoadVector512(pa + i), Avx512F.LoadVector512(pb + i)), lut, low));
                    s1 = Avx512BW.Add(s1, Count(Avx512F.Xor(Avx512F.LoadVector512(pa + i + 8), Avx512F.LoadVector512(pb + i + 8)), lut, low));
                    s2 = Avx512BW.Add(s2, Count(Avx512F.Xor(Avx512F.LoadVector512(pa + i + 16), Avx512F.LoadVector512(pb + i + 16)), lut, low));
                    s3 = Avx512BW.Add(s3, Count(Avx512F.Xor(Avx512F.LoadVector512(pa + i + 24), Avx512F.LoadVector512(pb + i + 24)), lut, low));
                }
                total += Avx512BW.SumAbsoluteDifferences(s0, Vector512<byte>.Zero).AsUInt64() + Avx512BW.SumAbsoluteDifferences(s1, Vector512<byte>.Zero).AsUInt64()
                       + Avx512BW.SumAbsoluteDifferences(s2, Vector512<byte>.Zero).AsUInt64() + Avx512BW.SumAbsoluteDifferences(s3, Vector512<byte>.Zero).AsUInt64();
            }
        return (long)Vector512.Sum(total);
    }

    /// <summary>
    /// There is no VPOPCNTQ intrinsic, so its peak is the emitted kernel's own loop on L1-resident data: buffer a as
    /// one 32-pixel block of 16 words, all of b as 32 channels' weights (8 channel blocks): 32 · 32 · 16 words per
    /// call. With 4 channels per call (one block, as until 2026-12-02) the call's fixed cost (argument checks, the
    /// prologue, the 16 stores) took a quarter of the time and the "peak" came out below what the count stage of a
    /// real layer reaches (620–688 against about 930 Gbit/s on one Emerald Rapids thread).
    /// </summary>
    private const int VpopcntqWords = 16, VpopcntqChannels = Words / VpopcntqWords;
    private const long VpopcntqBitsPerCall = (long)VpopcntqChannels * 32 * VpopcntqWords * 64;

    [ThreadStatic] private static int[]? t_vpopcntqCounts;

    private static long VpopcntqKernelLoop(ulong[] a, ulong[] b)
    {
        var counts = t_vpopcntqCounts ??= new int[VpopcntqChannels * 32];
        fixed (ulong* pa = a) fixed (ulong* pb = b) fixed (int* pc = counts)
            JitKernel.Vpopcntq.Accumulate(pa, 1, pb, VpopcntqChannels, VpopcntqWords, pc, 32);
        return counts[0];
    }

    // The same per-byte popcount as the kernels (one definition each).
    private static Vector256<byte> Count(Vector256<ulong> v, Vector256<byte> lut, Vector256<byte> low) => Avx2Kernel.Count(v, lut, low);

    private static Vector512<byte> Count(Vector512<ulong> v, Vector512<byte> lut, Vector512<byte> low) => Avx512Kernel.Count(v, lut, low);
}
