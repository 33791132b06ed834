using System.Buffers;
using BiVM.Contracts;
using BiVM.CustomOps.Activation;
using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.Pooling;
using BiVM.CustomOps.Stem;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// The Stem node's kernel (docs/model-contract.md, "Stem"): the weights, the input normalization's and the
/// InstanceNormalization's parameters are read once at creation. Compute runs three passes on the session's intra-op
/// threads: the convolution by bands of output rows into Y's planes (Y itself where it is named, else per-thread
/// scratch), each plane's statistics (<see cref="FrameNormalization"/>, the folded InstanceNormalization's), then by
/// pairs of rows the activation in place, the rows' sign bits for the binary conv that reads them (YPacked) and the
/// pair's 2×2 average pool (Pooled) while the rows are in cache. ONNX Runtime ran the stem as seven to ten nodes
/// (Sub, Div, its NCHWc Conv and the reorder after it, InstanceNormalization, HardSigmoid, Mul, the pool with its
/// two reorders), each a pass over the planes. XPooled, X's own 2×2 pool (the source pyramid's first level, which an
/// AveragePool2x node took as a pass of its own over the frame), is taken in the convolution's pass: output row i of
/// the convolution reads X's rows 2i − 1 … 2i + 1, and XPooled's row i reads rows 2i and 2i + 1, just read.
/// </summary>
internal sealed unsafe class StemOrtKernel : IBiVMKernel
{
    /// <summary>Output rows per task of the convolution (a task per row cost more than the row on narrow images).</summary>
    private const int RowsPerTask = 4;

    private readonly float[] _mean, _std, _weights, _bias, _normScale, _normBias;
    private readonly float _epsilon;
    private readonly float[]? _tauNext;
    private readonly bool _writesY, _pools, _ceilMode, _rowOrder, _poolsInput, _inputCeilMode, _inputRowOrder;
    private readonly int _channels, _inChannels;

    private StemOrtKernel(string location, float[] mean, float[] std, float[] weights, float[] bias, float[] normScale, float[] normBias,
        float epsilon, float[]? tauNext, bool writesY, bool pools, bool ceilMode, bool rowOrder, bool poolsInput, bool inputCeilMode, bool inputRowOrder)
    {
        Location = location;
        (_mean, _std, _weights, _bias, _normScale, _normBias) = (mean, std, weights, bias, normScale, normBias);
        (_epsilon, _tauNext, _writesY, _pools, _ceilMode, _rowOrder) = (epsilon, tauNext, writesY, pools, ceilMode, rowOrder);
        (_poolsInput, _inputCeilMode, _inputRowOrder) = (poolsInput, inputCeilMode, inputRowOrder);
        _channels = bias.Length;
        _inChannels = mean.Length;
    }

    public string Location { get; }

