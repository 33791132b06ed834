using System.Runtime.ExceptionServices;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// Our own intra-op pool for the kernels outside ONNX Runtime (raw-kernel benchmarks, tests), built like ORT's:
/// <c>threads − 1</c> dedicated workers plus the calling thread, work items claimed one at a time from a shared
/// counter, and workers that spin for a while after a job before they block.
/// </summary>
/// <remarks>
/// Why not <c>Parallel.For</c>: measured in <c>bivm bench --kernels</c> (thread-scaling table, 1 and 2 threads
/// interleaved, wall time, Zen 3 with 2 vCPUs under load), the raw conv on <c>Parallel.For</c> ran 0.4–1.0× the
/// 1-thread speed, while the same conv through ORT's intra-op pool ran 1.75–1.91×. Each <c>Parallel.For</c> wakes a
/// blocked .NET pool thread, and on a busy machine a woken thread waits for a time slice behind every other
/// runnable thread; a worker that is still spinning from the previous stage (pack, then compute, then the next
/// layer) is already on its CPU. Spinning costs idle CPU for <see cref="SpinIterations"/> only, then the worker sleeps.
/// The caller waits only for workers that joined the job (as ORT's caller runs the items no helper has started):
/// one that has not been scheduled yet finds the job closed and skips it.
/// One job at a time: a call that finds the pool busy (another thread's call, or a body calling the runner again)
/// runs its items on its own thread instead, so nothing waits on a pool that cannot serve it.
/// </remarks>
internal sealed class SpinningPool
{
    /// <summary>Spin iterations before a worker blocks (Thread.SpinWait(32) each: about 0.1 ms in all on Zen 3).</summary>
    private const int SpinIterations = 200;

    /// <summary><see cref="_state"/> bit: the job takes no more workers.</summary>
    private const int Closed = 1 << 30;

    private readonly ManualResetEventSlim _wake = new(false, spinCount: 1);
    private long _generation;
    private int _busy;
    private Action<int>? _body;
    private int _count, _next;
    private int _state = Closed; // workers inside the current job, plus Closed once the caller has claimed the last item
    private Exception? _error;

    public SpinningPool(int threads)
    {
        if (threads < 2) throw new ArgumentOutOfRangeException(nameof(threads), threads, "a pool needs at least 2 threads");
        Threads = threads;
        for (int i = 0; i < threads - 1; i++)
            new Thread(Worker) { IsBackground = true, Name = $"bivm-pool-{threads}-{i}" }.Start();
    }

    /// <summary>Threads that run a job: the workers and the caller.</summary>
    public int Threads { get; }

    /// <summary>Runs body(0) … body(count − 1) on the workers and the calling thread; returns when all are done.</summary>
    public void Run(int count, Action<int> body)
    {
        if (count <= 1 || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        try
        {
            _body = body;
            _count = count;
            _error = null;
            Volatile.Write(ref _next, 0);
            Interlocked.Exchange(ref _state, 0);       // open, only now that the job's fields are written
            Interlocked.Increment(ref _generation);   // publishes the job (a full fence)
            _wake.Set();
            Drain();
            // Every item is claimed. Close the job and wait only for the workers that joined it and may still be
            // running an item; a worker that has not woken up yet is not waited for (on a busy machine it may not
            // get a CPU for milliseconds): it finds the job closed and goes back to waiting.
            Interlocked.Or(ref _state, Closed);
            var spin = new SpinWait();
            while ((Volatile.Read(ref _state) & ~Closed) != 0) spin.SpinOnce(sleep1Threshold: -1);
            _wake.Reset();
            _body = null;
            if (_error is { } error) ExceptionDispatchInfo.Throw(error);
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>Claims and runs items until none are left; an exception is kept for the caller and stops the claiming.</summary>
    private void Drain()
    {
        var body = _body!;
        int count = _count;
        for (int i = Interlocked.Increment(ref _next) - 1; i < count; i = Interlocked.Increment(ref _next) - 1)
        {
            try { body(i); }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, e, null);
                Volatile.Write(ref _next, count);
            }
        }
    }

    /// <summary>Enters the current job unless the caller has closed it.</summary>
    private bool TryJoin()
    {
        for (int state = Volatile.Read(ref _state); (state & Closed) == 0; state = Volatile.Read(ref _state))
            if (Interlocked.CompareExchange(ref _state, state + 1, state) == state) return true;
        return false;
    }

    private void Worker()
    {
        long seen = 0;
        while (true)
        {
            int spins = 0;
            while (Volatile.Read(ref _generation) == seen)
            {
                if (spins++ < SpinIterations) Thread.SpinWait(32);
                else _wake.Wait();
            }
            seen = Volatile.Read(ref _generation);
            if (!TryJoin()) continue;
            Drain();
            Interlocked.Decrement(ref _state);
        }
    }
}
