using BiVM.Contracts;
using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.GuidedFilter;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// The GuidedStatistics node's kernel: the box filter's weights and bias are read once at creation; Compute checks X,
/// Y and Hidden, and runs <see cref="GuidedStatistics.Row"/> over blocks of rows on the session's intra-op threads,
/// each row's Hidden channels copied into Stats after its Cov and Var, and with tau_next the row's sign bits packed
/// while it is in cache for the binary conv that reads Stats (<see cref="PackedHandOff"/>). Where Stats is the empty
/// name (its only reader took the bits), each row's Stats is formed in per-thread scratch for the packer and not written.
/// With HiddenPacked (Hidden's bits, packed by the op that makes it) only the row's own 8 channels are formed and
/// packed, and Hidden's bits are shifted in above them.
/// </summary>
internal sealed unsafe class GuidedStatisticsOrtKernel : IBiVMKernel
{
    /// <summary>Output rows per task.</summary>
    private const int RowsPerTask = 8;

    private readonly float[] _weights, _bias;
    private readonly float[]? _tauNext;
    /// <summary>Whether Stats is written (its output named); otherwise only StatsPacked is.</summary>
    private readonly bool _writesStats;
    /// <summary>τ of the op's own 8 channels (tau_next's first 8) where Hidden comes packed (HiddenPacked), else null.</summary>
    private float[]? _ownTau;

    private GuidedStatisticsOrtKernel(string location, float[] weights, float[] bias, float[]? tauNext, bool writesStats)
    {
        _tauNext = tauNext;
        _writesStats = writesStats;
        Location = location;
        _weights = weights;
        _bias = bias;
    }

    public string Location { get; }

    public static GuidedStatisticsOrtKernel Create(BiVMOpDefinition op, nint info, out string nodeName)
    {
        nodeName = OrtApi.KernelInfoNodeName(info);
        int inputs = OrtApi.KernelInfoInputCount(info), outputs = OrtApi.KernelInfoOutputCount(info);
        if (inputs is not (BinaryConvSchema.StatisticsHidden + 1 or BinaryConvSchema.StatisticsInputCount))
            throw new OpValidationException($"needs inputs X, Y, BoxW, BoxB, Hidden[, HiddenPacked]; got {inputs}");
        if (outputs is not (BinaryConvSchema.StatisticsPacked or BinaryConvSchema.StatisticsOutputCount))
            throw new OpValidationException($"needs outputs Stats, MeanX, MeanY[, StatsPacked]; got {outputs}");
        var w = OrtTensorView.Constant(info, BinaryConvSchema.StatisticsBoxW, "BoxW");
        if (w.Type != OrtElementType.Float || !w.Dims.SequenceEqual([4L, 1L, 3L, 3L]))
            throw new OpValidationException($"BoxW must be float32 [4, 1, 3, 3] (a depthwise 3×3 Conv's W), got {OrtTensorView.TypeText(w.Type)} {w.Shape}");
        var b = OrtTensorView.Constant(info, BinaryConvSchema.StatisticsBoxB, "BoxB");
        if (b.Type != OrtElementType.Float || !b.Dims.SequenceEqual([4L]))
            throw new OpValidationException($"BoxB must be float32 [4], got {OrtTensorView.TypeText(b.Type)} {b.Shape}");
        var tauNext = PackedHandOff.ReadTauNext(info, BinaryConvSchema.StatisticsPacked);
        bool writesStats = OrtApi.KernelInfoOutputName(info, BinaryConvSchema.StatisticsStats).Length > 0;
        if (!writesStats && tauNext is null) throw new OpValidationException("output Stats is the empty name and there is no StatsPacked: the Stats would go nowhere");
        bool Named(int index) => inputs > index && OrtApi.KernelInfoInputName(info, index).Length > 0;
        bool hiddenPacked = Named(BinaryConvSchema.StatisticsHiddenPacked);
        if (hiddenPacked == Named(BinaryConvSchema.StatisticsHidden))
            throw new OpValidationException(hiddenPacked ? "has both Hidden and HiddenPacked: with HiddenPacked Hidden is the empty name" : "needs Hidden (or HiddenPacked)");
        if (hiddenPacked && (writesStats || tauNext is not { Length: > GuidedStatistics.Channels * 2 and <= 64 }))
            throw new OpValidationException(writesStats ? "with HiddenPacked, output Stats must be the empty name (Hidden's floats are not given)"
                : $"with HiddenPacked, StatsPacked and tau_next with 8 + C ≤ 64 values are needed (one word per pixel), got {tauNext?.Length.ToString() ?? "none"}");
        return new GuidedStatisticsOrtKernel(BinaryConvOrtKernel.Where(op, nodeName), w.Span<float>().ToArray(), b.Span<float>().ToArray(), tauNext, writesStats)
        {
            _ownTau = hiddenPacked ? tauNext![..(GuidedStatistics.Channels * 2)] : null,
        };
    }

