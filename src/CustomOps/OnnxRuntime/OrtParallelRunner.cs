using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using BiVM.CustomOps.BinaryConv2d;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// A <see cref="ParallelRunner"/> on the session's intra-op thread pool (KernelContext_ParallelFor), so the op
/// scales with SessionOptions.IntraOpNumThreads like ORT's own kernels. An exception in a body is caught on the
/// pool thread (it must not unwind through native frames) and rethrown on the calling thread afterwards.
/// </summary>
internal static unsafe class OrtParallelRunner
{
    private sealed class Job(Action<int> body)
    {
        public readonly Action<int> Body = body;
        public Exception? Error;
    }

    public static ParallelRunner For(nint context) => (count, body) =>
    {
        if (count <= 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        var job = new Job(body);
        var handle = GCHandle.Alloc(job);
        try { OrtApi.ParallelFor(context, &Invoke, count, (void*)GCHandle.ToIntPtr(handle)); }
        finally { handle.Free(); }
        if (job.Error is { } error) ExceptionDispatchInfo.Throw(error);
    };

    [UnmanagedCallersOnly]
    private static void Invoke(void* user, nuint index)
    {
        var job = (Job)GCHandle.FromIntPtr((nint)user).Target!;
        try { job.Body((int)index); }
        catch (Exception e) { Interlocked.CompareExchange(ref job.Error, e, null); }
    }
}
