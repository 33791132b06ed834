namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// Per-thread working memory for the pack, gather and count stages. ORT may call Compute of one kernel from several
/// threads at once and runs ParallelFor bodies on its pool threads, so nothing mutable may be shared: each thread
/// owns its buffers (grown on demand, pinned on the pinned-object heap so pointers stay valid without fixed).
/// </summary>
internal static unsafe class ThreadScratch
{
    [ThreadStatic] private static ulong[]? t_patches;
    [ThreadStatic] private static ulong[]? t_nibblePatches;
    [ThreadStatic] private static int[]? t_counts;
    [ThreadStatic] private static int[]? t_ascendingColumns;
    [ThreadStatic] private static int t_ascendingCount;
    [ThreadStatic] private static ulong[]? t_packed;
    [ThreadStatic] private static float[]? t_rows;
    [ThreadStatic] private static float[]? t_addendRows;
    [ThreadStatic] private static float[]? t_outputRows;
    [ThreadStatic] private static float[]? t_planes;
    [ThreadStatic] private static ulong[]? t_wordRows;
    [ThreadStatic] private static ulong[]? t_planeRows;
    [ThreadStatic] private static ulong[]? t_edgeRow;
    [ThreadStatic] private static bool t_packedTaken;

    public static ulong* Patches(int words) => Get(ref t_patches, words);
    public static int* Counts(int ints) => Get(ref t_counts, ints);

    /// <summary>Patches split into their nibbles for the AVX2 lookup kernel (<see cref="IBinaryKernel.SplitNibbles"/>), twice the words of the patches.</summary>
    public static ulong* NibblePatches(int words) => Get(ref t_nibblePatches, words);

    /// <summary>
    /// The columns 0, 1, …, <paramref name="count"/> − 1: a dense row's output list for
    /// <see cref="BinaryConvolution.ComputeColumnsInto"/>. Written when the buffer grows, not for every row: those stores
    /// waited behind the previous row's output stores still on their way to memory (36 % of the samples in decode1's
    /// ConvGRU's own code on Zen 5, thirtieth session, docs/kernels.md).
    /// </summary>
    public static int* AscendingColumns(int count)
    {
        int* columns = Get(ref t_ascendingColumns, count);
        if (t_ascendingCount < count)
        {
            // Everything a later call can be given without growing (Get's slack is the alignment's).
            int filled = t_ascendingColumns!.Length - 64 / sizeof(int);
            for (int x = 0; x < filled; x++) columns[x] = x;
            t_ascendingCount = filled;
        }
        return columns;
    }

    /// <summary>
    /// Rows an op computes for itself: a glue's from the 1×1 conv folded into it (<see cref="Activation.FoldedPointwiseConv"/>),
    /// <see cref="GuidedFilter.GuidedStatistics"/>' padded input rows, Upsample2xConcat's output rows where it writes only bits.
    /// </summary>
    public static float* Rows(int floats) => Get(ref t_rows, floats);

    /// <summary>A glue's Addend rows from the sparse conv folded into it (<see cref="Activation.FoldedSparseConv"/>), beside its <see cref="Rows"/>.</summary>
    public static float* AddendRows(int floats) => Get(ref t_addendRows, floats);

    /// <summary>A glue's output rows where it writes only bits (its Y the empty name), beside its <see cref="Rows"/> and <see cref="AddendRows"/>.</summary>
    public static float* OutputRows(int floats) => Get(ref t_outputRows, floats);

    /// <summary>
    /// Packed rows of one word a pixel that an op forms before setting them among the pixels' other words
    /// (Upsample2xConcat's bits of more than 64 channels, 64 at a time).
    /// </summary>
    public static ulong* WordRows(int words) => Get(ref t_wordRows, words);

    /// <summary>Bit planes as rows, the weights of <see cref="BitPlaneGram"/>'s counts (its patches are <see cref="Patches"/>).</summary>
    public static ulong* PlaneRows(int words) => Get(ref t_planeRows, words);

    /// <summary>The columns one edge block of a gather reads, zero-padded (<see cref="PatchGatherer"/>).</summary>
    public static ulong* EdgeRow(int words) => Get(ref t_edgeRow, words);

    /// <summary>
    /// Whole planes an op keeps for the length of its Compute call, taken on the calling thread and filled by its tasks
    /// (the stem's convolution output, which its normalization's statistics need whole before any row goes on; a glue's
    /// folded 1×1 output where it fits in cache).
    /// </summary>
    public static float* Planes(int floats) => Get(ref t_planes, floats);

    /// <summary>
    /// The calling thread's packed-activation buffer of at least <paramref name="words"/> words, 64-byte aligned, or
    /// null while it is taken (see <see cref="PackedActivations"/>); give it back with <see cref="ReturnPacked"/>.
    /// It grows to the largest input the thread has packed and stays (about 1 MB for the shipped models at 480×270).
    /// </summary>
    public static ulong* TryTakePacked(long words)
    {
        if (t_packedTaken) return null;
        t_packedTaken = true;
        return Get(ref t_packed, checked((int)words));
    }

    /// <summary>Ends the use begun by <see cref="TryTakePacked"/>.</summary>
    public static void ReturnPacked() => t_packedTaken = false;

    /// <summary>
    /// At least <paramref name="length"/> elements from a 64-byte boundary: the array itself is only 8- or 16-byte
    /// aligned (each thread's buffers began at some offset within a cache line, 8 to 56 bytes), so it holds one line
    /// more and the start moves to the boundary, where a 512-bit load or store touches one line, not two (0.981 of a
    /// 512×288 frame, docs/kernels.md, fifteenth session).
    /// </summary>
    private static T* Get<T>(ref T[]? buffer, int length) where T : unmanaged
    {
        int slack = 64 / sizeof(T);
        if (buffer is null || buffer.Length < length + slack)
            buffer = GC.AllocateUninitializedArray<T>(Math.Max(checked(length + slack), buffer?.Length * 2 ?? 0), pinned: true);
        nint start = (nint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(buffer));
        return (T*)((start + 63) & ~(nint)63);
    }
}
