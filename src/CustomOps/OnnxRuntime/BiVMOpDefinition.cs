using System.Runtime.InteropServices;
using BiVM.Contracts;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// One operator of the ai.bivm domain as ORT sees it: a native <see cref="OrtCustomOp"/> followed by a GCHandle to
/// this object, so every callback (which only receives the OrtCustomOp*) finds its managed definition.
/// Its name, inputs and attributes are <see cref="BinaryConvSchema"/>'s.
/// </summary>
internal sealed unsafe class BiVMOpDefinition
{
    [StructLayout(LayoutKind.Sequential)]
    private struct NativeBlock
    {
        public OrtCustomOp Op;
        public nint Handle; // GCHandle of the BiVMOpDefinition
        public nint Name;   // NUL-terminated UTF-8 op name
    }

    private BiVMOpDefinition(string name, bool sparse, string? forceKernel)
    {
        Name = name;
        IsSparse = sparse;
        ForceKernel = forceKernel;
    }

    public string Name { get; }
    public bool IsSparse { get; }
    public string? ForceKernel { get; }

    /// <summary>The fused glue op (<see cref="BinaryConvSchema.ShortcutRPReLU"/>) rather than a binary conv.</summary>
    public bool IsActivation => Name == BinaryConvSchema.ShortcutRPReLU;

    /// <summary>The Deep Guided Filter's fused tail (<see cref="BinaryConvSchema.GuidedUpsample"/>).</summary>
    public bool IsGuidedUpsample => Name == BinaryConvSchema.GuidedUpsample;

    /// <summary>The Deep Guided Filter's statistics at the working size (<see cref="BinaryConvSchema.GuidedStatistics"/>).</summary>
    public bool IsGuidedStatistics => Name == BinaryConvSchema.GuidedStatistics;

    /// <summary>The fused upsampling glue (<see cref="BinaryConvSchema.Upsample2xConcat"/>): one variadic input.</summary>
    public bool IsUpsampleConcat => Name == BinaryConvSchema.Upsample2xConcat;

    /// <summary>The fused shortcut sums (<see cref="BinaryConvSchema.ShortcutSum"/>): one variadic input.</summary>
    public bool IsShortcutSum => Name == BinaryConvSchema.ShortcutSum;

    /// <summary>The ConvGRU's state concatenation (<see cref="BinaryConvSchema.GruStateConcat"/>).</summary>
    public bool IsGruStateConcat => Name == BinaryConvSchema.GruStateConcat;

    /// <summary>The ConvGRU's gate glue (<see cref="BinaryConvSchema.GruGates"/>).</summary>
    public bool IsGruGates => Name == BinaryConvSchema.GruGates;

    /// <summary>The ConvGRU's state update (<see cref="BinaryConvSchema.GruUpdate"/>).</summary>
    public bool IsGruUpdate => Name == BinaryConvSchema.GruUpdate;

    /// <summary>The decoder's whole ConvGRU step (<see cref="BinaryConvSchema.ConvGru"/>).</summary>
    public bool IsConvGru => Name == BinaryConvSchema.ConvGru;

    /// <summary>The 2×2 average pooling (<see cref="BinaryConvSchema.AveragePool2x"/>).</summary>
    public bool IsAveragePool => Name == BinaryConvSchema.AveragePool2x;

    /// <summary>The backbone's stem (<see cref="BinaryConvSchema.Stem"/>).</summary>
    public bool IsStem => Name == BinaryConvSchema.Stem;

    /// <summary>The front of SHB's incoherent mask (<see cref="BinaryConvSchema.Incoherence"/>).</summary>
    public bool IsIncoherence => Name == BinaryConvSchema.Incoherence;

    /// <summary>The channel planes' means (<see cref="BinaryConvSchema.ChannelMean"/>).</summary>
    public bool IsChannelMean => Name == BinaryConvSchema.ChannelMean;