    public static StemOrtKernel Create(BiVMOpDefinition op, nint info, out string nodeName)
    {
        nodeName = OrtApi.KernelInfoNodeName(info);
        int inputs = OrtApi.KernelInfoInputCount(info), outputs = OrtApi.KernelInfoOutputCount(info);
        if (inputs != BinaryConvSchema.StemInputCount) throw new OpValidationException($"needs inputs X, Mean, Std, W, B, NormScale, NormBias; got {inputs}");
        if (outputs is < 1 or > BinaryConvSchema.StemOutputCount) throw new OpValidationException($"has outputs Y, YPacked, Pooled, XPooled (each may be the empty name); got {outputs}");
        bool Named(int index) => outputs > index && OrtApi.KernelInfoOutputName(info, index).Length > 0;
        var w = OrtTensorView.Constant(info, BinaryConvSchema.StemW, "W");
        if (w.Type != OrtElementType.Float || w.Dims.Length != 4 || w.Dims[2] != 3 || w.Dims[3] != 3 || w.Dims[0] < 1 || w.Dims[1] < 1 || w.Dims[1] > 64)
            throw new OpValidationException($"W must be float32 [C, Cin, 3, 3] with 1 ≤ Cin ≤ 64 (a 3×3 Conv's weights), got {OrtTensorView.TypeText(w.Type)} {w.Shape}");
        int channels = (int)w.Dims[0], inChannels = (int)w.Dims[1];
        float[] Values(int index, string name, int count) => OrtTensorView.ChannelConstant(info, index, name, count);
        var mean = Values(BinaryConvSchema.StemMean, "Mean", inChannels);
        var std = Values(BinaryConvSchema.StemStd, "Std", inChannels);
        var bias = Values(BinaryConvSchema.StemB, "B", channels);
        var normScale = Values(BinaryConvSchema.StemNormScale, "NormScale", channels);
        var normBias = Values(BinaryConvSchema.StemNormBias, "NormBias", channels);
        float epsilon = OrtApi.KernelInfoAttributeFloat(info, BinaryConvSchema.StemEpsilon) ?? 1e-5f;
        if (!(epsilon >= 0) || float.IsInfinity(epsilon)) throw new OpValidationException($"attribute {BinaryConvSchema.StemEpsilon} must be a finite value >= 0, got {epsilon}");
        long ceil = OrtApi.KernelInfoAttributeInt(info, BinaryConvSchema.PoolCeilMode) ?? 0;
        if (ceil is not (0 or 1)) throw new OpValidationException($"attribute {BinaryConvSchema.PoolCeilMode} must be 0 or 1, got {ceil}");
        long rowOrder = OrtApi.KernelInfoAttributeInt(info, BinaryConvSchema.PoolRowOrder) ?? 0;
        if (rowOrder is not (0 or 1)) throw new OpValidationException($"attribute {BinaryConvSchema.PoolRowOrder} must be 0 or 1, got {rowOrder}");
        long inputCeil = OrtApi.KernelInfoAttributeInt(info, BinaryConvSchema.StemInputCeilMode) ?? 0;
        if (inputCeil is not (0 or 1)) throw new OpValidationException($"attribute {BinaryConvSchema.StemInputCeilMode} must be 0 or 1, got {inputCeil}");
        long inputRowOrder = OrtApi.KernelInfoAttributeInt(info, BinaryConvSchema.StemInputRowOrder) ?? 0;
        if (inputRowOrder is not (0 or 1)) throw new OpValidationException($"attribute {BinaryConvSchema.StemInputRowOrder} must be 0 or 1, got {inputRowOrder}");
        var tauNext = PackedHandOff.ReadTauNext(info, BinaryConvSchema.StemPacked);
        if (tauNext is not null && tauNext.Length != channels)
            throw new OpValidationException($"attribute {BinaryConvSchema.TauNext} has {tauNext.Length} values, but W makes {channels} channels");
        bool writesY = Named(BinaryConvSchema.StemY), pools = Named(BinaryConvSchema.StemPooled), poolsInput = Named(BinaryConvSchema.StemXPooled);
        if (!writesY && tauNext is null && !pools && !poolsInput) throw new OpValidationException("every output is the empty name: the stem would go nowhere");
        return new StemOrtKernel(BinaryConvOrtKernel.Where(op, nodeName), mean, std, w.Span<float>().ToArray(), bias, normScale, normBias,
            epsilon, tauNext, writesY, pools, ceil == 1, rowOrder == 1, poolsInput, inputCeil == 1, inputRowOrder == 1);
    }

