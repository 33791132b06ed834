using BiVM.Contracts;
using BiVM.CustomOps.BitPacking;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// The optional packed output of Upsample2xConcat (a variadic op, so τ is an attribute) and of GuidedStatistics: the
/// <see cref="BinaryConvSchema.TauNext"/> attribute and the packed output (<see cref="BinaryConvSchema.PackedOutput"/>,
/// <see cref="BinaryConvSchema.StatisticsPacked"/>) go together, checked once when the kernel is made.
/// </summary>
internal static unsafe class PackedHandOff
{
    /// <summary>
    /// τ of the conv that reads a packed output (attribute <paramref name="attribute"/>, output <paramref name="output"/>
    /// named <paramref name="outputName"/>: tau_next and YPacked, or tau_second and YPackedSecond), or null when the node
    /// does not have that output.
    /// </summary>
    public static float[]? ReadTauNext(nint info, int output = BinaryConvSchema.PackedOutput, string attribute = BinaryConvSchema.TauNext, string outputName = "YPacked")
    {
        bool packedOutput = OrtApi.KernelInfoOutputCount(info) > output && OrtApi.KernelInfoOutputName(info, output).Length > 0;
        var tau = OrtApi.KernelInfoAttributeFloats(info, attribute);
        if (tau is null && packedOutput) throw new OpValidationException($"output {outputName} needs the {attribute} attribute");
        if (tau is not null && !packedOutput) throw new OpValidationException($"attribute {attribute} is given but output {outputName} is not (they go together)");
        return tau;
    }

    /// <summary>Allocates YPacked [N, H, W, words] for a Y of <paramref name="channels"/> channels, after checking τ's length.</summary>
    public static ulong* Output(nint context, float[] tau, long batch, long channels, long height, long width, int output = BinaryConvSchema.PackedOutput,
        string attribute = BinaryConvSchema.TauNext)
    {
        if (tau.Length != channels) throw new OpValidationException($"attribute {attribute} has {tau.Length} values, but Y has {channels} channels");
        return (ulong*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, output,
            [batch, height, width, PackedLayout.WordsFor((int)channels)]));
    }

    /// <summary>
    /// Packs row <paramref name="iy"/> of image <paramref name="n"/> of Y (just written, still in cache) into YPacked
    /// [N, H, W, words]: the row loops of Upsample2xConcat and ShortcutRPReLU both hand off through it.
    /// </summary>
    public static void PackRow(float* y, float[] tau, int channels, int height, int width, int n, int iy, ulong* packed)
    {
        int words = PackedLayout.WordsFor(channels);
        fixed (float* t = tau)
            ActivationPacker.PackRow(y, t, channels, height, width, n, iy, 0, width, packed + ((long)n * height + iy) * width * words);
    }

    /// <summary>
    /// <see cref="PackRow"/> from rows an op holds in scratch instead of in Y (channel c's row of <paramref name="width"/>
    /// values at <paramref name="rows"/> + c·width; a node whose Y is the empty name), into packed row
    /// <paramref name="iy"/> of image <paramref name="n"/>.
    /// </summary>
    public static void PackRows(float* rows, float[] tau, int channels, int height, int width, int n, int iy, ulong* packed)
    {
        int words = PackedLayout.WordsFor(channels);
        fixed (float* t = tau)
            ActivationPacker.PackRow(rows, t, channels, 1, width, 0, 0, 0, width, packed + ((long)n * height + iy) * width * words);
    }

    /// <summary>
    /// <see cref="PackRow"/> against <paramref name="tau"/> into <paramref name="packed"/> and against
    /// <paramref name="tauSecond"/> into <paramref name="second"/>, where each pair is given (either may be null, for a node
    /// without that output): with both, each value is read once where Y has at most 64 channels
    /// (<see cref="ActivationPacker.PackRowTwice"/>, which packs wider rows once for each τ).
    /// </summary>
    public static void PackRowTwice(float* y, float[]? tau, float[]? tauSecond, int channels, int height, int width, int n, int iy, ulong* packed, ulong* second) =>
        PackTwice(y, height, n, iy, tau, tauSecond, channels, height, width, n, iy, packed, second, 0, width);

    /// <summary><see cref="PackRowTwice"/> from rows in scratch, as <see cref="PackRows"/>.</summary>
    public static void PackRowsTwice(float* rows, float[]? tau, float[]? tauSecond, int channels, int height, int width, int n, int iy, ulong* packed, ulong* second) =>
        PackTwice(rows, 1, 0, 0, tau, tauSecond, channels, height, width, n, iy, packed, second, 0, width);

    /// <summary><see cref="PackRowsTwice"/> for pixels [<paramref name="from"/>, <paramref name="to"/>) of the row only: the other words are left as they are.</summary>
    public static void PackRowsTwice(float* rows, float[]? tau, float[]? tauSecond, int channels, int height, int width, int n, int iy, ulong* packed, ulong* second,
        int from, int to) =>
        PackTwice(rows, 1, 0, 0, tau, tauSecond, channels, height, width, n, iy, packed, second, from, to);

    /// <summary>
    /// Pixels [<paramref name="from"/>, <paramref name="to"/>) of row <paramref name="sourceRow"/> of image <paramref name="sourceImage"/> of
    /// <paramref name="x"/> (planes of <paramref name="sourceHeight"/> rows) into packed row <paramref name="iy"/> of image
    /// <paramref name="n"/>, against each set of τ given.
    /// </summary>
    private static void PackTwice(float* x, int sourceHeight, int sourceImage, int sourceRow, float[]? tau, float[]? tauSecond, int channels, int height, int width,
        int n, int iy, ulong* packed, ulong* second, int from, int to)
    {
        if (packed is null)
        {
            // Only the second output: packed alone, as the first.
            (tau, tauSecond) = (tauSecond, null);
            packed = second;
            second = null;
        }
        if (packed is null) return;
        long at = ((long)n * height + iy) * width * PackedLayout.WordsFor(channels);
        fixed (float* t = tau, u = tauSecond)
        {
            if (second is null) ActivationPacker.PackRow(x, t, channels, sourceHeight, width, sourceImage, sourceRow, from, to, packed + at);
            else ActivationPacker.PackRowTwice(x, t, u, channels, sourceHeight, width, sourceImage, sourceRow, from, to, packed + at, second + at);
        }
    }
}
