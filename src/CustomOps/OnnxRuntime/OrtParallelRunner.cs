using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using BiVM.CustomOps.BinaryConv2d;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// A <see cref="ParallelRunner"/> on the session's intra-op thread pool (KernelContext_ParallelFor), so the op
/// scales with SessionOptions.IntraOpNumThreads like ORT's own kernels. An exception in a body is caught on the
/// pool thread (it must not unwind through native frames) and rethrown on the calling thread afterwards. In a
/// session of one intra-op thread ParallelFor would call every item on the calling thread, each through a native
/// call back into .NET: there the items are a plain loop instead (<see cref="Threads"/> = 1; 1–2 % of a 512×288 BiVM
/// frame on Zen 5, docs/kernels.md). With more threads, a section of many items goes to ParallelFor as
/// <see cref="ChunksPerThread"/> chunks of consecutive items per thread (per CPU where the session did not say), each
/// chunk one call back and one claim of ORT's shared counter instead of one per item (1–2 % of a frame on two
/// threads), still claimed as the threads come.
/// </summary>
internal static unsafe class OrtParallelRunner
{
    private sealed class Job(Action<int> body, int count, int chunks)
    {
        public readonly Action<int> Body = body;
        public readonly int Count = count, Chunks = chunks;
        public Exception? Error;
    }

    /// <summary>
    /// Chunks per intra-op thread a section is cut into (where it has more items): enough that a thread held up
    /// elsewhere leaves little behind, few enough that the calls back and the claims stop costing. Measured on Zen 5,
    /// two threads, 512×288 (frames alternated in one process against one chunk per item): 1 per thread 0.995 of the
    /// frame time, 2 0.990, 4, 8 and 16 0.983.
    /// </summary>
    internal const int ChunksPerThread = 8;

    /// <summary>
    /// The intra-op thread count of the session whose node now computes on this thread (set by the compute callback
    /// from what <see cref="BiVMOps"/> told the session, <see cref="BiVMOps.IntraOpThreadsKey"/>; 0 where it was not told).
    /// </summary>
    [ThreadStatic] internal static int Threads;

    /// <summary>How many sections this thread has handed to ParallelFor (what the tests see a one-thread session skip).</summary>
    [ThreadStatic] internal static int PoolSections;

    public static ParallelRunner For(nint context) => Threads == 1 ? Sequential : (count, body) =>
    {
        if (count <= 1)
        {
            Sequential(count, body);
            return;
        }
        PoolSections++;
        // A session that did not say runs ONNX Runtime's default, one thread per physical core: at most one per CPU.
        int chunks = Math.Min(count, ChunksPerThread * (Threads > 0 ? Threads : Environment.ProcessorCount));
        var job = new Job(body, count, chunks);
        var handle = GCHandle.Alloc(job);
        try { OrtApi.ParallelFor(context, &Invoke, chunks, (void*)GCHandle.ToIntPtr(handle)); }
        finally { handle.Free(); }
        if (job.Error is { } error) ExceptionDispatchInfo.Throw(error);
    };

    /// <summary>The items in order on the calling thread, as ParallelFor runs them in a session of one thread.</summary>
    private static readonly ParallelRunner Sequential = (count, body) =>
    {
        for (int i = 0; i < count; i++) body(i);
    };

    /// <summary>Items [start, end) of chunk <paramref name="chunk"/> when <paramref name="count"/> items are cut into <paramref name="chunks"/> (sizes differ by at most one).</summary>
    internal static (int Start, int End) Chunk(int count, int chunks, int chunk) =>
        ((int)((long)count * chunk / chunks), (int)((long)count * (chunk + 1) / chunks));

    [UnmanagedCallersOnly]
    private static void Invoke(void* user, nuint index)
    {
        var job = (Job)GCHandle.FromIntPtr((nint)user).Target!;
        try
        {
            var (start, end) = Chunk(job.Count, job.Chunks, (int)index);
            for (int i = start; i < end; i++) job.Body(i);
        }
        catch (Exception e) { Interlocked.CompareExchange(ref job.Error, e, null); }
    }
}
