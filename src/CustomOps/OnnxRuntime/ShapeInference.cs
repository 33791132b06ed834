using BiVM.Contracts;
using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.Pooling;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// InferOutputShapeFn: Y is float32 [N, Cout, H_out, W_out]. Known sizes are computed; a symbolic N is copied, and
/// a symbolic H or W is copied when the conv preserves size (stride 1, total padding = dilation·(k − 1)), otherwise
/// named after the formula so equal dims still unify. Every output thus declares its shape (ML.NET needs it).
/// </summary>
internal static class ShapeInference
{
    public static void Infer(BiVMOpDefinition op, nint context)
    {
        if (op.IsGuidedUpsample)
        {
            InferGuidedUpsample(context);
            return;
        }
        if (op.IsGuidedStatistics)
        {
            InferGuidedStatistics(context);
            return;
        }
        if (op.IsActivation || op.IsShortcutSum)
        {
            InferElementwise(context, op.IsActivation);
            return;
        }
        if (op.IsUpsampleConcat)
        {
            InferUpsampleConcat(context);
            return;
        }
        if (op.IsGruStateConcat || op.IsGruGates || op.IsGruUpdate || op.IsConvGru)
        {
            InferGru(op, context);
            return;
        }
        if (op.IsAveragePool)
        {
            InferAveragePool(context);
            return;
        }
        if (op.IsStem)
        {
            InferStem(context);
            return;
        }
        if (op.IsChannelMean)
        {
            InferChannelMean(context);
            return;
        }
        int inputs = OrtApi.ShapeInferInputCount(context);
        if (inputs < 4) throw new OpValidationException($"needs at least 4 inputs (X, W, alpha, tau), got {inputs}");
        long[] xDims;
        string[] xNames;
        if (Typed(context, BinaryConvSchema.InputX) is { } xInfo)
        {
            var xType = OrtApi.GetElementType(xInfo);
            if (xType != OrtElementType.Float) throw new OpValidationException($"X must be float32, got {OrtTensorView.TypeText(xType)}");
            xDims = OrtApi.GetDimensions(xInfo);
            if (xDims.Length != 4) throw new OpValidationException($"X must have rank 4 [N, C, H, W], got rank {xDims.Length}");
            xNames = OrtApi.GetSymbolicDimensions(xInfo, 4);
        }
        else if (Typed(context, BinaryConvSchema.InputXPacked) is { } packedInfo && OrtApi.GetDimensions(packedInfo) is { Length: 4 } packed
            && Typed(context, BinaryConvSchema.InputTau) is { } tauInfo && OrtApi.GetDimensions(tauInfo) is [var cin])
        {
            // No X (the dense conv of a producer that writes only bits): N, H, W from XPacked [N, H, W, words], Cin from tau.
            var symbols = OrtApi.GetSymbolicDimensions(packedInfo, 4);
            xDims = [packed[0], cin, packed[1], packed[2]];
            xNames = [symbols[0], "", symbols[1], symbols[2]];
        }
        else throw new OpValidationException("X is the empty name and there is no XPacked to take the shape from");

        nint wInfo = OrtApi.ShapeInferInputTypeShape(context, BinaryConvSchema.InputW);
        var wType = OrtApi.GetElementType(wInfo);
        var wDims = OrtApi.GetDimensions(wInfo);
        if (wType != OrtElementType.UInt64 || wDims.Length != 4 || wDims.Any(d => d <= 0))
            throw new OpValidationException($"W must be the packed uint64 tensor [Cout, kH, kW, words], got {OrtTensorView.TypeText(wType)} {OrtTensorView.ShapeText(wDims)}");
        int cout = (int)wDims[0], kh = (int)wDims[1], kw = (int)wDims[2];
        if (xDims[1] > 0 && PackedLayout.WordsFor((int)xDims[1]) != wDims[3])
            throw new OpValidationException($"channel mismatch: X has {xDims[1]} channels ({PackedLayout.WordsFor((int)xDims[1])} packed words) but W {OrtTensorView.ShapeText(wDims)} has {wDims[3]} words per tap");

        var layer = ConvAttributes.FromShapeInference(context).ToLayer(xDims[1] > 0 ? (int)xDims[1] : 1, cout, kh, kw, op.IsSparse);
        var (h, hName) = OutputDim(xDims[2], xNames[2], layer.KernelHeight, layer.StrideHeight, layer.DilationHeight, layer.PadTop + layer.PadBottom);
        var (w, wName) = OutputDim(xDims[3], xNames[3], layer.KernelWidth, layer.StrideWidth, layer.DilationWidth, layer.PadLeft + layer.PadRight);
        if (xDims[2] > 0 && h <= 0 || xDims[3] > 0 && w <= 0)
            throw new OpValidationException($"input {xDims[2]}×{xDims[3]} is smaller than the dilated kernel plus padding");

        nint outInfo = OrtApi.CreateTensorTypeAndShapeInfo(OrtElementType.Float,
            [xDims[0], cout, h, w], [xDims[0] > 0 ? "" : Named(xNames[0]), "", Named(hName, h), Named(wName, w)]);
        try { OrtApi.ShapeInferSetOutput(context, 0, outInfo); }
        finally { OrtApi.ReleaseTensorTypeAndShapeInfo(outInfo); }
    }

