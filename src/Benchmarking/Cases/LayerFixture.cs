using BiVM.Contracts;
using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.BitPacking;
using BiVM.CustomOps.OnnxRuntime;
using BiVM.CustomOps.SparseBinaryConv2d;
using BiVM.Graph;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace BiVM.Benchmarking.Cases;

/// <summary>
/// Everything needed to time one layer at one thread count, allocated once: the ai.bivm op in an ORT session, the
/// raw kernel (<see cref="BinaryConvolution"/> without ORT), ORT's own FP32 Conv of the same shape
/// (ORT_ENABLE_ALL), and the sparse op with a fixed 10 % mask, alone and folded into a glue node (ShortcutRPReLU with
/// SparseX …, as SHB runs it) beside the same glue with no cell active. Inputs and outputs are preallocated OrtValues,
/// so a timed call is the op itself.
/// </summary>
public sealed unsafe class LayerFixture : IDisposable
{
    private readonly List<IDisposable> _owned = [];
    private readonly InferenceSession _custom, _fp32, _sparse;
    private readonly InferenceSession? _folded, _foldedPacked;
    private readonly OrtValue _x, _yCustom, _yFp32, _ySparse, _mask;
    private readonly OrtValue[] _customInputs, _sparseInputs;
    private readonly OrtValue[]? _foldedInputs, _foldedIdleInputs, _foldedPackedInputs, _foldedPackedIdleInputs;
    private readonly OrtValue? _yFolded;
    private readonly RunOptions _run = new();
    private readonly BinaryConvolution _raw;
    private readonly SparseBinaryConvolution _rawSparse;
    private readonly float[] _xData, _yRaw;
    private readonly ulong[] _packedScratch, _patchScratch;
    private readonly byte[] _maskData;
    private readonly ParallelRunner _runner;

