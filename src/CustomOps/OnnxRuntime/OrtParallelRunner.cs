using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using BiVM.CustomOps.BinaryConv2d;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// A <see cref="ParallelRunner"/> on the session's intra-op thread pool (KernelContext_ParallelFor), so the op
/// scales with SessionOptions.IntraOpNumThreads like ORT's own kernels. An exception in a body is caught on the
/// pool thread (it must not unwind through native frames) and rethrown on the calling thread afterwards. In a
/// session of one intra-op thread ParallelFor would call every item on the calling thread, each through a native
/// call back into .NET: there the items are a plain loop instead (<see cref="OneThread"/>; 1.9 % of a 512×288 BiVM
/// frame on Zen 5, docs/kernels.md).
/// </summary>
internal static unsafe class OrtParallelRunner
{
    private sealed class Job(Action<int> body)
    {
        public readonly Action<int> Body = body;
        public Exception? Error;
    }

    /// <summary>
    /// Whether the node now computing on this thread belongs to a session of one intra-op thread (set by the compute
    /// callback from what <see cref="BiVMOps"/> told the session, <see cref="BiVMOps.IntraOpThreadsKey"/>).
    /// </summary>
    [ThreadStatic] internal static bool OneThread;

    /// <summary>How many sections this thread has handed to ParallelFor (what the tests see a one-thread session skip).</summary>
    [ThreadStatic] internal static int PoolSections;

    public static ParallelRunner For(nint context) => OneThread ? Sequential : (count, body) =>
    {
        if (count <= 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        PoolSections++;
        var job = new Job(body);
        var handle = GCHandle.Alloc(job);
        try { OrtApi.ParallelFor(context, &Invoke, count, (void*)GCHandle.ToIntPtr(handle)); }
        finally { handle.Free(); }
        if (job.Error is { } error) ExceptionDispatchInfo.Throw(error);
    };

    /// <summary>The items in order on the calling thread, as ParallelFor runs them in a session of one thread.</summary>
    private static readonly ParallelRunner Sequential = (count, body) =>
    {
        for (int i = 0; i < count; i++) body(i);
    };

    [UnmanagedCallersOnly]
    private static void Invoke(void* user, nuint index)
    {
        var job = (Job)GCHandle.FromIntPtr((nint)user).Target!;
        try { job.Body((int)index); }
        catch (Exception e) { Interlocked.CompareExchange(ref job.Error, e, null); }
    }
}