    /// <summary>An input's type and shape, or null where it is absent (the empty name, or a type without an element type).</summary>
    private static nint? Typed(nint context, int index)
    {
        if (OrtApi.ShapeInferInputCount(context) <= index) return null;
        try { return OrtApi.ShapeInferInputTypeShape(context, index) is var info && info != 0 && OrtApi.GetElementType(info) != OrtElementType.Undefined ? info : null; }
        catch (OrtStatusException) { return null; }
    }

    /// <summary>
    /// ShortcutRPReLU and ShortcutSum: Y has X's (input 0's) type and shape, symbolic names included, except that a
    /// ShortcutRPReLU with a folded 1×1 binary conv has PointwiseW's C [C, 1, 1, 1] in place of X's Cin; its Projected
    /// output has the shape with Projection's K [K, C, 1, 1] in place of C.
    /// </summary>
    private static void InferElementwise(nint context, bool activation)
    {
        long[] dims;
        string[] names;
        if (Typed(context, BinaryConvSchema.ActivationX) is { } xInfo)
        {
            var xType = OrtApi.GetElementType(xInfo);
            if (xType != OrtElementType.Float) throw new OpValidationException($"X must be float32, got {OrtTensorView.TypeText(xType)}");
            dims = OrtApi.GetDimensions(xInfo);
            names = OrtApi.GetSymbolicDimensions(xInfo, dims.Length).Select((n, i) => dims[i] > 0 ? "" : Named(n)).ToArray();
        }
        else if (activation && Typed(context, BinaryConvSchema.ActivationPointwiseXPacked) is { } packedInfo && OrtApi.GetDimensions(packedInfo) is { Length: 4 } packed)
        {
            // No X (a folded 1×1 conv's glue reading only bits): N, H, W from PointwiseXPacked [N, H, W, 1].
            var symbols = OrtApi.GetSymbolicDimensions(packedInfo, 4);
            dims = [packed[0], -1, packed[1], packed[2]];
            names = [packed[0] > 0 ? "" : Named(symbols[0]), "", packed[1] > 0 ? "" : Named(symbols[1]), packed[2] > 0 ? "" : Named(symbols[2])];
        }
        else throw new OpValidationException("X is the empty name and there is no PointwiseXPacked to take the shape from");
        if (activation && dims.Length == 4 && Leading(BinaryConvSchema.ActivationPointwiseW) is { } c)
        {
            dims[1] = c;
            names[1] = "";
        }
        if (activation && dims.Length == 4 && OrtApi.ShapeInferAttributeInt(context, BinaryConvSchema.ActivationYSplit) is { } split)
        {
            // Y in two: channels [0, s) and [s, C) (C unknown: the rest's count too).
            SetFloat(context, BinaryConvSchema.ActivationOutput, [dims[0], split, dims[2], dims[3]], [names[0], "", names[2], names[3]]);
            SetFloat(context, BinaryConvSchema.ActivationRestOutput, [dims[0], dims[1] > 0 ? dims[1] - split : -1, dims[2], dims[3]], [names[0], "", names[2], names[3]]);
        }
        else SetFloat(context, BinaryConvSchema.ActivationOutput, dims, names);
        if (activation)
        {
            SetPacked(context, BinaryConvSchema.ActivationPackedOutput, dims, names);
            SetPacked(context, BinaryConvSchema.ActivationSecondPackedOutput, dims, names);
        }
        if (!activation || dims.Length != 4 || Leading(BinaryConvSchema.ActivationProjection) is not { } k) return;
        SetFloat(context, BinaryConvSchema.ActivationProjectedOutput, [dims[0], k, dims[2], dims[3]], [names[0], "", names[2], names[3]]);

        // The first dimension of an optional constant input, or null where it is absent (the empty name has no type).
        long? Leading(int index)
        {
            if (OrtApi.ShapeInferInputCount(context) <= index) return null;
            nint info;
            try { info = OrtApi.ShapeInferInputTypeShape(context, index); }
            catch (OrtStatusException) { return null; }
            return info != 0 && OrtApi.GetDimensions(info) is [> 0 and var first, ..] ? first : null;
        }
    }