    public LayerFixture(LayerCase layer, int threads, string? kernel = null)
    {
        Layer = layer;
        Threads = threads;
        var p = layer.P;
        var rng = new Random(1234);
        float[] Random(int n, float scale) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray();
        _xData = Random(p.InChannels * p.InHeight * p.InWidth, 1f);
        var latent = Random(p.OutChannels * p.InChannels * p.Taps, 1f);
        var alpha = Random(p.OutChannels, 0.5f);
        var tau = Random(p.InChannels, 0.1f);
        var bias = Random(p.OutChannels, 0.1f);
        var packed = WeightPacker.Pack(latent, p.OutChannels, p.InChannels, p.KernelHeight, p.KernelWidth);
        var packedShape = WeightPacker.PackedShape(p.OutChannels, p.InChannels, p.KernelHeight, p.KernelWidth);
        var attributes = new BinaryConvAttributes([p.KernelHeight, p.KernelWidth], [p.StrideHeight, p.StrideWidth],
            [p.PadTop, p.PadLeft, p.PadBottom, p.PadRight], [p.DilationHeight, p.DilationWidth]);
        long[] xShape = [1, p.InChannels, p.InHeight, p.InWidth];
        long[] yShape = [1, p.OutChannels, p.OutHeight, p.OutWidth];
        int maskScale = layer.MaskScale ?? LayerCase.DefaultMaskScale;
        var (mh, mw) = MaskGeometry.MaskSize(p.OutHeight, p.OutWidth, maskScale);
        _maskData = new byte[mh * mw];
        foreach (int i in Enumerable.Range(0, _maskData.Length).OrderBy(_ => rng.Next()).Take((int)Math.Round(_maskData.Length * LayerCase.SparseActiveFraction)))
            _maskData[i] = 1;
        ActiveFraction = _maskData.Count(b => b != 0) / (double)_maskData.Length;

        var custom = new OnnxGraphBuilder("bench_custom");
        custom.Input("X", TensorProto.Types.DataType.Float, 1, p.InChannels, p.InHeight, p.InWidth);
        BinaryConvNodes.AddCustom(custom, "bconv", "X", "Y", packed, packedShape, alpha, tau, bias, attributes);
        custom.Output("Y", TensorProto.Types.DataType.Float, 1, p.OutChannels, p.OutHeight, p.OutWidth);

        var sparse = new OnnxGraphBuilder("bench_sparse");
        sparse.Input("X", TensorProto.Types.DataType.Float, 1, p.InChannels, p.InHeight, p.InWidth);
        sparse.Input("Mask", TensorProto.Types.DataType.Uint8, 1, 1, mh, mw);
        BinaryConvNodes.AddCustom(sparse, "sconv", "X", "Y", packed, packedShape, alpha, tau, bias, attributes, "Mask", maskScale);
        sparse.Output("Y", TensorProto.Types.DataType.Float, 1, p.OutChannels, p.OutHeight, p.OutWidth);

        var fp32 = new OnnxGraphBuilder("bench_fp32");
        fp32.Input("X", TensorProto.Types.DataType.Float, 1, p.InChannels, p.InHeight, p.InWidth);
        fp32.Initializer(Tensors.Float("Wf", latent, p.OutChannels, p.InChannels, p.KernelHeight, p.KernelWidth));
        fp32.Initializer(Tensors.Float("B", bias, p.OutChannels));
        fp32.Node("Conv", ["X", "Wf", "B"], ["Y"], "conv")
            .Attribute("kernel_shape", attributes.KernelShape).Attribute("strides", attributes.Strides)
            .Attribute("pads", attributes.Pads).Attribute("dilations", attributes.Dilations);
        fp32.Output("Y", TensorProto.Types.DataType.Float, 1, p.OutChannels, p.OutHeight, p.OutWidth);

        // The sparse conv folded into the glue that adds it: Y = RPReLU(G + conv(X)) per channel, G a glue input of Y's shape.
        bool foldable = layer.MaskScale is not null && p is { KernelHeight: 3, KernelWidth: 3, StrideHeight: 1, StrideWidth: 1, DilationHeight: 1, DilationWidth: 1, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1 };
        float[] shiftIn = Random(p.OutChannels, 0.1f), slope = Random(p.OutChannels, 0.5f), shiftOut = Random(p.OutChannels, 0.1f);
        // With packedInput the conv's input comes packed (SparseXPacked), as the shipped model hands it over.
        byte[] Folded(bool packedInput)
        {
            var folded = new OnnxGraphBuilder(packedInput ? "bench_folded_packed" : "bench_folded");
            folded.Opset(BinaryConvSchema.Domain, BinaryConvSchema.OpsetVersion);
            if (packedInput) folded.Input("XP", TensorProto.Types.DataType.Uint64, 1, p.InHeight, p.InWidth, p.Words);
            else folded.Input("X", TensorProto.Types.DataType.Float, 1, p.InChannels, p.InHeight, p.InWidth);
            folded.Input("G", TensorProto.Types.DataType.Float, 1, p.OutChannels, p.OutHeight, p.OutWidth);
            folded.Input("Mask", TensorProto.Types.DataType.Uint8, 1, 1, mh, mw);
            folded.Initializer(Tensors.Float("shift_in", shiftIn, p.OutChannels));
            folded.Initializer(Tensors.Float("slope", slope, p.OutChannels));
            folded.Initializer(Tensors.Float("shift_out", shiftOut, p.OutChannels));
            folded.Initializer(Tensors.UInt64("W", packed, packedShape));
            folded.Initializer(Tensors.Float("alpha", alpha, p.OutChannels));
            folded.Initializer(Tensors.Float("tau", tau, p.InChannels));
            folded.Initializer(Tensors.Float("bias", bias, p.OutChannels));
            var inputs = Enumerable.Repeat("", BinaryConvSchema.ActivationInputCount).ToArray();
            (inputs[BinaryConvSchema.ActivationX], inputs[BinaryConvSchema.ActivationShiftIn], inputs[BinaryConvSchema.ActivationSlope], inputs[BinaryConvSchema.ActivationShiftOut]) = ("G", "shift_in", "slope", "shift_out");
            (inputs[BinaryConvSchema.ActivationSparseW], inputs[BinaryConvSchema.ActivationSparseAlpha]) = ("W", "alpha");
            (inputs[BinaryConvSchema.ActivationSparseTau], inputs[BinaryConvSchema.ActivationSparseBias], inputs[BinaryConvSchema.ActivationSparseMask]) = ("tau", "bias", "Mask");
            inputs[packedInput ? BinaryConvSchema.ActivationSparseXPacked : BinaryConvSchema.ActivationSparseX] = packedInput ? "XP" : "X";
            folded.Node(BinaryConvSchema.ShortcutRPReLU, inputs, ["Y"], "glue", BinaryConvSchema.Domain).Attribute(BinaryConvSchema.ActivationSparseMaskScale, (long)maskScale);
            folded.Output("Y", TensorProto.Types.DataType.Float, 1, p.OutChannels, p.OutHeight, p.OutWidth);
            return folded.ToBytes();
        }
        using (var options = Options(threads))
        {
            BiVMOps.Register(options, kernel);
            _custom = Own(new InferenceSession(custom.ToBytes(), options));
            _sparse = Own(new InferenceSession(sparse.ToBytes(), options));
            if (foldable)
            {
                _folded = Own(new InferenceSession(Folded(packedInput: false), options));
                _foldedPacked = Own(new InferenceSession(Folded(packedInput: true), options));
            }
        }
        using (var options = Options(threads)) _fp32 = Own(new InferenceSession(fp32.ToBytes(), options));

        _x = Own(OrtValue.CreateTensorValueFromMemory(_xData, xShape));
        _mask = Own(OrtValue.CreateTensorValueFromMemory(_maskData, [1, 1, mh, mw]));
        int yLength = p.OutChannels * p.OutHeight * p.OutWidth;
        _yCustom = Own(OrtValue.CreateTensorValueFromMemory(new float[yLength], yShape));
        _yFp32 = Own(OrtValue.CreateTensorValueFromMemory(new float[yLength], yShape));
        _ySparse = Own(OrtValue.CreateTensorValueFromMemory(new float[yLength], yShape));
        _customInputs = [_x];
        _sparseInputs = [_x, _mask];
        if (foldable)
        {
            var glueX = Own(OrtValue.CreateTensorValueFromMemory(Random(yLength, 1f), yShape));
            _yFolded = Own(OrtValue.CreateTensorValueFromMemory(new float[yLength], yShape));
            var noCell = Own(OrtValue.CreateTensorValueFromMemory(new byte[mh * mw], [1, 1, mh, mw]));
            var xPacked = Own(OrtValue.CreateTensorValueFromMemory(ActivationPacker.Pack(_xData, tau, 1, p.InChannels, p.InHeight, p.InWidth), [1, p.InHeight, p.InWidth, p.Words]));
            _foldedInputs = [_x, glueX, _mask];
            _foldedIdleInputs = [_x, glueX, noCell];
            _foldedPackedInputs = [xPacked, glueX, _mask];
            _foldedPackedIdleInputs = [xPacked, glueX, noCell];
        }

        _raw = Own(new BinaryConvolution(p, packed, alpha, tau, bias, kernel));
        _rawSparse = new SparseBinaryConvolution(_raw, maskScale);
        MaskScale = maskScale;
        _yRaw = new float[yLength];
        _runner = ParallelRunners.Threads(threads);
        _packedScratch = new ulong[(long)p.InHeight * p.InWidth * p.Words];
        _patchScratch = Enumerable.Range(0, _raw.SegmentPatchWords).Select(_ => (ulong)rng.NextInt64()).ToArray();
    }