    /// <summary>The three ConvGRU ops, AveragePool2x, Stem, Incoherence and ChannelMean: every input required (all but Stem also every output, float32, as GuidedStatistics).</summary>
    private bool AllRequired => IsGruStateConcat || IsGruGates || IsGruUpdate || IsAveragePool || IsStem || IsIncoherence || IsChannelMean;

    public int InputCount => IsGuidedUpsample ? BinaryConvSchema.GuidedInputCount
        : IsGuidedStatistics ? BinaryConvSchema.StatisticsInputCount
        : IsGruStateConcat ? BinaryConvSchema.GruStateConcatInputCount : IsGruGates ? BinaryConvSchema.GruGatesInputCount
        : IsGruUpdate ? BinaryConvSchema.GruUpdateInputCount
        : IsConvGru ? BinaryConvSchema.ConvGruInputCount
        : IsAveragePool || IsChannelMean ? 1
        : IsStem ? BinaryConvSchema.StemInputCount
        : IsIncoherence ? BinaryConvSchema.IncoherenceInputCount
        : IsUpsampleConcat || IsShortcutSum ? 1 : IsActivation ? BinaryConvSchema.ActivationInputCount : BinaryConvSchema.DeclaredInputCount;

    /// <summary>Whether input <paramref name="index"/> is variadic (the last declared input takes any number of tensors).</summary>
    public bool IsVariadicInput(int index) => IsUpsampleConcat || IsShortcutSum;

    /// <summary>Whether input <paramref name="index"/> may be absent (the empty name, or left off at the end).</summary>
    public bool IsOptionalInput(int index) => AllRequired ? false
        : IsConvGru ? index is BinaryConvSchema.GruX or BinaryConvSchema.ConvGruIhBias or BinaryConvSchema.ConvGruHhBias
            or BinaryConvSchema.ConvGruXPackedIh or BinaryConvSchema.ConvGruXPackedHh
        : IsGuidedUpsample ? index == BinaryConvSchema.GuidedA
        : IsGuidedStatistics ? index is BinaryConvSchema.StatisticsHidden or BinaryConvSchema.StatisticsHiddenPacked
        : !IsGuidedUpsample && IsActivation
        ? index is BinaryConvSchema.ActivationX or BinaryConvSchema.ActivationAddend or BinaryConvSchema.ActivationAddendScale or BinaryConvSchema.ActivationTauNext
            or BinaryConvSchema.ActivationNormScale or BinaryConvSchema.ActivationNormBias
            or BinaryConvSchema.ActivationProjection or BinaryConvSchema.ActivationProjectionBias
            or >= BinaryConvSchema.ActivationPointwiseW and <= BinaryConvSchema.ActivationPackedUnread
        : !IsGuidedUpsample && (index is BinaryConvSchema.InputBias or BinaryConvSchema.InputXPacked || (!IsSparse && index is BinaryConvSchema.InputMask or BinaryConvSchema.InputX));

    /// <summary>
    /// Whether Y may be written over X (ONNX Runtime's MayInplace, input 0 → output 0): the glue and the shortcut sums
    /// read each value of X before they write the same value of Y and never read X there afterwards, in every path
    /// (planes, bands of rows, rows; the folded normalization's statistics are a pass of their own before), and each
    /// task keeps to its own planes or rows; a dense binary conv packs all of X before it writes Y, or, as a 1×1 without
    /// padding, each row of X (every channel) before that row of Y. ONNX Runtime does it only where X has no later reader
    /// and Y has X's size. Whole 512×288 frames 0.971 and 0.979 (Zen 4, 500 rounds each order; the glue and sums
    /// alone 0.982 and 0.985).
    /// </summary>
    public bool MayWriteInPlace => IsActivation || IsShortcutSum || Name == BinaryConvSchema.BinaryConv2d;