    /// <summary>GuidedStatistics: Stats [N, 8 + C, h, w] with Hidden's C, MeanX and MeanY [N, 4, h, w], with X's N, h, w (symbolic names included).</summary>
    private static void InferGuidedStatistics(nint context)
    {
        nint xInfo = OrtApi.ShapeInferInputTypeShape(context, BinaryConvSchema.StatisticsX);
        var dims = OrtApi.GetDimensions(xInfo);
        if (dims.Length != 4) throw new OpValidationException($"X must have rank 4 [N, 3, h, w], got rank {dims.Length}");
        var names = OrtApi.GetSymbolicDimensions(xInfo, 4).Select((n, i) => dims[i] > 0 ? "" : Named(n)).ToArray();
        // Hidden may be the empty name (with HiddenPacked; Stats is then the empty name too, and its shape moot).
        long[] hidden = Typed(context, BinaryConvSchema.StatisticsHidden) is { } hiddenInfo ? OrtApi.GetDimensions(hiddenInfo) : [];
        long stats = hidden.Length == 4 && hidden[1] > 0 ? 8 + hidden[1] : -1;
        SetFloat(context, BinaryConvSchema.StatisticsStats, [dims[0], stats, dims[2], dims[3]], [names[0], "", names[2], names[3]]);
        SetFloat(context, BinaryConvSchema.StatisticsMeanX, [dims[0], 4, dims[2], dims[3]], [names[0], "", names[2], names[3]]);
        SetFloat(context, BinaryConvSchema.StatisticsMeanY, [dims[0], 4, dims[2], dims[3]], [names[0], "", names[2], names[3]]);
    }

    /// <summary>Declares output <paramref name="index"/> float32 with <paramref name="shape"/> (symbolic names where a dim is unknown).</summary>
    private static void SetFloat(nint context, int index, long[] shape, string[] symbols)
    {
        nint outInfo = OrtApi.CreateTensorTypeAndShapeInfo(OrtElementType.Float, shape, symbols);
        try { OrtApi.ShapeInferSetOutput(context, index, outInfo); }
        finally { OrtApi.ReleaseTensorTypeAndShapeInfo(outInfo); }
    }

