using System.Buffers;
using System.Runtime.Intrinsics;
using BiVM.Contracts;
using BiVM.CustomOps.Activation;
using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.Cpu;
using BiVM.CustomOps.SparseBinaryConv2d;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// The ShortcutRPReLU node's kernel: the per-channel constants (AddendScale, ShiftIn, Slope, ShiftOut, TauNext) are
/// read once at creation; Compute checks X and Addend and runs <see cref="ShortcutRPReLU"/> in parallel on the
/// session's intra-op threads. With TauNext it works a band of image rows at a time (<see cref="BandRows"/>): every
/// channel's stretch of the band, then each row's sign bits packed (<see cref="ActivationPacker"/>) while the band is
/// still in cache, for the next binary conv. With
/// NormScale and NormBias (a folded InstanceNormalization) a first parallel pass takes every plane's statistics
/// (<see cref="FrameNormalization"/>), and the second normalizes in the same pass as the glue. With Projection it also
/// works one image row at a time: every channel's row, then that row's 1×1 projection (<see cref="ChannelProjection"/>)
/// from it while it is in L1 or L2 (and its packing, with TauNext). With a folded 1×1 binary conv (PointwiseW …) X is
/// that conv's input and the glue's input rows are computed from PointwiseXPacked where they are needed
/// (<see cref="FoldedPointwiseConv"/>): the statistics from the dots' exact integer moments (bands of rows in parallel),
/// then per row every channel's row into per-thread scratch for the glue; the conv's output is never written. With a
/// folded sparse conv (SparseX …) the Addend likewise: SparseX packed where active outputs read it, then per row every
/// channel's row of the conv (zeros off the mask) into per-thread scratch (<see cref="FoldedSparseConv"/>). With
/// y_split, Y's channels from s on are written to YRest instead (the ConvGRU's Split done where the values are made),
/// and the packed outputs are YRest's bits (the ConvGRU's X): with YRest unnamed, its rows only pass through scratch.
/// </summary>
internal sealed unsafe class ShortcutRPReLUOrtKernel : IBiVMKernel
{
    /// <summary>
    /// 1: the glue's count tables where a node takes them (<see cref="CountBitTable"/>, <see cref="CountValueTable"/>); 0: its
    /// arithmetic everywhere, the same bits and values (the tests' oracle for the tables; ab-frames.cs's toggle).
    /// </summary>
    internal static int CountTables = 1;

    private readonly float[] _shiftIn, _slope, _shiftOut;
    private readonly float[]? _tauNext;
    private readonly (float[] Scale, float[] Bias, float Epsilon)? _norm;
    private readonly float _scale;
    private readonly bool _hasAddend;
    private readonly (float[] Weights, float[]? Bias, int Outputs)? _projection;
    private readonly int _addendRepeat, _addendChunks;
    private readonly FoldedPointwiseConv? _pointwise;
    private readonly FoldedSparseConv? _sparse;
    /// <summary>τ of the second binary conv that reads Y (TauSecond: output YPackedSecond), or null.</summary>
    private float[]? _tauSecond;
    /// <summary>Whether Y is written (its output named), X given (else the shapes come from PointwiseXPacked), and the sparse conv's input comes packed (SparseXPacked).</summary>
    private bool _writesY = true, _hasX = true, _sparsePacked;
    /// <summary>With y_split: Y's channels [0, s) go to Y, [s, C) to YRest (0: Y whole).</summary>
    private int _ySplit;
    /// <summary>With y_split, whether YRest is named (else only its bits are written, as YPacked and YPackedSecond).</summary>
    private bool _writesRest;
    /// <summary>Whether input PackedUnread is given: YPacked is then left unwritten on the calls where it holds true.</summary>
    private bool _packedUnread;

    private ShortcutRPReLUOrtKernel(string location, float[] shiftIn, float[] slope, float[] shiftOut, float scale, bool hasAddend, float[]? tauNext,
        (float[] Scale, float[] Bias, float Epsilon)? norm, int addendRepeat, int addendChunks, (float[], float[]?, int)? projection, FoldedPointwiseConv? pointwise,
        FoldedSparseConv? sparse)
    {
        _pointwise = pointwise;
        _sparse = sparse;
        _projection = projection;
        _addendRepeat = addendRepeat;
        _addendChunks = addendChunks;
        _norm = norm;
        Location = location;
        _shiftIn = shiftIn;
        _slope = slope;
        _shiftOut = shiftOut;
        _scale = scale;
        _hasAddend = hasAddend;
        _tauNext = tauNext;
    }

    public string Location { get; }

