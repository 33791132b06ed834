namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// Counts the runs whose output ONNX Runtime put in their input's buffer (the ops that allow it:
/// <see cref="BiVMOpDefinition.MayWriteInPlace"/>), so that tests can tell a case that shares the buffer from one
/// that does not, and a probe how many nodes of a model do.
/// </summary>
internal static unsafe class InPlace
{
    private static long s_runs;

    /// <summary>Runs in this process with Y in X's buffer.</summary>
    public static long Runs => Interlocked.Read(ref s_runs);

    /// <summary>Counts this run if <paramref name="y"/> is <paramref name="x"/>.</summary>
    public static void Note(float* x, float* y)
    {
        if (x is not null && x == y) Interlocked.Increment(ref s_runs);
    }
}