    /// <summary>GuidedUpsample: Fgr [N, 3, H, W] and Pha [N, 1, H, W] with Src's N, H, W (symbolic names included).</summary>
    private static void InferGuidedUpsample(nint context)
    {
        nint srcInfo = OrtApi.ShapeInferInputTypeShape(context, BinaryConvSchema.GuidedSource);
        var dims = OrtApi.GetDimensions(srcInfo);
        if (dims.Length != 4) throw new OpValidationException($"Src must have rank 4 [N, 3, H, W], got rank {dims.Length}");
        var names = OrtApi.GetSymbolicDimensions(srcInfo, 4).Select((n, i) => dims[i] > 0 ? "" : Named(n)).ToArray();
        foreach (var (index, channels) in new[] { (BinaryConvSchema.GuidedFgr, 3L), (BinaryConvSchema.GuidedPha, 1L) })
        {
            nint outInfo = OrtApi.CreateTensorTypeAndShapeInfo(OrtElementType.Float, [dims[0], channels, dims[2], dims[3]], [names[0], "", names[2], names[3]]);
            try { OrtApi.ShapeInferSetOutput(context, index, outInfo); }
            finally { OrtApi.ReleaseTensorTypeAndShapeInfo(outInfo); }
        }
    }

    /// <summary>
    /// Upsample2xConcat: [N, ΣC, H, W] with N of input 0 and H, W of the first copied input (symbolic names kept); ΣC
    /// only when every channel count is known. Checks are repeated in the kernel (ORT discards this status).
    /// </summary>
    private static void InferUpsampleConcat(nint context)
    {
        int inputs = OrtApi.ShapeInferInputCount(context);
        // With second_mask_scale the last input is the second packed output's mask, not a channel source.
        if ((OrtApi.ShapeInferAttributeInt(context, BinaryConvSchema.SecondMaskScale) ?? 0) != 0) inputs--;
        int upsampled = (int)(OrtApi.ShapeInferAttributeInt(context, BinaryConvSchema.UpsampledInputs) ?? 1);
        if (upsampled < 1 || upsampled >= inputs) throw new OpValidationException($"attribute {BinaryConvSchema.UpsampledInputs} = {upsampled} with {inputs} inputs");
        long channels = 0;
        long[] first = [], copied = [];
        string[] firstNames = [], copiedNames = [];
        for (int i = 0; i < inputs; i++)
        {
            nint info = OrtApi.ShapeInferInputTypeShape(context, i);
            var type = OrtApi.GetElementType(info);
            if (type != OrtElementType.Float) throw new OpValidationException($"input {i} must be float32, got {OrtTensorView.TypeText(type)}");
            var dims = OrtApi.GetDimensions(info);
            if (dims.Length != 4) throw new OpValidationException($"input {i} must have rank 4 [N, C, H, W], got rank {dims.Length}");
            channels = channels < 0 || dims[1] < 0 ? -1 : channels + dims[1];
            if (i == 0) (first, firstNames) = (dims, OrtApi.GetSymbolicDimensions(info, 4));
            if (i == upsampled) (copied, copiedNames) = (dims, OrtApi.GetSymbolicDimensions(info, 4));
        }
        long[] outDims = [first[0], channels, copied[2], copied[3]];
        string[] names = [firstNames[0], "", copiedNames[2], copiedNames[3]];
        var outNames = names.Select((n, i) => outDims[i] > 0 ? "" : Named(n)).ToArray();
        nint outInfo = OrtApi.CreateTensorTypeAndShapeInfo(OrtElementType.Float, outDims, outNames);
        try { OrtApi.ShapeInferSetOutput(context, 0, outInfo); }
        finally { OrtApi.ReleaseTensorTypeAndShapeInfo(outInfo); }
        SetPacked(context, BinaryConvSchema.PackedOutput, outDims, outNames);
        SetPacked(context, BinaryConvSchema.SecondPackedOutput, outDims, outNames);
    }

    /// <summary>
    /// Declares packed output <paramref name="index"/> uint64 [N, H, W, words] for a Y of <paramref name="y"/> = [N, C, H, W]
    /// (words unknown where C is), where the node has that output: a binary conv that reads the bits without the float
    /// tensor takes its shape from them. The context cannot say how many outputs the node has, and ONNX refuses an index
    /// past the last one.
    /// </summary>
    private static void SetPacked(nint context, int index, long[] y, string[] names)
    {
        if (y.Length != 4) return;
        long words = y[1] > 0 && y[1] <= int.MaxValue ? BiVM.CustomOps.BitPacking.PackedLayout.WordsFor((int)y[1]) : -1;
        nint info = OrtApi.CreateTensorTypeAndShapeInfo(OrtElementType.UInt64, [y[0], y[2], y[3], words], [names[0], names[2], names[3], ""]);
        try { OrtApi.ShapeInferSetOutput(context, index, info); }
        catch (OrtStatusException) { }
        finally { OrtApi.ReleaseTensorTypeAndShapeInfo(info); }
    }