    public static ShortcutRPReLUOrtKernel Create(BiVMOpDefinition op, nint info, out string nodeName)
    {
        nodeName = OrtApi.KernelInfoNodeName(info);
        int inputs = OrtApi.KernelInfoInputCount(info);
        if (inputs < BinaryConvSchema.ActivationShiftOut + 1)
            throw new OpValidationException($"needs inputs X, Addend, AddendScale (both may be the empty name), ShiftIn, Slope, ShiftOut[, TauNext]; got {inputs}");
        bool Present(int index) => inputs > index && OrtApi.KernelInfoInputName(info, index).Length > 0;
        bool hasAddend = Present(BinaryConvSchema.ActivationAddend);
        float scale = 1f;
        if (Present(BinaryConvSchema.ActivationAddendScale))
        {
            if (!hasAddend) throw new OpValidationException("AddendScale is given without an Addend");
            var s = OrtTensorView.Constant(info, BinaryConvSchema.ActivationAddendScale, "AddendScale");
            if (s.Type != OrtElementType.Float || s.ElementCount != 1)
                throw new OpValidationException($"AddendScale must be one float32 value, got {OrtTensorView.TypeText(s.Type)} {s.Shape}");
            scale = s.Span<float>()[0];
        }
        var shiftIn = Channels(info, BinaryConvSchema.ActivationShiftIn, "ShiftIn");
        var slope = Channels(info, BinaryConvSchema.ActivationSlope, "Slope");
        var shiftOut = Channels(info, BinaryConvSchema.ActivationShiftOut, "ShiftOut");
        if (slope.Length != shiftIn.Length || shiftOut.Length != shiftIn.Length)
            throw new OpValidationException($"ShiftIn, Slope and ShiftOut must have the same channel count, got {shiftIn.Length}, {slope.Length}, {shiftOut.Length}");
        float[]? tauNext = null;
        bool packedOutput = OrtApi.KernelInfoOutputCount(info) > BinaryConvSchema.ActivationPackedOutput
            && OrtApi.KernelInfoOutputName(info, BinaryConvSchema.ActivationPackedOutput).Length > 0;
        bool writesY = OrtApi.KernelInfoOutputName(info, BinaryConvSchema.ActivationOutput).Length > 0;
        var (ySplit, writesRest) = YSplit(info, shiftIn.Length, writesY, Present(BinaryConvSchema.ActivationProjection),
            Present(BinaryConvSchema.ActivationTauNext) || Present(BinaryConvSchema.ActivationTauSecond));
        // The channels the packed outputs hold: Y's, or with y_split YRest's.
        int packedChannels = shiftIn.Length - ySplit;
        string packedText = packedChannels == shiftIn.Length ? $"C = {shiftIn.Length}" : $"C − {BinaryConvSchema.ActivationYSplit} = {packedChannels} (YRest's channels)";
        if (Present(BinaryConvSchema.ActivationTauNext))
        {
            tauNext = Channels(info, BinaryConvSchema.ActivationTauNext, "TauNext");
            if (tauNext.Length != packedChannels)
                throw new OpValidationException($"TauNext has {tauNext.Length} values, expected {packedText}");
            if (!packedOutput) throw new OpValidationException("TauNext is given but output YPacked is not (they go together)");
        }
        else if (packedOutput) throw new OpValidationException("output YPacked needs the TauNext input");
        (float[], float[], float)? norm = null;
        if (Present(BinaryConvSchema.ActivationNormScale) != Present(BinaryConvSchema.ActivationNormBias))
            throw new OpValidationException("NormScale and NormBias go together (a folded InstanceNormalization has both)");
        if (Present(BinaryConvSchema.ActivationNormScale))
        {
            var normScale = Channels(info, BinaryConvSchema.ActivationNormScale, "NormScale");
            var normBias = Channels(info, BinaryConvSchema.ActivationNormBias, "NormBias");
            if (normScale.Length != shiftIn.Length || normBias.Length != shiftIn.Length)
                throw new OpValidationException($"NormScale and NormBias have {normScale.Length} and {normBias.Length} values, expected C = {shiftIn.Length}");
            float epsilon = OrtApi.KernelInfoAttributeFloat(info, BinaryConvSchema.ActivationNormEpsilon) ?? 1e-5f;
            if (!(epsilon >= 0) || float.IsInfinity(epsilon)) throw new OpValidationException($"attribute {BinaryConvSchema.ActivationNormEpsilon} must be a finite value >= 0, got {epsilon}");
            norm = (normScale, normBias, epsilon);
        }
        (float[], float[]?, int)? projection = null;
        bool projectedOutput = OrtApi.KernelInfoOutputCount(info) > BinaryConvSchema.ActivationProjectedOutput
            && OrtApi.KernelInfoOutputName(info, BinaryConvSchema.ActivationProjectedOutput).Length > 0;
        if (Present(BinaryConvSchema.ActivationProjectionBias) && !Present(BinaryConvSchema.ActivationProjection))
            throw new OpValidationException("ProjectionBias is given without Projection");
        if (Present(BinaryConvSchema.ActivationProjection) != projectedOutput)
            throw new OpValidationException(projectedOutput ? "output Projected needs the Projection input" : "Projection is given but output Projected is not (they go together)");
        if (projectedOutput)
        {
            var w = OrtTensorView.Constant(info, BinaryConvSchema.ActivationProjection, "Projection");
            var d = w.Dims;
            if (w.Type != OrtElementType.Float || d.Length != 4 || d[0] <= 0 || d[1] != shiftIn.Length || d[2] != 1 || d[3] != 1)
                throw new OpValidationException($"Projection must be float32 [K, C = {shiftIn.Length}, 1, 1] (a 1×1 Conv's W), got {OrtTensorView.TypeText(w.Type)} {w.Shape}");
            float[]? bias = null;
            if (Present(BinaryConvSchema.ActivationProjectionBias))
            {
                var b = OrtTensorView.Constant(info, BinaryConvSchema.ActivationProjectionBias, "ProjectionBias");
                if (b.Type != OrtElementType.Float || b.Dims.Length != 1 || b.Dims[0] != d[0])
                    throw new OpValidationException($"ProjectionBias must be float32 [K = {d[0]}], got {OrtTensorView.TypeText(b.Type)} {b.Shape}");
                bias = b.Span<float>().ToArray();
            }
            projection = (w.Span<float>().ToArray(), bias, (int)d[0]);
        }
        long repeat = OrtApi.KernelInfoAttributeInt(info, BinaryConvSchema.ActivationAddendRepeat) ?? 1;
        long chunks = OrtApi.KernelInfoAttributeInt(info, BinaryConvSchema.ActivationAddendChunks) ?? 1;
        if (repeat < 1 || shiftIn.Length % repeat != 0)
            throw new OpValidationException($"attribute {BinaryConvSchema.ActivationAddendRepeat} = {repeat} must be at least 1 and divide C = {shiftIn.Length}");
        if (chunks is not (1 or 2))
            throw new OpValidationException($"attribute {BinaryConvSchema.ActivationAddendChunks} = {chunks} must be 1 or 2");
        if (repeat > 1 && chunks > 1)
            throw new OpValidationException($"attributes {BinaryConvSchema.ActivationAddendRepeat} and {BinaryConvSchema.ActivationAddendChunks} cannot both be above 1");
        if ((repeat > 1 || chunks > 1) && !hasAddend)
            throw new OpValidationException($"attribute {(repeat > 1 ? BinaryConvSchema.ActivationAddendRepeat : BinaryConvSchema.ActivationAddendChunks)} maps the Addend's channels, but there is no Addend");
        var sparse = Sparse(info, Present, shiftIn.Length);
        FoldedPointwiseConv? pointwise = null;
        float[]? tauSecond = null;
        bool secondOutput = OrtApi.KernelInfoOutputCount(info) > BinaryConvSchema.ActivationSecondPackedOutput
            && OrtApi.KernelInfoOutputName(info, BinaryConvSchema.ActivationSecondPackedOutput).Length > 0;
        bool hasX = Present(BinaryConvSchema.ActivationX), sparsePacked = Present(BinaryConvSchema.ActivationSparseXPacked);
        try // the folded convs own native memory: freed if the node is refused after they were made
        {
            if (sparse is not null && (hasAddend || repeat > 1 || chunks > 1))
                throw new OpValidationException(hasAddend
                    ? "has both an Addend and a folded sparse conv (SparseX … SparseMask), whose output is the Addend: leave Addend and AddendScale empty"
                    : $"attributes {BinaryConvSchema.ActivationAddendRepeat} and {BinaryConvSchema.ActivationAddendChunks} must be 1 with a folded sparse conv (its output has C channels)");
            pointwise = Pointwise(info, Present, shiftIn.Length);
            if (Present(BinaryConvSchema.ActivationTauSecond))
            {
                tauSecond = Channels(info, BinaryConvSchema.ActivationTauSecond, "TauSecond");
                if (tauSecond.Length != packedChannels)
                    throw new OpValidationException($"TauSecond has {tauSecond.Length} values, expected {packedText}");
                if (!secondOutput) throw new OpValidationException("TauSecond is given but output YPackedSecond is not (they go together)");
            }
            else if (secondOutput) throw new OpValidationException("output YPackedSecond needs the TauSecond input");
            if (!writesY && projection is null && tauNext is null && tauSecond is null)
                throw new OpValidationException("output Y is the empty name and there is no packed or projected output: the node would write nothing");
            if (!hasX && pointwise is null)
                throw new OpValidationException("X is the empty name; only a glue with a folded 1×1 conv (PointwiseW …) may leave it out (its shapes then come from PointwiseXPacked)");
            if (sparsePacked && sparse is null)
                throw new OpValidationException("SparseXPacked is given without a folded sparse conv (SparseW …)");
            if (sparse is not null && !sparsePacked && !Present(BinaryConvSchema.ActivationSparseX))
                throw new OpValidationException("a folded sparse conv needs its input: SparseX or SparseXPacked");
            if (Present(BinaryConvSchema.ActivationPackedUnread) && tauNext is null)
                throw new OpValidationException("PackedUnread is given without TauNext: there is no YPacked to leave unwritten");
        }
        catch
        {
            pointwise?.Dispose();
            sparse?.Dispose();
            throw;
        }
        return new ShortcutRPReLUOrtKernel(BinaryConvOrtKernel.Where(op, nodeName), shiftIn, slope, shiftOut, scale, hasAddend, tauNext, norm, (int)repeat, (int)chunks, projection, pointwise, sparse)
        {
            _tauSecond = tauSecond,
            _writesY = writesY,
            _ySplit = ySplit,
            _writesRest = writesRest,
            _hasX = hasX,
            _sparsePacked = sparsePacked,
            _packedUnread = Present(BinaryConvSchema.ActivationPackedUnread),
        };
    }

