namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// Per-thread working memory for the gather and count stages. ORT may call Compute of one kernel from several
/// threads at once and runs ParallelFor bodies on its pool threads, so nothing mutable may be shared: each thread
/// owns its buffers (grown on demand, pinned on the pinned-object heap so pointers stay valid without fixed).
/// </summary>
internal static unsafe class ThreadScratch
{
    [ThreadStatic] private static ulong[]? t_patches;
    [ThreadStatic] private static int[]? t_counts;
    [ThreadStatic] private static int[]? t_columns;

    public static ulong* Patches(int words) => Get(ref t_patches, words);
    public static int* Counts(int ints) => Get(ref t_counts, ints);
    public static int* Columns(int ints) => Get(ref t_columns, ints);

    private static T* Get<T>(ref T[]? buffer, int length) where T : unmanaged
    {
        if (buffer is null || buffer.Length < length)
            buffer = GC.AllocateUninitializedArray<T>(Math.Max(length, buffer?.Length * 2 ?? 0), pinned: true);
        return (T*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(buffer));
    }
}