    /// <summary>
    /// The ConvGRU ops: GruUpdate's H' has Candidate's shape, ConvGru's X's; GruGates' Z has X's shape and its Y, like
    /// GruStateConcat's, X's with 2C channels (unknown where C is). Symbolic names kept.
    /// </summary>
    private static void InferGru(BiVMOpDefinition op, nint context)
    {
        if (op.IsConvGru && Typed(context, BinaryConvSchema.GruX) is null)
        {
            // No X (a ConvGru reading X's bits only): [N, C, H, W] from XPackedIh [N, H, W, words] and HhAlpha [C].
            if (Typed(context, BinaryConvSchema.ConvGruXPackedIh) is not { } packedInfo || OrtApi.GetDimensions(packedInfo) is not { Length: 4 } packed)
                throw new OpValidationException("X is the empty name and there is no XPackedIh to take the shape from");
            var symbols = OrtApi.GetSymbolicDimensions(packedInfo, 4);
            long channels = Typed(context, BinaryConvSchema.ConvGruHhAlpha) is { } alphaInfo && OrtApi.GetDimensions(alphaInfo) is [var c] ? c : -1;
            long[] shape = [packed[0], channels, packed[1], packed[2]];
            string[] shapeNames = [packed[0] > 0 ? "" : Named(symbols[0]), channels > 0 ? "" : Named(""), packed[1] > 0 ? "" : Named(symbols[1]), packed[2] > 0 ? "" : Named(symbols[2])];
            nint stateInfo = OrtApi.CreateTensorTypeAndShapeInfo(OrtElementType.Float, shape, shapeNames);
            try { OrtApi.ShapeInferSetOutput(context, 0, stateInfo); }
            finally { OrtApi.ReleaseTensorTypeAndShapeInfo(stateInfo); }
            return;
        }
        nint info = OrtApi.ShapeInferInputTypeShape(context, op.IsGruUpdate ? BinaryConvSchema.GruUpdateCandidate : BinaryConvSchema.GruX);
        var type = OrtApi.GetElementType(info);
        if (type != OrtElementType.Float) throw new OpValidationException($"{(op.IsGruUpdate ? "Candidate" : "X")} must be float32, got {OrtTensorView.TypeText(type)}");
        var dims = OrtApi.GetDimensions(info);
        if (dims.Length != 4) throw new OpValidationException($"{(op.IsGruUpdate ? "Candidate" : "X")} must have rank 4 [N, C, H, W], got rank {dims.Length}");
        var names = OrtApi.GetSymbolicDimensions(info, 4);
        void Set(int index, long[] shape, bool doubledChannels)
        {
            nint outInfo = OrtApi.CreateTensorTypeAndShapeInfo(OrtElementType.Float, shape, names.Select((n, i) => shape[i] > 0 ? "" : Named(i == 1 && doubledChannels ? "" : n)).ToArray());
            try { OrtApi.ShapeInferSetOutput(context, index, outInfo); }
            finally { OrtApi.ReleaseTensorTypeAndShapeInfo(outInfo); }
        }
        long[] doubled = [dims[0], dims[1] > 0 ? 2 * dims[1] : -1, dims[2], dims[3]];
        if (op.IsGruStateConcat) Set(0, doubled, true);
        else if (op.IsGruUpdate || op.IsConvGru) Set(0, dims, false);
        else
        {
            Set(BinaryConvSchema.GruGatesZ, dims, false);
            Set(BinaryConvSchema.GruGatesY, doubled, true);
        }
    }