    public void Compute(nint context)
    {
        var x = GruTensors.Rank4(context, BinaryConvSchema.StemX, "X");
        if (x.Dims[1] != _inChannels) throw new OpValidationException($"X must have {_inChannels} channels (W is [{_channels}, {_inChannels}, 3, 3]), got {x.Shape}");
        int batch = (int)x.Dims[0], height = (int)x.Dims[2], width = (int)x.Dims[3];
        if ((long)batch * _channels * height * width > int.MaxValue) throw new OpValidationException($"X {x.Shape} is too large");
        int outHeight = StemConvolution.OutputLength(height), outWidth = StemConvolution.OutputLength(width);
        int poolHeight = (int)AveragePool2x.OutputLength(outHeight, _ceilMode), poolWidth = (int)AveragePool2x.OutputLength(outWidth, _ceilMode);
        if (_pools && (poolHeight == 0 || poolWidth == 0))
            throw new OpValidationException($"X {x.Shape} makes Y {outHeight}×{outWidth}, too small for Pooled's 2×2 window (without ceil_mode each side needs 2 values)");
        int inputPoolHeight = (int)AveragePool2x.OutputLength(height, _inputCeilMode), inputPoolWidth = (int)AveragePool2x.OutputLength(width, _inputCeilMode);
        if (_poolsInput && (inputPoolHeight == 0 || inputPoolWidth == 0))
            throw new OpValidationException($"X {x.Shape} is too small for XPooled's 2×2 window (without {BinaryConvSchema.StemInputCeilMode} each side needs 2 values)");
        long plane = (long)outHeight * outWidth, poolPlane = (long)poolHeight * poolWidth, inputPlane = (long)height * width, inputPoolPlane = (long)inputPoolHeight * inputPoolWidth;
        float* y = _writesY ? (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, BinaryConvSchema.StemY, [batch, _channels, outHeight, outWidth])) : null;
        ulong* packed = _tauNext is null ? null : PackedHandOff.Output(context, _tauNext, batch, _channels, outHeight, outWidth, BinaryConvSchema.StemPacked);
        float* pooled = _pools ? (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, BinaryConvSchema.StemPooled, [batch, _channels, poolHeight, poolWidth])) : null;
        float* inputPooled = _poolsInput
            ? (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, BinaryConvSchema.StemXPooled, [batch, _inChannels, inputPoolHeight, inputPoolWidth])) : null;
        if ((long)batch * height * width == 0) return;
        // Without Y the planes are the calling thread's scratch: the tasks below only write into it while this call lasts.
        if (y == null) y = ThreadScratch.Planes(checked(batch * _channels * (int)plane));
        float* px = (float*)x.Data;
        int lanes = StemConvolution.BestLanes, channels = _channels, inChannels = _inChannels;
        var run = OrtParallelRunner.For(context);

        int bands = (outHeight + RowsPerTask - 1) / RowsPerTask;
        bool inputRowOrder = _inputRowOrder;
        fixed (float* mean = _mean, std = _std, w = _weights, bias = _bias)
        {
            float* pm = mean, ps = std, pw = w, pb = bias;
            run(batch * bands, task =>
            {
                int n = task / bands, first = task % bands * RowsPerTask, end = Math.Min(outHeight, first + RowsPerTask);
                float* scratch = ThreadScratch.Rows(StemConvolution.ScratchFloats(inChannels, outWidth));
                float* image = px + (long)n * inChannels * inputPlane;
                for (int i = first; i < end; i++)
                {
                    // XPooled's row i (XPooled has at most ⌈H/2⌉ rows, as Y) reads X's rows 2i and 2i + 1, which the
                    // convolution's row i reads next (with row 2i − 1, read for the row before).
                    if (inputPooled is not null && i < inputPoolHeight)
                        for (int c = 0; c < inChannels; c++)
                            AveragePool2x.Row(image + c * inputPlane, height, width, inputPoolWidth, i,
                                inputPooled + ((long)n * inChannels + c) * inputPoolPlane + (long)i * inputPoolWidth, inputRowOrder);
                    StemConvolution.Row(image, inChannels, height, width, pm, ps, pw, pb, channels, i, y + (long)n * channels * plane, plane, scratch, lanes);
                }
            });
        }

        // Each plane's normalization (a, b), a in the first half: rented, so a frame leaves no garbage.
        int count = batch * channels;
        float[] coefficients = ArrayPool<float>.Shared.Rent(2 * count);
        try
        {
            run(count, p =>
            {
                var (mu, variance) = FrameNormalization.Statistics(y + p * plane, (int)plane);
                (coefficients[p], coefficients[count + p]) = FrameNormalization.Affine(mu, variance, _normScale[p % channels], _normBias[p % channels], _epsilon);
            });

            // Pairs of rows: a pooled row reads exactly the two rows its task activates.
            int pairs = (outHeight + 1) / 2, words = PackedLayout.WordsFor(channels);
            float[]? tau = _tauNext;
            bool rowOrder = _rowOrder;
            run(batch * pairs, task =>
            {
                int n = task / pairs, pair = task % pairs, first = 2 * pair, end = Math.Min(outHeight, first + 2);
                float* image = y + (long)n * channels * plane;
                for (int c = 0; c < channels; c++)
                    for (int i = first; i < end; i++)
                        StemConvolution.ActivateRow(image + c * plane + (long)i * outWidth, outWidth, coefficients[n * channels + c], coefficients[count + n * channels + c], lanes);
                if (packed is not null)
                    fixed (float* t = tau)
                        for (int i = first; i < end; i++)
                            ActivationPacker.PackRow(image, t, channels, outHeight, outWidth, 0, i, 0, outWidth, packed + ((long)n * outHeight + i) * outWidth * words);
                if (pooled is not null && pair < poolHeight)
                    for (int c = 0; c < channels; c++)
                        AveragePool2x.Row(image + c * plane, outHeight, outWidth, poolWidth, pair, pooled + ((long)n * channels + c) * poolPlane + (long)pair * poolWidth, rowOrder);
            });
        }
        finally
        {
            ArrayPool<float>.Shared.Return(coefficients);
        }
    }

    public void Dispose()
    {
    }
}