    /// <summary>Outputs: Y, and for ShortcutRPReLU the optional YPacked, Projected, YPackedSecond and YRest, for Upsample2xConcat YPacked and YPackedSecond.</summary>
    public int OutputCount => IsGuidedUpsample ? BinaryConvSchema.GuidedOutputCount
        : IsGuidedStatistics ? BinaryConvSchema.StatisticsOutputCount
        : IsGruGates ? BinaryConvSchema.GruGatesOutputCount
        : IsActivation ? BinaryConvSchema.ActivationRestOutput + 1
        : IsStem ? BinaryConvSchema.StemOutputCount
        : IsIncoherence ? BinaryConvSchema.IncoherenceOutputCount
        : IsUpsampleConcat ? BinaryConvSchema.SecondPackedOutput + 1 : 1;

    /// <summary>Element type of output <paramref name="index"/>: float32, except the packed bits (uint64).</summary>
    public OrtElementType OutputType(int index) =>
        IsActivation && index is BinaryConvSchema.ActivationPackedOutput or BinaryConvSchema.ActivationSecondPackedOutput
        || IsUpsampleConcat && index is BinaryConvSchema.PackedOutput or BinaryConvSchema.SecondPackedOutput
        || IsGuidedStatistics && index == BinaryConvSchema.StatisticsPacked
        || IsStem && index == BinaryConvSchema.StemPacked ? OrtElementType.UInt64 : OrtElementType.Float;

    /// <summary>Whether output <paramref name="index"/> may be absent (ShortcutRPReLU's and Upsample2xConcat's Y and GuidedStatistics' Stats too, where they write bits only; each of Stem's).</summary>
    public bool IsOptionalOutput(int index) => IsActivation || IsUpsampleConcat || IsStem || IsGuidedStatistics && index is BinaryConvSchema.StatisticsPacked or BinaryConvSchema.StatisticsStats;

    /// <summary>Creates this op's kernel for one node.</summary>
    public IBiVMKernel CreateKernel(nint info, out string nodeName) => IsGuidedUpsample
        ? GuidedUpsampleOrtKernel.Create(this, info, out nodeName)
        : IsGuidedStatistics
        ? GuidedStatisticsOrtKernel.Create(this, info, out nodeName)
        : IsUpsampleConcat
        ? Upsample2xConcatOrtKernel.Create(this, info, out nodeName)
        : IsGruStateConcat
        ? GruStateConcatOrtKernel.Create(this, info, out nodeName)
        : IsGruGates
        ? GruGatesOrtKernel.Create(this, info, out nodeName)
        : IsGruUpdate
        ? GruUpdateOrtKernel.Create(this, info, out nodeName)
        : IsConvGru
        ? ConvGruOrtKernel.Create(this, info, out nodeName)
        : IsAveragePool
        ? AveragePool2xOrtKernel.Create(this, info, out nodeName)
        : IsStem
        ? StemOrtKernel.Create(this, info, out nodeName)
        : IsIncoherence
        ? IncoherenceOrtKernel.Create(this, info, out nodeName)
        : IsChannelMean
        ? ChannelMeanOrtKernel.Create(this, info, out nodeName)
        : IsShortcutSum
        ? ShortcutSumOrtKernel.Create(this, info, out nodeName)
        : IsActivation
        ? ShortcutRPReLUOrtKernel.Create(this, info, out nodeName)
        : BinaryConvOrtKernel.Create(this, info, out nodeName);

    /// <summary>The OrtCustomOp* handed to CustomOpDomain_Add.</summary>
    public OrtCustomOp* Native { get; private set; }

    public byte* NameUtf8 => (byte*)((NativeBlock*)Native)->Name;

    public static BiVMOpDefinition From(OrtCustomOp* op) => (BiVMOpDefinition)GCHandle.FromIntPtr(((NativeBlock*)op)->Handle).Target!;

    /// <summary>
    /// Builds the native struct. It is never freed: ORT keeps OrtCustomOp pointers inside every session created from
    /// options the domain was added to, and sessions may outlive the options; one instance per (op, forced kernel)
    /// per process is shared by all registrations, so the cost is bounded.
    /// </summary>
    public static BiVMOpDefinition Create(bool sparse, string? forceKernel) =>
        Create(BinaryConvSchema.OpName(sparse), sparse, forceKernel);