    /// <summary>
    /// AveragePool2x: Y [N, C, H', W'] with H' = ⌊H/2⌋, or ⌈H/2⌉ with ceil_mode (likewise W'); a symbolic H or W gives
    /// a dim named after the formula, so that equal dims still unify.
    /// </summary>
    private static void InferAveragePool(nint context)
    {
        nint info = OrtApi.ShapeInferInputTypeShape(context, 0);
        var type = OrtApi.GetElementType(info);
        if (type != OrtElementType.Float) throw new OpValidationException($"X must be float32, got {OrtTensorView.TypeText(type)}");
        var dims = OrtApi.GetDimensions(info);
        if (dims.Length != 4) throw new OpValidationException($"X must have rank 4 [N, C, H, W], got rank {dims.Length}");
        var names = OrtApi.GetSymbolicDimensions(info, 4);
        bool ceil = OrtApi.ShapeInferAttributeInt(context, BinaryConvSchema.PoolCeilMode) == 1;
        long[] shape = [dims[0], dims[1], Half(dims[2]), Half(dims[3])];
        string[] outNames = [Named(names[0], dims[0]), Named(names[1], dims[1]), HalfName(names[2], dims[2]), HalfName(names[3], dims[3])];
        nint outInfo = OrtApi.CreateTensorTypeAndShapeInfo(OrtElementType.Float, shape, outNames);
        try { OrtApi.ShapeInferSetOutput(context, 0, outInfo); }
        finally { OrtApi.ReleaseTensorTypeAndShapeInfo(outInfo); }
        long Half(long size) => size > 0 ? AveragePool2x.OutputLength(size, ceil) : -1;
        string HalfName(string name, long size) => size > 0 ? "" : Named(name.Length == 0 ? "" : ceil ? $"ceil({name}/2)" : $"floor({name}/2)");
    }

    /// <summary>ChannelMean: Y [N, C, 1, …, 1], X's rank (3 or more), N and C copied.</summary>
    private static void InferChannelMean(nint context)
    {
        nint info = OrtApi.ShapeInferInputTypeShape(context, 0);
        var type = OrtApi.GetElementType(info);
        if (type != OrtElementType.Float) throw new OpValidationException($"X must be float32, got {OrtTensorView.TypeText(type)}");
        var dims = OrtApi.GetDimensions(info);
        if (dims.Length < 3) throw new OpValidationException($"X must have rank 3 or more [N, C, D1, …], got rank {dims.Length}");
        var names = OrtApi.GetSymbolicDimensions(info, dims.Length);
        var shape = new long[dims.Length];
        var outNames = new string[dims.Length];
        for (int d = 0; d < dims.Length; d++)
        {
            shape[d] = d < 2 ? dims[d] : 1;
            outNames[d] = d < 2 ? Named(names[d], dims[d]) : "";
        }
        nint outInfo = OrtApi.CreateTensorTypeAndShapeInfo(OrtElementType.Float, shape, outNames);
        try { OrtApi.ShapeInferSetOutput(context, 0, outInfo); }
        finally { OrtApi.ReleaseTensorTypeAndShapeInfo(outInfo); }
    }