    public LayerCase Layer { get; }
    public int Threads { get; }
    public double ActiveFraction { get; }
    public int MaskScale { get; }
    public string KernelName => _raw.KernelName;

    private static SessionOptions Options(int threads) => new()
    {
        IntraOpNumThreads = threads,
        InterOpNumThreads = 1,
        GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
    };

    private T Own<T>(T d) where T : IDisposable
    {
        _owned.Add(d);
        return d;
    }

    public void RunCustom() => _custom.Run(_run, ["X"], _customInputs, ["Y"], [_yCustom]);

    public void RunSparse() => _sparse.Run(_run, ["X", "Mask"], _sparseInputs, ["Y"], [_ySparse]);

    /// <summary>The glue with the sparse conv folded in, at the fixture's mask (the sparse case's layer only).</summary>
    public void RunFolded() => _folded!.Run(_run, ["X", "G", "Mask"], _foldedInputs!, ["Y"], [_yFolded!]);

    /// <summary>The same glue with no cell active: everything but the conv's work (its rows are zeros).</summary>
    public void RunFoldedIdle() => _folded!.Run(_run, ["X", "G", "Mask"], _foldedIdleInputs!, ["Y"], [_yFolded!]);

    /// <summary><see cref="RunFolded"/> with the conv's input handed over packed (SparseXPacked), as in the shipped model.</summary>
    public void RunFoldedPacked() => _foldedPacked!.Run(_run, ["XP", "G", "Mask"], _foldedPackedInputs!, ["Y"], [_yFolded!]);