    /// <summary>Input PackedUnread's value: one bool ([] or [1]).</summary>
    private static bool PackedUnread(nint context)
    {
        var u = OrtTensorView.Read(OrtApi.KernelContextInput(context, BinaryConvSchema.ActivationPackedUnread));
        if (u.Type != OrtElementType.Bool || u.Dims.Length > 1 || u.Dims.Length == 1 && u.Dims[0] != 1)
            throw new OpValidationException($"PackedUnread must be one bool ([] or [1]), got {OrtTensorView.TypeText(u.Type)} {u.Shape}");
        return *(byte*)u.Data != 0;
    }

    /// <summary>
    /// The y_split attribute's s (0 without it), checked against C and the outputs: Y goes with it, and YRest too unless
    /// the packed outputs hold YRest's bits (<paramref name="packsRest"/>); not with a projection, which reads Y whole.
    /// Also whether YRest is named.
    /// </summary>
    private static (int Split, bool WritesRest) YSplit(nint info, int channels, bool writesY, bool projected, bool packsRest)
    {
        long? split = OrtApi.KernelInfoAttributeInt(info, BinaryConvSchema.ActivationYSplit);
        bool rest = OrtApi.KernelInfoOutputCount(info) > BinaryConvSchema.ActivationRestOutput
            && OrtApi.KernelInfoOutputName(info, BinaryConvSchema.ActivationRestOutput).Length > 0;
        if (split is null)
            return rest ? throw new OpValidationException($"output YRest needs the attribute {BinaryConvSchema.ActivationYSplit} (they go together)") : (0, false);
        if (split is not { } s || s <= 0 || s >= channels)
            throw new OpValidationException($"attribute {BinaryConvSchema.ActivationYSplit} = {split} must leave channels in both parts: 0 < s < C = {channels}");
        if (!writesY || !rest && !packsRest)
            throw new OpValidationException($"attribute {BinaryConvSchema.ActivationYSplit} writes Y in two outputs, Y and YRest: both must be named (YRest may be left out where YPacked or YPackedSecond holds its bits)");
        if (projected)
            throw new OpValidationException($"attribute {BinaryConvSchema.ActivationYSplit} cannot go with Projected (it reads Y whole)");
        return ((int)s, rest);
    }

    /// <summary>The folded sparse conv's constants (SparseW, SparseAlpha, SparseTau, SparseBias) and mask_scale, or null.</summary>
    private static FoldedSparseConv? Sparse(nint info, Func<int, bool> present, int channels)
    {
        int[] required = [BinaryConvSchema.ActivationSparseW, BinaryConvSchema.ActivationSparseAlpha, BinaryConvSchema.ActivationSparseTau, BinaryConvSchema.ActivationSparseMask];
        long? maskScale = OrtApi.KernelInfoAttributeInt(info, BinaryConvSchema.ActivationSparseMaskScale);
        bool input = present(BinaryConvSchema.ActivationSparseX) || present(BinaryConvSchema.ActivationSparseXPacked);
        if (!required.Any(present) && !input && !present(BinaryConvSchema.ActivationSparseBias) && maskScale is null) return null;
        if (!required.All(present) || !input || maskScale is null)
            throw new OpValidationException($"SparseX (or SparseXPacked), SparseW, SparseAlpha, SparseTau, SparseMask and attribute {BinaryConvSchema.ActivationSparseMaskScale} go together (a folded sparse conv; SparseBias is optional)");
        if (maskScale is not { } k || k > int.MaxValue || !MaskGeometry.IsAllowedScale((int)k))
            throw new OpValidationException($"attribute {BinaryConvSchema.ActivationSparseMaskScale} must be one of {string.Join(", ", MaskGeometry.AllowedScales)}, got {maskScale}");
        var tau = OrtTensorView.Constant(info, BinaryConvSchema.ActivationSparseTau, "SparseTau");
        if (tau.Type != OrtElementType.Float || tau.Dims.Length != 1 || tau.Dims[0] is < 1 or > int.MaxValue)
            throw new OpValidationException($"SparseTau must be float32 [Cin], got {OrtTensorView.TypeText(tau.Type)} {tau.Shape}");
        int size = FoldedSparseConv.KernelSize;
        long[] wDims = [channels, size, size, PackedLayout.WordsFor((int)tau.Dims[0])];
        var w = OrtTensorView.Constant(info, BinaryConvSchema.ActivationSparseW, "SparseW");
        if (w.Type != OrtElementType.UInt64 || !w.Dims.SequenceEqual(wDims))
            throw new OpValidationException($"SparseW must be the packed uint64 {OrtTensorView.ShapeText(wDims)} of a 3×3 conv with C = {channels} outputs and SparseTau's Cin = {tau.Dims[0]} inputs, got {OrtTensorView.TypeText(w.Type)} {w.Shape}");
        var alpha = PerChannel(info, BinaryConvSchema.ActivationSparseAlpha, "SparseAlpha", channels);
        var bias = present(BinaryConvSchema.ActivationSparseBias) ? PerChannel(info, BinaryConvSchema.ActivationSparseBias, "SparseBias", channels) : default;
        return new FoldedSparseConv(w.Span<ulong>(), alpha, tau.Span<float>(), bias, (int)k);
    }

    /// <summary>The folded 1×1 binary conv's constants (PointwiseW, PointwiseAlpha, PointwiseTau, PointwiseBias), or null.</summary>
    private static FoldedPointwiseConv? Pointwise(nint info, Func<int, bool> present, int channels)
    {
        bool any = false, all = true;
        foreach (int i in new[] { BinaryConvSchema.ActivationPointwiseW, BinaryConvSchema.ActivationPointwiseAlpha, BinaryConvSchema.ActivationPointwiseTau, BinaryConvSchema.ActivationPointwiseXPacked })
        {
            any |= present(i);
            all &= present(i);
        }
        if (!any && !present(BinaryConvSchema.ActivationPointwiseBias)) return null;
        if (!all) throw new OpValidationException("PointwiseW, PointwiseAlpha, PointwiseTau and PointwiseXPacked go together (a folded 1×1 binary conv; PointwiseBias is optional)");
        var w = OrtTensorView.Constant(info, BinaryConvSchema.ActivationPointwiseW, "PointwiseW");
        if (w.Type != OrtElementType.UInt64 || !w.Dims.SequenceEqual([channels, 1L, 1L, 1L]))
            throw new OpValidationException($"PointwiseW must be the packed uint64 [C = {channels}, 1, 1, 1] of a 1×1 conv with one word per pixel, got {OrtTensorView.TypeText(w.Type)} {w.Shape}");
        var tau = OrtTensorView.Constant(info, BinaryConvSchema.ActivationPointwiseTau, "PointwiseTau");
        if (tau.Type != OrtElementType.Float || tau.Dims.Length != 1 || tau.Dims[0] is < 1 or > 64)
            throw new OpValidationException($"PointwiseTau must be float32 [Cin] with 1 ≤ Cin ≤ 64 (one packed word per pixel), got {OrtTensorView.TypeText(tau.Type)} {tau.Shape}");
        var alpha = PerChannel(info, BinaryConvSchema.ActivationPointwiseAlpha, "PointwiseAlpha", channels);
        var bias = present(BinaryConvSchema.ActivationPointwiseBias) ? PerChannel(info, BinaryConvSchema.ActivationPointwiseBias, "PointwiseBias", channels) : default;
        return new FoldedPointwiseConv(w.Span<ulong>(), alpha, tau.Span<float>(), bias);
    }