    /// <summary>
    /// Stem: Y [N, C, H', W'] with C from W [C, Cin, 3, 3] and H' = ⌈H/2⌉ (the 3×3 stride-2 conv with pads 1), YPacked
    /// [N, H', W', words], Pooled [N, C, H'', W''] (H' halved as AveragePool2x's, with ceil_mode), XPooled [N, Cin, H/2, W/2]
    /// (X's sides halved likewise, with input_ceil_mode); symbolic names become
    /// formulas, so that equal dims still unify. Outputs the node does not have are skipped (as <see cref="SetPacked"/>).
    /// </summary>
    private static void InferStem(nint context)
    {
        nint xInfo = OrtApi.ShapeInferInputTypeShape(context, BinaryConvSchema.StemX);
        var type = OrtApi.GetElementType(xInfo);
        if (type != OrtElementType.Float) throw new OpValidationException($"X must be float32, got {OrtTensorView.TypeText(type)}");
        var dims = OrtApi.GetDimensions(xInfo);
        if (dims.Length != 4) throw new OpValidationException($"X must have rank 4 [N, Cin, H, W], got rank {dims.Length}");
        var names = OrtApi.GetSymbolicDimensions(xInfo, 4);
        var w = OrtApi.GetDimensions(OrtApi.ShapeInferInputTypeShape(context, BinaryConvSchema.StemW));
        long channels = w.Length == 4 && w[0] > 0 ? w[0] : -1;
        var (height, heightName) = OutputDim(dims[2], names[2], 3, 2, 1, 2);
        var (width, widthName) = OutputDim(dims[3], names[3], 3, 2, 1, 2);
        long[] y = [dims[0], channels, height, width];
        string[] yNames = [Named(names[0], dims[0]), channels > 0 ? "" : Named(""), height > 0 ? "" : Named(heightName), width > 0 ? "" : Named(widthName)];
        Optional(BinaryConvSchema.StemY, OrtElementType.Float, y, yNames);
        SetPacked(context, BinaryConvSchema.StemPacked, y, yNames);
        bool ceil = OrtApi.ShapeInferAttributeInt(context, BinaryConvSchema.PoolCeilMode) == 1;
        long Half(long size) => size > 0 ? AveragePool2x.OutputLength(size, ceil) : -1;
        string HalfName(string name, long size) => size > 0 ? "" : Named(ceil ? $"ceil({name}/2)" : $"floor({name}/2)");
        Optional(BinaryConvSchema.StemPooled, OrtElementType.Float, [y[0], y[1], Half(height), Half(width)], [yNames[0], yNames[1], HalfName(yNames[2], height), HalfName(yNames[3], width)]);
        bool inputCeil = OrtApi.ShapeInferAttributeInt(context, BinaryConvSchema.StemInputCeilMode) == 1;
        long InputHalf(long size) => size > 0 ? AveragePool2x.OutputLength(size, inputCeil) : -1;
        string InputHalfName(string name, long size) => size > 0 ? "" : Named(inputCeil ? $"ceil({name}/2)" : $"floor({name}/2)");
        Optional(BinaryConvSchema.StemXPooled, OrtElementType.Float, [dims[0], dims[1], InputHalf(dims[2]), InputHalf(dims[3])],
            [Named(names[0], dims[0]), Named(names[1], dims[1]), InputHalfName(Named(names[2], dims[2]), dims[2]), InputHalfName(Named(names[3], dims[3]), dims[3])]);

        void Optional(int index, OrtElementType element, long[] shape, string[] symbols)
        {
            nint info = OrtApi.CreateTensorTypeAndShapeInfo(element, shape, symbols);
            try { OrtApi.ShapeInferSetOutput(context, index, info); }
            catch (OrtStatusException) { }
            finally { OrtApi.ReleaseTensorTypeAndShapeInfo(info); }
        }
    }

    private static long s_unknown;

    /// <summary>
    /// ORT turns an output dim given as -1 with no name into dim_value = -1, a "known" size that every other such
    /// dim then equals, and its memory planner reuses buffers across unrelated tensors (seen with exported networks,
    /// whose sizes are unknown after a Resize by the runtime factor). An unknown dim therefore gets a fresh name.
    /// </summary>
    private static string Named(string name, long size = -1) =>
        size > 0 || name.Length > 0 ? name : $"bivm_unk_{Interlocked.Increment(ref s_unknown)}";

    internal static (long Size, string Name) OutputDim(long size, string name, int k, int stride, int dilation, int padTotal)
    {
        if (size > 0) return ((size + padTotal - dilation * (k - 1) - 1) / stride + 1, "");
        if (name.Length == 0) return (-1, "");
        if (stride == 1 && padTotal == dilation * (k - 1)) return (-1, name);
        int offset = padTotal - dilation * (k - 1) - 1;
        return (-1, $"floor(({name}{(offset < 0 ? "-" : "+")}{Math.Abs(offset)})/{stride})+1");
    }
}
