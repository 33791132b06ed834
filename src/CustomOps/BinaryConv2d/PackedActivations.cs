using System.Runtime.InteropServices;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// The bit-packed input of one call, [N, H, W, words], 64-byte aligned. It is the calling thread's buffer, kept from
/// call to call (<see cref="ThreadScratch.Packed"/>): a fresh allocation per call costs an allocator round trip and,
/// above malloc's mmap threshold, page faults on first touch, which the packing threads take in parallel and which
/// serialize in the kernel. The pool threads only read and write it inside the call, while the calling thread
/// waits, so one buffer per calling thread is enough; a second live instance on the same thread (not done today)
/// gets its own native allocation instead of sharing.
/// </summary>
internal readonly unsafe struct PackedActivations : IDisposable
{
    private readonly bool _owned;

    public PackedActivations(BinaryConv2dParams p)
        : this((long)p.Batch * p.InHeight * p.InWidth * p.Words)
    {
    }

    /// <summary>Room for <paramref name="words"/> packed words (an op's own layout: the ConvGRU cell's bands of rows).</summary>
    public PackedActivations(long words)
    {
        Pointer = ThreadScratch.TryTakePacked(words);
        if (Pointer is null)
        {
            Pointer = (ulong*)NativeMemory.AlignedAlloc((nuint)(words * sizeof(ulong)), 64);
            _owned = true;
        }
    }

    public ulong* Pointer { get; }

    public void Dispose()
    {
        if (_owned) NativeMemory.AlignedFree(Pointer);
        else ThreadScratch.ReturnPacked();
    }
}