    /// <summary>The <see cref="BinaryConvSchema.ShortcutRPReLU"/> op (no popcount kernel to choose).</summary>
    public static BiVMOpDefinition CreateActivation() => Create(BinaryConvSchema.ShortcutRPReLU, sparse: false, forceKernel: null);

    /// <summary>The <see cref="BinaryConvSchema.GuidedUpsample"/> op.</summary>
    public static BiVMOpDefinition CreateGuidedUpsample() => Create(BinaryConvSchema.GuidedUpsample, sparse: false, forceKernel: null);

    /// <summary>The <see cref="BinaryConvSchema.GuidedStatistics"/> op.</summary>
    public static BiVMOpDefinition CreateGuidedStatistics() => Create(BinaryConvSchema.GuidedStatistics, sparse: false, forceKernel: null);

    /// <summary>The <see cref="BinaryConvSchema.Upsample2xConcat"/> op.</summary>
    public static BiVMOpDefinition CreateUpsampleConcat() => Create(BinaryConvSchema.Upsample2xConcat, sparse: false, forceKernel: null);

    /// <summary>The <see cref="BinaryConvSchema.ShortcutSum"/> op.</summary>
    public static BiVMOpDefinition CreateShortcutSum() => Create(BinaryConvSchema.ShortcutSum, sparse: false, forceKernel: null);

    /// <summary>The <see cref="BinaryConvSchema.AveragePool2x"/> op.</summary>
    public static BiVMOpDefinition CreateAveragePool() => Create(BinaryConvSchema.AveragePool2x, sparse: false, forceKernel: null);

    /// <summary>The <see cref="BinaryConvSchema.Stem"/> op.</summary>
    public static BiVMOpDefinition CreateStem() => Create(BinaryConvSchema.Stem, sparse: false, forceKernel: null);

    /// <summary>The <see cref="BinaryConvSchema.Incoherence"/> op.</summary>
    public static BiVMOpDefinition CreateIncoherence() => Create(BinaryConvSchema.Incoherence, sparse: false, forceKernel: null);

    /// <summary>The <see cref="BinaryConvSchema.ChannelMean"/> op.</summary>
    public static BiVMOpDefinition CreateChannelMean() => Create(BinaryConvSchema.ChannelMean, sparse: false, forceKernel: null);

    /// <summary>
    /// One of the ConvGRU ops (<see cref="BinaryConvSchema.GruStateConcat"/>, <see cref="BinaryConvSchema.GruGates"/>,
    /// <see cref="BinaryConvSchema.GruUpdate"/>, and the whole step <see cref="BinaryConvSchema.ConvGru"/>, whose convs
    /// take <paramref name="forceKernel"/>: null for the best this CPU runs).
    /// </summary>
    public static BiVMOpDefinition CreateGru(string name, string? forceKernel = null) => name is BinaryConvSchema.GruStateConcat or BinaryConvSchema.GruGates or BinaryConvSchema.GruUpdate or BinaryConvSchema.ConvGru
        ? Create(name, sparse: false, forceKernel: name == BinaryConvSchema.ConvGru ? forceKernel : null)
        : throw new ArgumentException($"{name} is not a ConvGRU op", nameof(name));

    private static BiVMOpDefinition Create(string name, bool sparse, string? forceKernel)
    {
        var def = new BiVMOpDefinition(name, sparse, forceKernel);
        var block = (NativeBlock*)NativeMemory.AllocZeroed((nuint)sizeof(NativeBlock));
        var utf8 = OrtApi.Utf8(def.Name);
        block->Name = (nint)NativeMemory.Alloc((nuint)utf8.Length);
        utf8.CopyTo(new Span<byte>((void*)block->Name, utf8.Length));
        block->Handle = GCHandle.ToIntPtr(GCHandle.Alloc(def));
        CustomOpCallbacks.Fill(&block->Op, def.MayWriteInPlace);
        def.Native = &block->Op;
        return def;
    }
}