    /// <summary>A folded conv's alpha or bias: a constant float32 [C] (its values stay ORT's, read while the kernel is made).</summary>
    private static ReadOnlySpan<float> PerChannel(nint info, int index, string name, int channels)
    {
        var t = OrtTensorView.Constant(info, index, name);
        if (t.Type != OrtElementType.Float || !t.Dims.SequenceEqual([(long)channels]))
            throw new OpValidationException($"{name} must be float32 [C = {channels}], got {OrtTensorView.TypeText(t.Type)} {t.Shape}");
        return t.Span<float>();
    }

    /// <summary>C values shaped [C], [C, 1, 1] or [1, C, 1, 1] (how the exporter writes RPReLU's parameters).</summary>
    private static float[] Channels(nint info, int index, string name) => OrtTensorView.ChannelConstant(info, index, name);

    public void Compute(nint context)
    {
        // Without X (a folded 1×1 conv's glue that reads only bits) N, H and W come from PointwiseXPacked.
        OrtTensorView? xView = null;
        long[] shape;
        string shapeSource;
        if (_hasX)
        {
            var x = OrtTensorView.Read(OrtApi.KernelContextInput(context, BinaryConvSchema.ActivationX));
            if (x.Type != OrtElementType.Float) throw new OpValidationException($"X must be float32, got {OrtTensorView.TypeText(x.Type)}");
            if (x.Dims.Length != 4) throw new OpValidationException($"X must have rank 4 [N, C, H, W], got rank {x.Dims.Length} {x.Shape}");
            if (_pointwise is { } conv && x.Dims[1] != conv.InChannels)
                throw new OpValidationException($"channel mismatch: X {x.Shape} has {x.Dims[1]} channels but the folded 1×1 conv's PointwiseTau has Cin = {conv.InChannels}");
            if (_pointwise is null && x.Dims[1] != _shiftIn.Length)
                throw new OpValidationException($"channel mismatch: X {x.Shape} has {x.Dims[1]} channels but ShiftIn, Slope and ShiftOut have {_shiftIn.Length}");
            xView = x;
            shape = x.Dims;
            shapeSource = $"X {x.Shape}";
        }
        else
        {
            var xp = OrtTensorView.Read(OrtApi.KernelContextInput(context, BinaryConvSchema.ActivationPointwiseXPacked));
            if (xp.Type != OrtElementType.UInt64 || xp.Dims.Length != 4 || xp.Dims[3] != 1)
                throw new OpValidationException($"PointwiseXPacked must be uint64 [N, H, W, 1], got {OrtTensorView.TypeText(xp.Type)} {xp.Shape}");
            shape = [xp.Dims[0], _pointwise!.InChannels, xp.Dims[1], xp.Dims[2]];
            shapeSource = $"PointwiseXPacked {xp.Shape}";
        }
        if (shape.Any(d => d > int.MaxValue)) throw new OpValidationException($"{shapeSource} is too large");
        int batch = (int)shape[0], channels = _shiftIn.Length, height = (int)shape[2], width = (int)shape[3];
        long[] yDims = [batch, channels, height, width];
        float* addend = null;
        if (_hasAddend)
        {
            var a = OrtTensorView.Read(OrtApi.KernelContextInput(context, BinaryConvSchema.ActivationAddend));
            long[] expected = [batch, AddendChannels, height, width];
            if (a.Type != OrtElementType.Float || !a.Dims.SequenceEqual(expected))
                throw new OpValidationException($"Addend must be float32 {OrtTensorView.ShapeText(expected)} ({(_pointwise is null ? shapeSource : $"Y {OrtTensorView.ShapeText(yDims)}")}{MapText}), got {OrtTensorView.TypeText(a.Type)} {a.Shape}");
            addend = (float*)a.Data;
        }
        ulong* xPacked = null;
        if (_pointwise is not null)
        {
            var xp = OrtTensorView.Read(OrtApi.KernelContextInput(context, BinaryConvSchema.ActivationPointwiseXPacked));
            long[] expected = [batch, height, width, 1];
            if (xp.Type != OrtElementType.UInt64 || !xp.Dims.SequenceEqual(expected))
                throw new OpValidationException($"PointwiseXPacked must be uint64 [N, H, W, 1] = {OrtTensorView.ShapeText(expected)} for {shapeSource}, got {OrtTensorView.TypeText(xp.Type)} {xp.Shape}");
            xPacked = (ulong*)xp.Data;
        }
        float* sparseX = null;
        ulong* sparseXPacked = null;
        byte* sparseMask = null;
        if (_sparse is { } sparse)
        {
            if (_sparsePacked)
            {
                var sp = OrtTensorView.Read(OrtApi.KernelContextInput(context, BinaryConvSchema.ActivationSparseXPacked));
                long[] expected = [batch, height, width, PackedLayout.WordsFor(sparse.InChannels)];
                if (sp.Type != OrtElementType.UInt64 || !sp.Dims.SequenceEqual(expected))
                    throw new OpValidationException($"SparseXPacked must be uint64 [N, H, W, words] = {OrtTensorView.ShapeText(expected)} (SparseTau's Cin = {sparse.InChannels}, Y {OrtTensorView.ShapeText(yDims)}), got {OrtTensorView.TypeText(sp.Type)} {sp.Shape}");
                sparseXPacked = (ulong*)sp.Data;
            }
            else
            {
                var sx = OrtTensorView.Read(OrtApi.KernelContextInput(context, BinaryConvSchema.ActivationSparseX));
                long[] expected = [batch, sparse.InChannels, height, width];
                if (sx.Type != OrtElementType.Float || !sx.Dims.SequenceEqual(expected))
                    throw new OpValidationException($"SparseX must be float32 [N, Cin, H, W] = {OrtTensorView.ShapeText(expected)} (SparseTau's Cin, Y {OrtTensorView.ShapeText(yDims)}), got {OrtTensorView.TypeText(sx.Type)} {sx.Shape}");
                sparseX = (float*)sx.Data;
            }
            var m = OrtTensorView.Read(OrtApi.KernelContextInput(context, BinaryConvSchema.ActivationSparseMask));
            var (mh, mw) = MaskGeometry.MaskSize(height, width, sparse.MaskScale);
            long[] maskDims = [batch, 1, mh, mw];
            if (m.Type is not (OrtElementType.UInt8 or OrtElementType.Bool) || !m.Dims.SequenceEqual(maskDims))
                throw new OpValidationException($"SparseMask must be uint8 or bool [N, 1, ceil(H/k), ceil(W/k)] = {OrtTensorView.ShapeText(maskDims)} for Y {OrtTensorView.ShapeText(yDims)} and {BinaryConvSchema.ActivationSparseMaskScale} {sparse.MaskScale}, got {OrtTensorView.TypeText(m.Type)} {m.Shape}");
            sparseMask = (byte*)m.Data;
        }
        float* y = _writesY ? (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, BinaryConvSchema.ActivationOutput,
            _ySplit == 0 ? yDims : [batch, _ySplit, height, width])) : null;
        float* rest = _ySplit == 0 || !_writesRest ? null
            : (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, BinaryConvSchema.ActivationRestOutput, [batch, channels - _ySplit, height, width]));
        float* projected = _projection is { } projection
            ? (float*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, BinaryConvSchema.ActivationProjectedOutput, [batch, projection.Outputs, height, width]))
            : null;
        ulong* packed = null;
        if (_tauNext is not null)
        {
            int words = PackedLayout.WordsFor(channels - _ySplit); // with y_split, YRest's bits
            packed = (ulong*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, BinaryConvSchema.ActivationPackedOutput, [batch, height, width, words]));
        }
        ulong* second = _tauSecond is null ? null
            : (ulong*)OrtApi.GetTensorMutableData(OrtApi.KernelContextOutput(context, BinaryConvSchema.ActivationSecondPackedOutput, [batch, height, width, PackedLayout.WordsFor(channels - _ySplit)]));
        if (_packedUnread && PackedUnread(context))
        {
            // YPacked stays allocated, for the If that names it, but unwritten: nothing reads it in this run (the refiner's
            // Hidden bits at downsample 1, where the If's other branch runs: 0.991 and 1/1.006 of a 512×288 frame).
            packed = null;
            if (y is null && rest is null && projected is null && second is null) return;
        }
        if ((long)batch * height * width == 0) return;
        if (xView is { } input) InPlace.Note((float*)input.Data, y);
        long plane = (long)height * width;
        if (_norm is not null && plane > int.MaxValue) throw new OpValidationException($"{shapeSource}: a channel plane of over 2^31 values is too large to normalize");
        var runner = OrtParallelRunner.For(context);
        // A folded conv whose output would fit in cache is computed into a plane of its own first, as the conv node
        // did (same bits, the plane's statistics): from the bits row by row only pays where that plane would not.
        bool fromBits = _pointwise is not null && (long)channels * plane * sizeof(float) >= FoldedPlaneBytes;
        // Those planes live for this call, on this thread: ThreadScratch.Planes (on a cache line, kept by the thread).
        float* materialized = _pointwise is not null && !fromBits ? ThreadScratch.Planes(checked(batch * channels * (int)plane)) : null;
        // The folded InstanceNormalization's per-plane (a, b): every plane's statistics are needed before any row of
        // the packed path, so they are one pass of their own (parallel over planes). Rented: no garbage per frame.
        float[]? rented = _norm is null ? null : ArrayPool<float>.Shared.Rent(2 * batch * channels);
        try
        {
            fixed (float* coefficients = rented)
            {
                float* src = xView is { } xv ? (float*)xv.Data : null;
                if (materialized is not null)
                {
                    _pointwise!.Run(xPacked, batch, height, width, materialized, runner);
                    src = materialized;
                }
                float* normScale = coefficients, normShift = coefficients + (rented is null ? 0 : batch * channels);
                if (_norm is { } norm && fromBits)
                    PointwiseStatistics(runner, _pointwise!, xPacked, norm, normScale, normShift, batch, height, width);
                else if (_norm is { } planeNorm)
                    runner(batch * channels, i =>
                    {
                        int c = i % channels;
                        (normScale[i], normShift[i]) = FrameNormalization.Coefficients(src + i * plane, (int)plane, planeNorm.Scale[c], planeNorm.Bias[c], planeNorm.Epsilon);
                    });
                // The folded sparse conv's input: handed over packed (whole planes: the same bits as packing SparseX where
                // active outputs read it), or packed here from SparseX where active outputs read it.
                SparseRows sparseRows = default;
                PackedActivations? packedHere = null;
                if (_sparse is not null)
                {
                    var layer = _sparse.Layer(batch, height, width);
                    if (sparseXPacked is null)
                    {
                        packedHere = _sparse.Pack(layer, sparseX, sparseMask, runner);
                        sparseXPacked = packedHere.Value.Pointer;
                    }
                    sparseRows = new SparseRows(layer, sparseXPacked, sparseMask);
                }
                try
                {
                    Glue(runner, fromBits ? null : src, xPacked, addend, new GlueOutputs(y, packed, second, projected, rest), normScale, normShift,
                        batch, channels, height, width, sparseRows);
                }
                finally
                {
                    packedHere?.Dispose();
                }
            }
        }
        finally
        {
            if (rented is not null) ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Where the count tables give a row, the folded sparse conv's active runs with fewer than this many columns between
    /// them are one stretch of the glue's arithmetic (its zeros between them added as such): one call per channel and
    /// stretch instead of per run. On vtest.avi's 45 % active cells, run by run cost decode0's glues 0.15 ms more than
    /// the arithmetic over whole rows (docs/kernels.md, twenty-sixth session).
    /// </summary>
    internal const int StretchGap = 64;

    /// <summary>
    /// Whether a row's count tables pay: where the stretches of the sparse conv's active runs cover more than half the row,
    /// the glue's arithmetic over the whole row costs less than the tables and the stretches' arithmetic together (on
    /// vtest.avi, 45 % of the cells active, decode0's glues took 0.1 ms more with the tables on every row).
    /// </summary>
    private static bool TablesPay(Span<int> stretches, int count, int width)
    {
        int covered = 0;
        for (int r = 0; r < count; r++) covered += stretches[2 * r + 1] - stretches[2 * r];
        return 2 * covered <= width;
    }

    /// <summary>
    /// From this size of a folded conv's output per image (C·H·W floats) on, the glue computes it from the bits row by
    /// row; below, into a plane first. Measured on Emerald Rapids (2 MB of L2 per core), 1920×1080 at 0.25 on two
    /// threads, glue + conv against the folded glue, per node: decode0's and the refiner's 8.3 MB planes 1.2–1.5× faster
    /// folded, decode1's 4.1 MB the same, the backbone's 1–2 MB planes up to 3× slower (docs/export.md).
    /// </summary>
    internal const long FoldedPlaneBytes = 4L << 20;

    /// <summary>
    /// The folded normalization's coefficients when the glue's input is the folded 1×1 conv's D = alpha·dot + bias: the
    /// statistics of the dots are exact integers (Σ popcount and Σ popcount² per channel, <see cref="FoldedPointwiseConv.Moments"/>:
    /// from the counts or from the co-occurrences of the input's bits), from which μ and σ² of D follow in float64 (<see cref="FoldedPointwiseConv.Statistics"/>);
    /// no float plane is formed. Within float rounding of the statistics of the rounded D (docs/model-contract.md).
    /// </summary>
    private static void PointwiseStatistics(ParallelRunner runner, FoldedPointwiseConv conv, ulong* xPacked, (float[] Scale, float[] Bias, float Epsilon) norm,
        float* normScale, float* normShift, int batch, int height, int width)
    {
        int channels = conv.OutChannels;
        long[] rented = ArrayPool<long>.Shared.Rent(2 * batch * channels);
        try
        {
            fixed (long* sums = rented)
            {
                long* squares = sums + batch * channels;
                conv.Moments(runner, xPacked, batch, height, width, sums, squares);
                for (int i = 0; i < batch * channels; i++)
                {
                    int c = i % channels;
                    var (mean, variance) = conv.Statistics(c, sums[i], squares[i], (long)height * width);
                    (normScale[i], normShift[i]) = FrameNormalization.Affine(mean, variance, norm.Scale[c], norm.Bias[c], norm.Epsilon);
                }
            }
        }
        finally
        {
            ArrayPool<long>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// The glue itself; <paramref name="normScale"/> is null without a folded normalization, else the [N·C] planes'
    /// coefficients (<paramref name="normShift"/> likewise). <paramref name="src"/> is X, or null with a folded 1×1 conv,
    /// whose rows are then computed from <paramref name="xPacked"/>.
    /// </summary>
    /// <summary>
    /// Values per channel that one task of the banded row path covers (rows per task: this over the width): the glue's
    /// call per channel and row cost more than its values on the narrow layers (1024 channels of 18 × 32: 18 432 calls
    /// of 32 values). Measured on Zen 5, 512×288, one thread, frames alternated in one process against one row per
    /// task: 256 values 0.984 of the frame time, 512 0.982, 4096 0.972, 16 384 0.974; as kept, 0.975 (two threads
    /// 0.985; 1080p at 0.25, one thread, 0.965).
    /// </summary>
    internal const int BandValues = 4096;

    /// <summary>
    /// Rows per task of the banded row path: <see cref="BandValues"/> values per channel, but on more than one thread (or
    /// an unknown count) at most a quarter of each thread's share of the rows, so that every thread has work to claim.
    /// </summary>
    internal static int BandRows(int height, int width, int threads)
    {
        int rows = Math.Max(1, BandValues / Math.Max(1, width));
        if (threads != 1)
        {
            int quarters = 4 * Math.Max(2, threads); // a quarter of each thread's share: height / quarters rows, rounded up
            rows = Math.Min(rows, Math.Max(1, (height + quarters - 1) / quarters));
        }
        return Math.Min(rows, Math.Max(1, height));
    }

    private void Glue(ParallelRunner runner, float* src, ulong* xPacked, float* addend, GlueOutputs outputs, float* normScale, float* normShift,
        int batch, int channels, int height, int width, SparseRows sparse)
    {
        float* y = outputs.Y, projected = outputs.Projected, rest = outputs.Rest;
        ulong* packed = outputs.Packed, second = outputs.Second;
        long plane = (long)height * width;
        int split = _ySplit;
        // Channel c of image n of Y: with y_split, channels from split on are YRest's.
        float* YChannel(int n, int c) => split == 0 ? y + ((long)n * channels + c) * plane
            : c < split ? y + ((long)n * split + c) * plane : rest + ((long)n * (channels - split) + c - split) * plane;
        int addendChannels = (int)AddendChannels;
        // Plane i's elements from offset on (offset − the plane's start: the position in it), read from input and
        // written to output; the Addend from addendRow instead where that is not null (the folded sparse conv's row of channel c).
        void Plane(int i, long offset, int count, float* input, float* addendRow, float* output)
        {
            int c = i % channels;
            float* a = Addend(i, offset, addendRow, out float* pair);
            if (normScale is null) ShortcutRPReLU.Apply(input, a, pair, _scale, _shiftIn[c], _slope[c], _shiftOut[c], output, count);
            else ShortcutRPReLU.ApplyNormalized(input, normScale[i], normShift[i], a, pair, _scale, _shiftIn[c], _slope[c], _shiftOut[c], output, count);
        }
        // Plane with the folded 1×1 conv's output formed from its counts in the same pass (channel c's at counts).
        void PlaneFromCounts(int i, long offset, int count, int* counts, float* addendRow, float* output)
        {
            int c = i % channels;
            float* a = Addend(i, offset, addendRow, out float* pair);
            ShortcutRPReLU.ApplyFromCounts(counts, _pointwise!.InChannels, _pointwise.Alpha(c), _pointwise.Bias(c), normScale is not null,
                normScale is null ? 1f : normScale[i], normShift is null ? 0f : normShift[i], a, pair, _scale, _shiftIn[c], _slope[c], _shiftOut[c], output, count);
        }
        // The addend's plane for plane i (channel i % C) under the channel map, from offset on, or addendRow where the
        // addend is a folded sparse conv's row; the second plane of a pair at pair (else null).
        float* Addend(int i, long offset, float* addendRow, out float* pair)
        {
            pair = null;
            if (addend is null) return addendRow;
            int n = i / channels, c = i % channels;
            long within = offset - (long)i * plane;
            float* a = addend + ((long)n * addendChannels + c % addendChannels) * plane + within;
            if (_addendChunks == 2) pair = a + (long)channels * plane;
            return a;
        }
        if (packed is null && second is null && projected is null && src is not null && sparse.Packed is null)
        {
            // One channel plane per task: its four constants are scalars there, and a plane is one contiguous stream.
            runner(batch * channels, i => Plane(i, i * plane, (int)plane, src + i * plane, null, YChannel(i / channels, i % channels)));
            return;
        }
        int lanes = ChannelProjection.BestLanes;
        if (src is not null && sparse.Packed is null && y is not null && (split == 0 || rest is not null))
        {
            // X read and Y written in place (no folded conv computing rows into scratch): a task is a band of rows,
            // whose values are one stretch per channel (one glue call each), then each row of it packed and projected
            // while the band is in cache.
            int band = BandRows(height, width, OrtParallelRunner.Threads), bands = (height + band - 1) / band;
            runner(batch * bands, task =>
            {
                int n = task / bands, iy0 = task % bands * band, iy1 = Math.Min(height, iy0 + band);
                for (int c = 0; c < channels; c++)
                {
                    long offset = ((long)n * channels + c) * plane + (long)iy0 * width;
                    Plane(n * channels + c, offset, (iy1 - iy0) * width, src + offset, null, YChannel(n, c) + (long)iy0 * width);
                }
                for (int iy = iy0; iy < iy1; iy++) PackAndProject(n, iy);
            });
            return;
        }
        // Otherwise row by row: every channel's row (computed first by the folded convs, if any; into Y, or into scratch
        // where Y is not written), then, while the row is in cache, its packed bits and its projection. A task is one
        // row, or with a folded sparse conv the rows of one mask row (mask_scale of them, the same active runs): its
        // addend rows then keep the first row's zeros between the runs in the thread's scratch, so later rows write only
        // the runs (the zeroing was 1 % of a 512×288 frame; frames 0.984 with this).
        int rowsPerTask = sparse.Packed is null ? 1 : _sparse!.MaskScale, tasks = (height + rowsPerTask - 1) / rowsPerTask;
        // A node that writes only bits, from the folded 1×1 conv's counts, with nothing added but the folded sparse conv
        // (zero off its active cells): there each bit is a function of the channel's popcount, so every row's words come
        // from per-channel tables (CountBitTable), and only the sparse conv's active runs take the glue's arithmetic.
        var (maskHeight, maskWidth) = sparse.Packed is null ? (0, 0) : MaskGeometry.MaskSize(height, width, _sparse!.MaskScale);
        bool byTables = src is null && y is null && projected is null && rest is null && addend is null
            && CountTables == 1 && (packed is not null || second is not null) && CountBitTable.IsSupported && CountBitTable.Accepts(_pointwise!.InChannels, channels);
        byte[]? rentedTables = byTables ? ArrayPool<byte>.Shared.Rent(2 * batch * channels * CountBitTable.TableBytes) : null;
        // Where values are written (or projected) from the counts of a folded 1×1 conv of at most 31 inputs, with nothing
        // added but the folded sparse conv: each channel's values off the sparse conv's runs from a table of 32 floats
        // (CountValueTable), the glue's arithmetic only on the runs.
        bool byValues = !byTables && src is null && addend is null && CountTables == 1
            && CountValueTable.IsSupported && _pointwise!.InChannels <= CountValueTable.MaxInChannels;
        float[]? rentedValues = byValues ? ArrayPool<float>.Shared.Rent(batch * channels * CountValueTable.TableFloats) : null;
        try
        {
            fixed (byte* pinnedTables = rentedTables)
            fixed (float* pinnedValues = rentedValues)
            {
                byte* tables = pinnedTables; // fixed locals cannot be captured by the lambda
                float* valueTables = pinnedValues;
                if (byTables) BuildTables(tables, normScale, normShift, batch, channels, packed is not null, second is not null);
                if (byValues) BuildValueTables(valueTables, normScale, normShift, batch, channels);
                runner(batch * tasks, task =>
                {
                    int n = task / tasks, iy0 = task % tasks * rowsPerTask, iy1 = Math.Min(height, iy0 + rowsPerTask);
                    // Where the tables leave the sparse conv's active runs to the glue's arithmetic: the stretches of
                    // the task's mask row, which all its rows share.
                    Span<int> runs = maskWidth <= 512 ? stackalloc int[2 * Math.Max(1, maskWidth)] : new int[2 * maskWidth];
                    int stretches = (byTables || byValues) && maskWidth > 0
                        ? MaskGeometry.Stretches(runs, MaskGeometry.ActiveRuns(sparse.Mask, maskHeight, maskWidth, _sparse!.MaskScale, n, iy0, width, runs), StretchGap)
                        : 0;
                    bool tablesPay = TablesPay(runs, stretches, width);
                    for (int iy = iy0; iy < iy1; iy++)
                        if (byTables && tablesPay) RowByTables(n, iy, tables, iy > iy0, runs[..(2 * stretches)]);
                        else Row(n, iy, iy > iy0, tablesPay ? valueTables : null, runs[..(2 * stretches)]);
                });
            }
        }
        finally
        {
            if (rentedTables is not null) ArrayPool<byte>.Shared.Return(rentedTables);
            if (rentedValues is not null) ArrayPool<float>.Shared.Return(rentedValues);
        }

        // Row iy of image n by the count tables (τ's at tables + (n·C + c)·64, the second τ's C·N tables on): every pixel's
        // words looked up, then the stretches of the folded sparse conv's active runs (pairs [start, end) in stretches)
        // computed by the glue's arithmetic and packed again over them.
        void RowByTables(int n, int iy, byte* tables, bool zerosKept, Span<int> stretches)
        {
            long row = (long)n * height + iy;
            int runCount = stretches.Length / 2;
            // The sparse conv's rows first: its counts go through the thread's scratch, where the 1×1's then go.
            float* addendRows = null;
            if (runCount > 0)
            {
                addendRows = ThreadScratch.AddendRows(channels * width);
                _sparse!.Row(sparse.Layer, sparse.Packed, sparse.Mask, n, iy, addendRows, width, zerosKept);
            }
            int* counts = _pointwise!.RowCounts(xPacked + row * width, width);
            int stride = FoldedPointwiseConv.RowCountsStride(width);
            ulong* packedRow = packed is null ? null : packed + row * width, secondRow = second is null ? null : second + row * width;
            byte* first = tables + (long)n * channels * CountBitTable.TableBytes, other = first + (long)batch * channels * CountBitTable.TableBytes;
            int cin = _pointwise.InChannels;
            if (packedRow is not null) CountBitTable.Row(counts, stride, channels, cin, first, secondRow is null ? null : other, 0, width, packedRow, secondRow);
            else CountBitTable.Row(counts, stride, channels, cin, other, null, 0, width, secondRow, null);
            if (runCount == 0) return;
            float* outRows = ThreadScratch.OutputRows(channels * width);
            for (int r = 0; r < runCount; r++)
            {
                int x0 = stretches[2 * r], x1 = stretches[2 * r + 1];
                for (int c = 0; c < channels; c++)
                {
                    long offset = ((long)n * channels + c) * plane + (long)iy * width + x0;
                    PlaneFromCounts(n * channels + c, offset, x1 - x0, counts + (long)c * stride + x0, addendRows + (long)c * width + x0, outRows + (long)c * width + x0);
                }
                PackedHandOff.PackRowsTwice(outRows, _tauNext, _tauSecond, channels, height, width, n, iy, packed, second, x0, x1);
            }
        }

        // valueTables: CountValueTable's tables (n·C + c)·32 on, or null; stretches: where they leave the sparse conv's
        // active runs to the glue's arithmetic.
        void Row(int n, int iy, bool zerosKept, float* valueTables, Span<int> stretches)
        {
            long row = (long)n * height + iy;
            float* rows = null;
            int runCount = stretches.Length / 2;
            // The folded 1×1 conv's rows, where its counts do not go straight into the glue's pass (on AVX2, as
            // ShortcutRPReLU.ApplyFromCounts says, unless the value tables take them).
            bool fromCounts = src is null && (Vector512.IsHardwareAccelerated || valueTables is not null);
            if (src is null && !fromCounts)
            {
                rows = ThreadScratch.Rows(channels * width);
                _pointwise!.Rows(xPacked + (long)row * width, width, rows, width);
            }
            float* addendRows = null;
            if (sparse.Packed is not null)
            {
                addendRows = ThreadScratch.AddendRows(channels * width);
                _sparse!.Row(sparse.Layer, sparse.Packed, sparse.Mask, n, iy, addendRows, width, zerosKept);
            }
            float* outRows = y is null ? ThreadScratch.OutputRows(channels * width) : null;
            // With y_split and YRest unwritten, YRest's rows go to scratch, for its bits only.
            float* restRows = split > 0 && rest is null ? ThreadScratch.OutputRows((channels - split) * width) : null;
            // Where the rows go to Y: each channel's row two rows on fetched into L2 first (C rows a plane apart,
            // RowPrefetch), on the 512-bit paths: frames 0.994 and 1/1.013 (Zen 4); AVX2 frames 1.001.
            bool ahead = outRows is null && Vector512.IsHardwareAccelerated;
            // The folded 1×1 conv's counts for the row in one pass, its output formed in the glue's pass instead of
            // written as rows and read back (ShortcutRPReLU.ApplyFromCounts): frames 0.991–0.998 and 1/1.005–1/1.009 in
            // five runs (Zen 4, twenty-fourth session); the whole row at once rather than by the conv's L1-sized segments
            // (decode0's rows of 512 were two calls per channel), a further 0.995 and 1/1.004.
            int* counts = fromCounts ? _pointwise!.RowCounts(xPacked + (long)row * width, width) : null;
            int stride = FoldedPointwiseConv.RowCountsStride(width);
            for (int c = 0; c < channels; c++)
            {
                long offset = ((long)n * channels + c) * plane + (long)iy * width;
                bool toScratch = outRows is not null || restRows is not null && c >= split;
                float* to = outRows is not null ? outRows + (long)c * width
                    : toScratch ? restRows + (long)(c - split) * width : YChannel(n, c) + (long)iy * width;
                float* addendRow = addendRows is null ? null : addendRows + (long)c * width;
                if (ahead && !toScratch) RowPrefetch.Ahead(to, width);
                if (counts is not null && valueTables is not null)
                {
                    int* channelCounts = counts + (long)c * stride;
                    CountValueTable.Row(channelCounts, valueTables + ((long)n * channels + c) * CountValueTable.TableFloats, 0, width, to);
                    for (int r = 0; r < runCount; r++)
                    {
                        int x0 = stretches[2 * r], x1 = stretches[2 * r + 1];
                        PlaneFromCounts(n * channels + c, offset + x0, x1 - x0, channelCounts + x0, addendRow + x0, to + x0);
                    }
                }
                else if (counts is not null) PlaneFromCounts(n * channels + c, offset, width, counts + (long)c * stride, addendRow, to);
                else Plane(n * channels + c, offset, width, src is null ? rows + (long)c * width : src + offset, addendRow, to);
            }
            if (outRows is not null)
            {
                PackedHandOff.PackRowsTwice(outRows, _tauNext, _tauSecond, channels, height, width, n, iy, packed, second);
                Project(outRows, width, n, iy);
                return;
            }
            if (restRows is not null)
            {
                PackedHandOff.PackRowsTwice(restRows, _tauNext, _tauSecond, channels - split, height, width, n, iy, packed, second);
                return;
            }
            PackAndProject(n, iy);
        }

        // Row iy of image n of Y, just written: its packed bits (with y_split, YRest's) and its projection, where the node has them.
        void PackAndProject(int n, int iy)
        {
            if (split > 0)
            {
                PackedHandOff.PackRowTwice(rest, _tauNext, _tauSecond, channels - split, height, width, n, iy, packed, second);
                return;
            }
            PackedHandOff.PackRowTwice(y, _tauNext, _tauSecond, channels, height, width, n, iy, packed, second);
            Project(y + (long)n * channels * plane + (long)iy * width, plane, n, iy);
        }

        // Row iy of image n projected, where the node has a projection, from the row of channel 0 at rows (channel c's
        // at + c·channelStride: Y's plane, or scratch rows of the width).
        void Project(float* rows, long channelStride, int n, int iy)
        {
            if (_projection is { } projection)
                fixed (float* weights = projection.Weights, bias = projection.Bias)
                    ChannelProjection.Row(rows, channels, width, channelStride, weights, bias, projection.Outputs,
                        projected + (long)n * projection.Outputs * plane + (long)iy * width, plane, lanes);
        }
    }

    /// <summary>
    /// The count tables of <see cref="CountBitTable"/> for every image and channel, against τ (where
    /// <paramref name="first"/>) at <paramref name="tables"/> + (n·C + c)·64 and against the second τ (where
    /// <paramref name="second"/>) N·C tables further: each popcount's value by the glue's own scalar operations
    /// (<see cref="ShortcutRPReLU.OneFromCount"/>, with the addend's zero where a folded sparse conv adds one), so each
    /// table bit is the bit the glue's vector loop and the packer give that value.
    /// </summary>
    private void BuildTables(byte* tables, float* normScale, float* normShift, int batch, int channels, bool first, bool second)
    {
        int cin = _pointwise!.InChannels;
        Span<float> values = stackalloc float[cin + 1];
        for (int n = 0; n < batch; n++)
            for (int c = 0; c < channels; c++)
            {
                int i = n * channels + c;
                for (int count = 0; count <= cin; count++) values[count] = CountValue(count, c, i, normScale, normShift);
                if (first) CountBitTable.Build(values, cin, _tauNext![c], c, tables + (long)i * CountBitTable.TableBytes);
                if (second) CountBitTable.Build(values, cin, _tauSecond![c], c, tables + ((long)batch * channels + i) * CountBitTable.TableBytes);
            }
    }

    /// <summary>
    /// The value tables of <see cref="CountValueTable"/> for every image and channel at <paramref name="tables"/> + (n·C + c)·32:
    /// each popcount's value by the glue's own scalar operations (<see cref="ShortcutRPReLU.OneFromCount"/>, with the
    /// addend's zero where a folded sparse conv adds one), the entries past Cin zero (never looked up).
    /// </summary>
    private void BuildValueTables(float* tables, float* normScale, float* normShift, int batch, int channels)
    {
        int cin = _pointwise!.InChannels;
        for (int n = 0; n < batch; n++)
            for (int c = 0; c < channels; c++)
            {
                int i = n * channels + c;
                float* table = tables + (long)i * CountValueTable.TableFloats;
                new Span<float>(table, CountValueTable.TableFloats).Clear();
                for (int count = 0; count <= cin; count++) table[count] = CountValue(count, c, i, normScale, normShift);
            }
    }

    /// <summary>
    /// Channel c's value (plane i = n·C + c) where the folded 1×1 conv's popcount is <paramref name="count"/> and nothing
    /// is added (a folded sparse conv's zero off its runs): the glue's own scalar operations, the same value as its vector loop.
    /// </summary>
    private float CountValue(int count, int c, int i, float* normScale, float* normShift) =>
        ShortcutRPReLU.OneFromCount(count, _pointwise!.InChannels, _pointwise.Alpha(c), _pointwise.Bias(c), normScale is not null,
            normScale is null ? 1f : normScale[i], normShift is null ? 0f : normShift[i], _sparse is not null, 0f, _scale, _shiftIn[c], _slope[c], _shiftOut[c]);

    /// <summary>Where the glue writes: Y (null where its output is the empty name), YPacked, YPackedSecond, Projected, YRest (each null where absent).</summary>
    private readonly struct GlueOutputs(float* y, ulong* packed, ulong* second, float* projected, float* rest)
    {
        public float* Y { get; } = y;
        public ulong* Packed { get; } = packed;
        public ulong* Second { get; } = second;
        public float* Projected { get; } = projected;
        /// <summary>Y's channels from y_split on, or null without it.</summary>
        public float* Rest { get; } = rest;
    }

    /// <summary>A folded sparse conv's call: its layer at this size, its packed input and the mask (Packed null: none).</summary>
    private readonly struct SparseRows(BinaryConv2dParams layer, ulong* packed, byte* mask)
    {
        public BinaryConv2dParams Layer { get; } = layer;
        public ulong* Packed { get; } = packed;
        public byte* Mask { get; } = mask;
    }

    /// <summary>The Addend's channel count under the channel map: C, C / addend_repeat or 2·C.</summary>
    private long AddendChannels => (long)_shiftIn.Length / _addendRepeat * _addendChunks;

    private string MapText => _addendRepeat > 1 ? $", {BinaryConvSchema.ActivationAddendRepeat} = {_addendRepeat}"
        : _addendChunks > 1 ? $", {BinaryConvSchema.ActivationAddendChunks} = {_addendChunks}" : "";

    public void Dispose()
    {
        _pointwise?.Dispose();
        _sparse?.Dispose();
    }
}