    public void Compute(nint context)
    {
        var x = Input(context, BinaryConvSchema.StatisticsX, "X");
        var y = Input(context, BinaryConvSchema.StatisticsY, "Y");
        if (x.Dims[1] != 3) throw new OpValidationException($"X must have 3 channels [N, 3, h, w], got {x.Shape}");
        long[] expected = [x.Dims[0], GuidedStatistics.Channels, x.Dims[2], x.Dims[3]];
        if (!y.Dims.SequenceEqual(expected)) throw new OpValidationException($"Y must be float32 {OrtTensorView.ShapeText(expected)} for X {x.Shape}, got {y.Shape}");
        if (x.Dims.Any(d => d > int.MaxValue)) throw new OpValidationException($"X {x.Shape} is too large");
        ulong* hiddenBits = null;
        float* ph = null;
        int channels;
        if (_ownTau is not null)
        {
            var hp = OrtTensorView.Read(OrtApi.KernelContextInput(context, BinaryConvSchema.StatisticsHiddenPacked));
            long[] packedDims = [x.Dims[0], x.Dims[2], x.Dims[3], 1];
            if (hp.Type != OrtElementType.UInt64 || !hp.Dims.SequenceEqual(packedDims))
                throw new OpValidationException($"HiddenPacked must be uint64 [N, h, w, 1] = {OrtTensorView.ShapeText(packedDims)} for X {x.Shape}, got {OrtTensorView.TypeText(hp.Type)} {hp.Shape}");
            hiddenBits = (ulong*)hp.Data;
            channels = _tauNext!.Length - 8;
        }
        else
        {
            var hidden = Input(context, BinaryConvSchema.StatisticsHidden, "Hidden");
            if (hidden.Dims[0] != x.Dims[0] || hidden.Dims[2] != x.Dims[2] || hidden.Dims[3] != x.Dims[3])
                throw new OpValidationException($"Hidden must be float32 [N, C, h, w] with X's N, h, w {x.Shape}, got {hidden.Shape}");
            if (hidden.Dims[1] > int.MaxValue || x.Dims[2] * x.Dims[3] * (8 + hidden.Dims[1]) > int.MaxValue)
                throw new OpValidationException($"X {x.Shape} with Hidden {hidden.Shape} is too large");
            ph = (float*)hidden.Data;
            channels = (int)hidden.Dims[1];
        }
        int batch = (int)x.Dims[0], height = (int)x.Dims[2], width = (int)x.Dims[3];
        var stats = _writesStats ? (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, BinaryConvSchema.StatisticsStats, [batch, 8 + channels, height, width])) : null;
        var meanX = (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, BinaryConvSchema.StatisticsMeanX, expected));
        var meanY = (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, BinaryConvSchema.StatisticsMeanY, expected));
        ulong* packed = _tauNext is null ? null : PackedHandOff.Output(context, _tauNext, batch, 8 + channels, height, width, BinaryConvSchema.StatisticsPacked);
        if ((long)batch * height * width == 0) return;

        float* px = (float*)x.Data, py = (float*)y.Data;
        long plane = (long)height * width;
        int blocks = (height + RowsPerTask - 1) / RowsPerTask, lanes = GuidedStatistics.BestLanes;
        OrtParallelRunner.For(context)(batch * blocks, task =>
        {
            int n = task / blocks, first = task % blocks * RowsPerTask, end = Math.Min(height, first + RowsPerTask);
            float* scratch = ThreadScratch.Rows(GuidedStatistics.ScratchFloats(width));
            // Without Stats the row's 8 + C channels go to rows of their own (stride: the width) for the packer; with
            // HiddenPacked only its own 8.
            float* rows = stats is null ? ThreadScratch.OutputRows((hiddenBits is null ? 8 + channels : 8) * width) : null;
            float* image = stats is null ? null : stats + (long)n * (8 + channels) * plane;
            fixed (float* weights = _weights, bias = _bias)
                for (int row = first; row < end; row++)
                {
                    float* statsRow = rows is not null ? rows : image + (long)row * width;
                    long stride = rows is null ? plane : width;
                    GuidedStatistics.Row(px + n * 3 * plane, py + n * 4 * plane, height, width, weights, bias, row,
                        statsRow, stride, meanX + n * 4 * plane, meanY + n * 4 * plane, scratch, lanes);
                    if (hiddenBits is not null)
                    {
                        // One word per pixel: the own 8 channels' bits, then Hidden's (bit j: channel 8 + j) above them.
                        PackedHandOff.PackRows(rows, _ownTau!, 8, height, width, n, row, packed);
                        ulong* words = packed + ((long)n * height + row) * width, hiddenRow = hiddenBits + ((long)n * height + row) * width;
                        for (int j = 0; j < width; j++) words[j] |= hiddenRow[j] << 8;
                        continue;
                    }
                    for (int c = 0; c < channels; c++)
                        new ReadOnlySpan<float>(ph + ((long)n * channels + c) * plane + (long)row * width, width)
                            .CopyTo(new Span<float>(statsRow + (8L + c) * stride, width));
                    if (rows is not null) PackedHandOff.PackRows(rows, _tauNext!, 8 + channels, height, width, n, row, packed);
                    else if (packed is not null) PackedHandOff.PackRow(stats, _tauNext!, 8 + channels, height, width, n, row, packed);
                }
        });
    }

    private static OrtTensorView Input(nint context, int index, string name)
    {
        var t = OrtTensorView.Read(OrtApi.KernelContextInput(context, index));
        if (t.Type != OrtElementType.Float) throw new OpValidationException($"{name} must be float32, got {OrtTensorView.TypeText(t.Type)}");
        if (t.Dims.Length != 4) throw new OpValidationException($"{name} must have rank 4 [N, C, h, w], got rank {t.Dims.Length} {t.Shape}");
        return t;
    }

    public void Dispose()
    {
    }
}