    /// <summary><see cref="RunFoldedIdle"/> with the input handed over packed.</summary>
    public void RunFoldedPackedIdle() => _foldedPacked!.Run(_run, ["XP", "G", "Mask"], _foldedPackedIdleInputs!, ["Y"], [_yFolded!]);

    public void RunFp32() => _fp32.Run(_run, ["X"], _customInputs, ["Y"], [_yFp32]);

    public void RunRaw()
    {
        var p = Layer.P;
        fixed (float* x = _xData) fixed (float* y = _yRaw) _raw.Run(x, 1, p.InHeight, p.InWidth, y, _runner);
    }

    /// <summary>The raw conv's pack stage alone: every input row bit-packed, on the same runner as <see cref="RunRaw"/>.</summary>
    public void RunRawPack()
    {
        var p = Layer.P;
        fixed (float* x = _xData) fixed (ulong* packed = _packedScratch)
        {
            float* px = x;
            ulong* pp = packed;
            _runner(p.InHeight, row => _raw.PackRow(p, px, pp, 0, row, 0, p.InWidth));
        }
    }

    /// <summary>The raw conv's count stage alone (the popcount kernel over every output row's segments), same runner.</summary>
    public void RunRawCount()
    {
        var p = Layer.P;
        fixed (ulong* patches = _patchScratch)
        {
            ulong* pp = patches;
            _runner(p.OutHeight, _ => _raw.CountRow(pp, p.OutWidth));
        }
    }

    /// <summary>
    /// The output tensor written once, with zeros, row by row on the same runner: the floor under any conv that must
    /// produce its whole output, such as the sparse conv, which writes zeros wherever the mask is off.
    /// </summary>
    public void RunOutputClear()
    {
        var p = Layer.P;
        long plane = (long)p.OutHeight * p.OutWidth;
        fixed (float* y = _yRaw)
        {
            float* py = y;
            _runner(p.OutHeight, row =>
            {
                for (int co = 0; co < p.OutChannels; co++) new Span<float>(py + co * plane + (long)row * p.OutWidth, p.OutWidth).Clear();
            });
        }
    }

    public void RunRawSparse()
    {
        var p = Layer.P;
        fixed (float* x = _xData) fixed (float* y = _yRaw) fixed (byte* m = _maskData)
            _rawSparse.Run(x, 1, p.InHeight, p.InWidth, m, y, _runner);
    }

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _run.Dispose();
    }
}
