namespace BiVM.Contracts;

/// <summary>
/// The <c>ai.bivm</c> operator domain (docs/model-contract.md): the names, version, input order and attributes that
/// the exporter writes and the ONNX Runtime kernels read. Written once here, so that a writer and a reader cannot
/// drift apart.
/// </summary>
public static class BinaryConvSchema
{
    public const string Domain = "ai.bivm";
    public const int OpsetVersion = 1;

    public const string BinaryConv2d = "BinaryConv2d";

    /// <summary>BinaryConv2d whose output is zero wherever the (upsampled) mask input is 0.</summary>
    public const string SparseBinaryConv2d = "SparseBinaryConv2d";

    /// <summary>
    /// Input positions: X (float32 [N, Cin, H, W]), W (packed uint64 [Cout, kH, kW, words]), alpha and tau (float32
    /// [Cout] and [Cin]), bias (optional: absent or the empty name), Mask (SparseBinaryConv2d only, [N, 1, h, w]).
    /// </summary>
    public const int InputX = 0, InputW = 1, InputAlpha = 2, InputTau = 3, InputBias = 4, InputMask = 5;

    /// <summary>
    /// Optional input of both binary convs: XPacked, uint64 [N, H, W, words], the sign bits of X − tau already packed
    /// in BiVM.CustomOps.BitPacking.PackedLayout's layout by the producer (ShortcutRPReLU's YPacked). When present the
    /// kernel reads it instead of packing X (X stays an input: shapes come from it, and the lowering ignores XPacked).
    /// The dense op then has the empty name at the Mask position.
    /// </summary>
    public const int InputXPacked = 6;

    /// <summary>Inputs the exporter writes (bias declared in both, the mask only in the sparse one); XPacked is added by the fusion pass.</summary>
    public static int InputCount(bool sparse) => sparse ? InputMask + 1 : InputBias + 1;

    /// <summary>Inputs the op declares to ONNX Runtime: everything up to XPacked (bias, Mask of the dense op and XPacked optional).</summary>
    public const int DeclaredInputCount = InputXPacked + 1;

    public static string OpName(bool sparse) => sparse ? SparseBinaryConv2d : BinaryConv2d;

    /// <summary>ONNX Conv's attributes, with its meaning and defaults (pads = [top, left, bottom, right]).</summary>
    public const string KernelShape = "kernel_shape", Strides = "strides", Pads = "pads", Dilations = "dilations", Group = "group", AutoPad = "auto_pad";

    /// <summary>SparseBinaryConv2d: the mask's cell is mask_scale × mask_scale output pixels (nearest repetition).</summary>
    public const string MaskScale = "mask_scale";

    /// <summary>
    /// The fused 32-bit glue between binary layers (docs/model-contract.md, "ShortcutRPReLU"):
    /// Y = RPReLU(X + AddendScale · Addend) = PReLU(X + AddendScale · Addend + ShiftIn, Slope) + ShiftOut, per channel,
    /// each operation rounded to float32 in that order (the unfused graph's Mul, Add, Add, PRelu, Add).
    /// </summary>
    public const string ShortcutRPReLU = "ShortcutRPReLU";

    /// <summary>
    /// ShortcutRPReLU's input positions: X (float32 [N, C, H, W]); Addend (optional, float32, X's shape); AddendScale
    /// (optional, float32 [1] constant; absent = Addend added as it is); ShiftIn, Slope, ShiftOut (float32 constants
    /// with C values, shaped [C], [C, 1, 1] or [1, C, 1, 1]).
    /// </summary>
    public const int ActivationX = 0, ActivationAddend = 1, ActivationAddendScale = 2, ActivationShiftIn = 3, ActivationSlope = 4, ActivationShiftOut = 5;

    /// <summary>
    /// Optional input of ShortcutRPReLU: TauNext, float32 [C] constant, the tau of the binary conv that reads Y. With it
    /// the op also writes output <see cref="ActivationPackedOutput"/>, YPacked: uint64 [N, H, W, words], the bits of
    /// sign(Y − TauNext) (sign(0) = +1) in PackedLayout's layout, which that conv takes as XPacked instead of packing Y.
    /// </summary>
    public const int ActivationTauNext = 6;

    /// <summary>
    /// ShortcutRPReLU's outputs: Y (float32, X's shape), with TauNext YPacked, with Projection Projected, with TauSecond
    /// YPackedSecond. Y may be the empty name where a packed or a projected output is written: the op then writes only
    /// those (each row of Y formed in scratch for them; the float Y would have no reader).
    /// </summary>
    public const int ActivationOutput = 0, ActivationPackedOutput = 1, ActivationProjectedOutput = 2;

    /// <summary>
    /// Optional inputs of ShortcutRPReLU, both or neither: NormScale and NormBias, float32 [C] constants (ONNX
    /// InstanceNormalization's scale and B). With them X is first normalized per image and channel, x̂ = NormScale ·
    /// (X − μ) / √(σ² + epsilon) + NormBias (attribute <see cref="ActivationNormEpsilon"/>), and x̂ takes X's place
    /// (docs/model-contract.md, "ShortcutRPReLU"). Written by the fusion pass where an InstanceNormalization feeds the glue.
    /// </summary>
    public const int ActivationNormScale = 7, ActivationNormBias = 8;

    /// <summary>
    /// Optional inputs of ShortcutRPReLU: Projection, float32 [K, C, 1, 1] constant (ONNX Conv's W of a 1×1 conv), and
    /// with it ProjectionBias, float32 [K] constant (optional). With Projection the op also writes output
    /// <see cref="ActivationProjectedOutput"/>, Projected: Y projected per pixel, Projected[k] = Σ_c Projection[k, c]·Y[c]
    /// + ProjectionBias[k], float32 [N, K, H, W] (ONNX Conv with kernel 1×1, stride 1, no padding, group 1, reading Y),
    /// computed from each row of Y while it is in cache. The sum is taken as ONNX Runtime's MLAS takes it: fused
    /// multiply-adds from 0 in ascending c, then the bias. Written by the fusion pass where such a Conv reads Y (the
    /// matting head's project_mat).
    /// </summary>
    public const int ActivationProjection = 9, ActivationProjectionBias = 10;

    /// <summary>
    /// Optional inputs of ShortcutRPReLU, present together (PointwiseBias optional): the 1×1 binary conv that computes the
    /// glue's input, folded into it. PointwiseW (packed uint64 [C, 1, 1, 1], one word per tap: Cin ≤ 64), PointwiseAlpha
    /// (float32 [C]), PointwiseTau (float32 [Cin]), PointwiseBias (float32 [C] or the empty name) are that
    /// <see cref="BinaryConv2d"/>'s W, alpha, tau and bias, and PointwiseXPacked (uint64 [N, H, W, 1]) its
    /// <see cref="InputXPacked"/>. With them X is the conv's input (float32 [N, Cin, H, W], of which only the shape is
    /// read; or the empty name, N, H and W then coming from PointwiseXPacked), and the glue's input is BinaryConv2d(X) with stride 1, no padding, computed row by row from the packed
    /// bits where the glue needs it: the conv's output tensor is never written. The same bits as the two nodes, except
    /// that a folded InstanceNormalization (NormScale, NormBias) takes its statistics from the exact integer moments
    /// of the conv's dots (within float rounding of the two nodes', docs/model-contract.md).
    /// </summary>
    public const int ActivationPointwiseW = 11, ActivationPointwiseAlpha = 12, ActivationPointwiseTau = 13, ActivationPointwiseBias = 14, ActivationPointwiseXPacked = 15;

    /// <summary>
    /// Optional inputs of ShortcutRPReLU, present together (SparseBias optional) with the int attribute
    /// <see cref="ActivationSparseMaskScale"/>: the masked conv whose output is the glue's Addend (SHB's sparse 3×3),
    /// folded into it. SparseX (float32 [N, Cin, H, W]), SparseW (packed uint64 [C, 3, 3, words]), SparseAlpha (float32
    /// [C]), SparseTau (float32 [Cin]), SparseBias (float32 [C] or the empty name) and SparseMask (uint8 or bool
    /// [N, 1, ⌈H/k⌉, ⌈W/k⌉]) are that <see cref="SparseBinaryConv2d"/>'s X, W, alpha, tau, bias and Mask, and the
    /// attribute its mask_scale k; the conv is 3×3 with stride 1, dilation 1, pads 1 and group 1, so its output has
    /// the glue's N, H and W. With them Addend and AddendScale are the empty name, no channel map is set, and the
    /// glue's Addend is SparseBinaryConv2d(SparseX), computed row by row where the glue adds it: the conv's output
    /// tensor is never written. The same bits as the two nodes.
    /// </summary>
    public const int ActivationSparseX = 16, ActivationSparseW = 17, ActivationSparseAlpha = 18, ActivationSparseTau = 19, ActivationSparseBias = 20, ActivationSparseMask = 21;

    /// <summary>
    /// Optional inputs of ShortcutRPReLU: SparseXPacked, uint64 [N, H, W, words] (the folded sparse conv's input packed
    /// against SparseTau by the op before it, whose second packed output it is); with it SparseX may be the empty name.
    /// TauSecond, float32 [C] constant: the τ of a second binary conv that reads Y (SHB's sparse 3×3 beside its dense 1×1,
    /// which reads YPacked); with it the op also writes output <see cref="ActivationSecondPackedOutput"/>, YPackedSecond,
    /// the bits of sign(Y − TauSecond) in the same layout.
    /// </summary>
    public const int ActivationSparseXPacked = 22, ActivationTauSecond = 23;

    /// <summary>ShortcutRPReLU's output YPackedSecond (with <see cref="ActivationTauSecond"/>).</summary>
    public const int ActivationSecondPackedOutput = 3;

    /// <summary>
    /// ShortcutRPReLU's int attribute y_split s (0 &lt; s &lt; C): Y is written as two tensors, channels [0, s) as output
    /// <see cref="ActivationOutput"/> ([N, s, H, W]) and channels [s, C) as output <see cref="ActivationRestOutput"/>,
    /// YRest ([N, C − s, H, W]): ONNX Split of Y on axis 1, each value written where it is computed instead of copied
    /// afterwards. The ConvGRU's split of each decoder block's output into the half that passes and the half the GRU
    /// reads. Not with Projected. With it TauNext and TauSecond (each optional) have C − s values and YPacked and
    /// YPackedSecond ([N, H, W, words(C − s)]) hold YRest's bits against them (the ConvGru's XPackedIh and XPackedHh),
    /// and YRest may then be the empty name: its floats are not written.
    /// </summary>
    public const string ActivationYSplit = "y_split";

    /// <summary>ShortcutRPReLU's output YRest (with <see cref="ActivationYSplit"/>).</summary>
    public const int ActivationRestOutput = 4;

    /// <summary>ShortcutRPReLU's int attribute with the folded sparse conv's mask_scale (required with SparseX … SparseMask).</summary>
    public const string ActivationSparseMaskScale = "sparse_mask_scale";

    /// <summary>ShortcutRPReLU's float attribute with the folded InstanceNormalization's epsilon (default 1e-5, as ONNX).</summary>
    public const string ActivationNormEpsilon = "epsilon";

    /// <summary>
    /// ShortcutRPReLU's int attributes that map the Addend's channels onto X's C (EBB's channel-changing shortcuts, the
    /// exporter's <c>map_l1</c>), at most one of them above 1: <c>addend_repeat</c> r (Addend has C / r channels, and
    /// channel c reads Addend channel c mod (C / r), as ONNX Tile with repeats [1, r, 1, 1]); <c>addend_chunks</c> k
    /// (Addend has k·C channels, and channel c reads Addend[c] + Addend[C + c], one float32 add, as ReduceSum over a
    /// size-2 axis of the Addend reshaped [N, 2, C, H·W]; only k = 2). Both default to 1: Addend has X's shape.
    /// </summary>
    public const string ActivationAddendRepeat = "addend_repeat", ActivationAddendChunks = "addend_chunks";

    /// <summary>
    /// Optional input of ShortcutRPReLU: PackedUnread, bool [] or [1]. Where it holds true the op leaves YPacked unwritten
    /// (allocated, its values unspecified), because every node that reads YPacked lies in the branch of an If that does not
    /// run then. Written by HiddenHandOffFusion for the refiner's Hidden bits, which only the DGF in the else branch of the
    /// If on downsample_ratio reads: the If's condition (downsample_ratio = 1), computed again beside the glue.
    /// </summary>
    public const int ActivationPackedUnread = 24;

    /// <summary>Inputs ShortcutRPReLU declares (all but X, ShiftIn, Slope and ShiftOut optional).</summary>
    public const int ActivationInputCount = ActivationPackedUnread + 1;

    /// <summary>
    /// The decoder's upsampling glue fused (docs/model-contract.md, "Upsample2xConcat"): Y = Concat(axis 1) of the first
    /// <see cref="UpsampledInputs"/> inputs each resized ×2 (ONNX Resize, linear, pytorch_half_pixel, scales [1, 1, 2, 2])
    /// and cropped to the top-left H × W of the remaining inputs, then the remaining inputs as they are. Its inputs are
    /// variadic (float32 [N, C_i, h, w] upsampled, then float32 [N, C_j, H, W] copied; at least one of each). Y may be
    /// the empty name where a packed output (YPacked, YPackedSecond) is written: then only the bits are.
    /// </summary>
    public const string Upsample2xConcat = "Upsample2xConcat";

    /// <summary>Upsample2xConcat's int attribute: how many leading inputs are upsampled (default 1).</summary>
    public const string UpsampledInputs = "upsampled";

    /// <summary>
    /// ONNX AveragePool with kernel_shape [2, 2] and strides [2, 2], no pads and no dilation, exactly as ONNX Runtime's
    /// CPU kernel computes it (docs/model-contract.md, "AveragePool2x"): Y[n, c, i, j] = ((X[2i, 2j] + X[2i + 1, 2j]) +
    /// (X[2i, 2j + 1] + X[2i + 1, 2j + 1])) / 4, the columns' sums first. With <see cref="PoolCeilMode"/> = 1 the output is
    /// ⌈H/2⌉ × ⌈W/2⌉ and a window cut by the last row or column averages what it holds (count_include_pad 0). Input X
    /// float32 [N, C, H, W], output Y float32.
    /// </summary>
    public const string AveragePool2x = "AveragePool2x";

    /// <summary>AveragePool2x's int attribute: 1 rounds the output size up (ONNX ceil_mode), 0 (the default) down.</summary>
    public const string PoolCeilMode = "ceil_mode";

    /// <summary>
    /// AveragePool2x's (and Stem's Pooled) int attribute: 1 sums each window row by row, ((((0 + a) + b) + c) + d) / n,
    /// the order of ONNX Runtime's NCHWc pooling kernels (which it runs for channel counts in multiples of its block);
    /// 0 (the default) its NCHW kernels' order.
    /// </summary>
    public const string PoolRowOrder = "row_order";

    /// <summary>
    /// ONNX GlobalAveragePool exactly as ONNX Runtime's CPU kernel computes it in NCHW (docs/model-contract.md,
    /// "ChannelMean"): Y[n, c, 1, …, 1] = the mean of plane (n, c) of X (float32 [N, C, D1, …], rank 3 or more), summed in
    /// MLAS's order (four running sums over the first 4·⌊m/4⌋ values, reduced as (s0 + s2) + (s1 + s3), the last m mod 4
    /// values added one by one, divided by (float)m, m the plane's size). Output Y float32.
    /// </summary>
    public const string ChannelMean = "ChannelMean";

    /// <summary>
    /// The front of SHB's incoherent mask fused (docs/model-contract.md, "Incoherence"; the paper's eq. 14): from the
    /// features F (float32 [N, C, H, W]) and their 2×2 average pool S (float32 [N, C, h, w], H ≤ 2h, W ≤ 2w),
    /// D[n, p] = ReduceMean over c of |F − Slice(Resize(S, ×2, linear, pytorch_half_pixel), to H × W)| (float32 [N, H·W]:
    /// each position's sum of the channels in channel order, divided by C) and Positives[n, 0, p] = the count of channels
    /// with F ≥ 0 (float32 [N, 1, H·W]), as ONNX Runtime computes the standard ops, bit for bit. Both outputs required.
    /// </summary>
    public const string Incoherence = "Incoherence";

    /// <summary>Incoherence's inputs, both required: F and S.</summary>
    public const int IncoherenceF = 0, IncoherenceS = 1, IncoherenceInputCount = 2;

    /// <summary>Incoherence's outputs, both required: D and Positives.</summary>
    public const int IncoherenceD = 0, IncoherencePositives = 1, IncoherenceOutputCount = 2;

    /// <summary>
    /// The backbone's stem fused (docs/model-contract.md, "Stem"): the input normalization, the full-precision 3×3
    /// stride-2 Conv, its InstanceNormalization and HardSwish, as one op: x̃ = (X − Mean) / Std, v = Conv(x̃, W, B) (pads 1),
    /// Y = HardSwish(InstanceNormalization(v, NormScale, NormBias, epsilon)). Outputs Y (optional), YPacked (optional,
    /// with the float-list attribute <see cref="TauNext"/>: the sign bits of Y − τ for the binary conv that reads Y),
    /// Pooled (optional: ONNX AveragePool 2×2, stride 2, count_include_pad 0 of Y, with <see cref="PoolCeilMode"/>) and
    /// XPooled (optional: the same pool of X, with <see cref="StemInputCeilMode"/> and <see cref="StemInputRowOrder"/>).
    /// </summary>
    public const string Stem = "Stem";

    /// <summary>
    /// Stem's inputs: X (float32 [N, Cin, H, W]); Mean and Std (float32 constants with Cin values: [Cin], [Cin, 1, 1] or
    /// [1, Cin, 1, 1]); W (float32 constant [C, Cin, 3, 3]); B (float32 constant [C]); NormScale and NormBias (float32
    /// constants [C]). All required.
    /// </summary>
    public const int StemX = 0, StemMean = 1, StemStd = 2, StemW = 3, StemB = 4, StemNormScale = 5, StemNormBias = 6, StemInputCount = 7;

    /// <summary>
    /// Stem's outputs, each optional (at least one named): Y (float32 [N, C, ⌈H/2⌉, ⌈W/2⌉]), YPacked (uint64
    /// [N, ⌈H/2⌉, ⌈W/2⌉, words]), Pooled (float32 [N, C, H'', W''], Y's size halved as <see cref="AveragePool2x"/>'s) and
    /// XPooled (float32 [N, Cin, H/2, W/2], X's size halved as <see cref="AveragePool2x"/>'s: the source pyramid's first level).
    /// </summary>
    public const int StemY = 0, StemPacked = 1, StemPooled = 2, StemXPooled = 3, StemOutputCount = 4;

    /// <summary>Stem's int attribute for XPooled, as <see cref="PoolCeilMode"/> is for Pooled (default 0).</summary>
    public const string StemInputCeilMode = "input_ceil_mode";

    /// <summary>Stem's int attribute for XPooled, as <see cref="PoolRowOrder"/> is for Pooled (default 0).</summary>
    public const string StemInputRowOrder = "input_row_order";

    /// <summary>Stem's float attribute: the InstanceNormalization's epsilon (default 1e-5, as ONNX).</summary>
    public const string StemEpsilon = "epsilon";

    /// <summary>
    /// The Deep Guided Filter's full-resolution tail (docs/model-contract.md, "GuidedUpsample"): A and B resized
    /// bilinearly to Src's H×W (ONNX Resize, linear, pytorch_half_pixel), out = A·[Src, mean_c(Src)] + B, then
    /// Fgr = clip(out[0..2] + Src, 0, 1) and Pha = clip(out[3], 0, 1). A may be the empty name: then B is [N, 4, H, W]
    /// at Src's size and out = B (the tail alone, at downsample 1, where the graph skips the DGF).
    /// </summary>
    public const string GuidedUpsample = "GuidedUpsample";

    /// <summary>GuidedUpsample's inputs: A (optional) and B (float32 [N, 4, h, w]), Src (float32 [N, 3, H, W]).</summary>
    public const int GuidedA = 0, GuidedB = 1, GuidedSource = 2, GuidedInputCount = 3;

    /// <summary>GuidedUpsample's outputs: Fgr (float32 [N, 3, H, W]) and Pha (float32 [N, 1, H, W]).</summary>
    public const int GuidedFgr = 0, GuidedPha = 1, GuidedOutputCount = 2;

    /// <summary>
    /// The Deep Guided Filter's statistics at the working size (docs/model-contract.md, "GuidedStatistics"): with
    /// x = Concat(X, ReduceMean(X, axes [1])) and box(t) = Conv(t, BoxW, BoxB) (the DGF's depthwise 3×3, pads 1, group
    /// 4), MeanX = box(x), MeanY = box(Y), and Stats = Concat(box(x·Y) − MeanX·MeanY, box(x·x) − MeanX·MeanX, Hidden).
    /// </summary>
    public const string GuidedStatistics = "GuidedStatistics";

    /// <summary>
    /// GuidedStatistics' inputs: X (float32 [N, 3, h, w], the downsampled frame), Y (float32 [N, 4, h, w], the coarse
    /// foreground residual and alpha), BoxW (float32 [4, 1, 3, 3] constant), BoxB (float32 [4] constant), Hidden
    /// (float32 [N, C, h, w], appended to Stats).
    /// </summary>
    public const int StatisticsX = 0, StatisticsY = 1, StatisticsBoxW = 2, StatisticsBoxB = 3, StatisticsHidden = 4;

    /// <summary>
    /// GuidedStatistics' optional input HiddenPacked: uint64 [N, h, w, 1], the sign bits of Hidden − τ[8 …] (the
    /// attribute <see cref="TauNext"/>'s values for Hidden's channels, 8 + C ≤ 64) packed by the op that makes Hidden.
    /// With it Hidden and Stats are the empty name, C is the length of tau_next less 8, and StatsPacked is the op's own
    /// 8 channels' bits with HiddenPacked's shifted above them: the bits of the Stats it no longer writes.
    /// </summary>
    public const int StatisticsHiddenPacked = 5, StatisticsInputCount = 6;

    /// <summary>
    /// GuidedStatistics' outputs: Stats (float32 [N, 8 + C, h, w]), MeanX and MeanY (float32 [N, 4, h, w]), and with the
    /// float-list attribute <see cref="TauNext"/> (8 + C values) the optional StatsPacked (uint64 [N, h, w, words]: the
    /// sign bits of Stats − τ for the binary conv that reads Stats, as Upsample2xConcat's YPacked). With StatsPacked, Stats
    /// may be the empty name: then only the bits are written.
    /// </summary>
    public const int StatisticsStats = 0, StatisticsMeanX = 1, StatisticsMeanY = 2, StatisticsPacked = 3, StatisticsOutputCount = 4;

    /// <summary>
    /// The backbone's scaled shortcut sums fused (docs/model-contract.md, "ShortcutSum"): Y = ((X + s₁·R₁(Z₁)) + s₂·R₂(Z₂)) + …,
    /// left to right, each product and each sum rounded to float32 once (the unfused graph's Mul, Tile, Add chain), where
    /// Rᵢ repeats Zᵢ's channels rᵢ times to X's C (ONNX Tile with repeats [1, rᵢ, 1, 1]). Inputs are variadic: X, then
    /// Z₁ … Zₖ (float32 [N, C / rᵢ, H, W] with X's N, H, W; k ≥ 1).
    /// </summary>
    public const string ShortcutSum = "ShortcutSum";

    /// <summary>ShortcutSum's float-list attribute: sᵢ, one per term (1 where the graph has no Mul: x·1 is x exactly).</summary>
    public const string ShortcutSumScales = "scales";

    /// <summary>ShortcutSum's int-list attribute: rᵢ = C / Cᵢ, one per term (1 where the graph has no Tile).</summary>
    public const string ShortcutSumRepeats = "repeats";

    /// <summary>
    /// The ConvGRU's state concatenation before its first binary conv (docs/model-contract.md, "ConvGRU glue"):
    /// Y = Concat(X, State broadcast to X's shape) on axis 1, i.e. ONNX's Concat(x, Expand(h, Shape(x))). Inputs X
    /// (float32 [N, C, H, W]) and State (float32, rank ≤ 4, each dim 1 or X's: the first frame's [1, 1, 1, 1] zeros
    /// or a full [N, C, H, W] state); output float32 [N, 2C, H, W].
    /// </summary>
    public const string GruStateConcat = "GruStateConcat";

    /// <summary>
    /// The ConvGRU's gate glue after its first binary conv: from Gates = [g_r, g_z] (float32 [N, 2C, H, W], the conv's
    /// output), Z = σ(g_z) and Y = Concat(X, σ(g_r) · State) on axis 1, the second binary conv's input (ONNX's Sigmoid,
    /// Split into halves, Mul and Concat). Inputs X, Gates, State (State broadcast as in <see cref="GruStateConcat"/>);
    /// outputs Z (float32 [N, C, H, W]) and Y (float32 [N, 2C, H, W]).
    /// </summary>
    public const string GruGates = "GruGates";

    /// <summary>
    /// The ConvGRU's state update after its second binary conv: H' = (1 − Z) · State + Z · tanh(Candidate), each
    /// operation rounded to float32 in that order (ONNX's Tanh, Sub, Mul, Mul, Add). Inputs Candidate (float32
    /// [N, C, H, W], the conv's output), Z (GruGates' output, the same shape) and State (broadcast to that shape);
    /// output float32 [N, C, H, W].
    /// </summary>
    public const string GruUpdate = "GruUpdate";

    /// <summary>Input positions of GruStateConcat and GruGates (X) and GruStateConcat's State.</summary>
    public const int GruX = 0, GruStateConcatState = 1, GruStateConcatInputCount = 2;

    /// <summary>GruGates' inputs (X at <see cref="GruX"/>, Gates, State) and outputs (Z, Y).</summary>
    public const int GruGatesPreactivation = 1, GruGatesState = 2, GruGatesInputCount = 3, GruGatesZ = 0, GruGatesY = 1, GruGatesOutputCount = 2;

    /// <summary>GruUpdate's inputs: Candidate, Z, State.</summary>
    public const int GruUpdateCandidate = 0, GruUpdateZ = 1, GruUpdateState = 2, GruUpdateInputCount = 3;

    /// <summary>
    /// The decoder's whole ConvGRU step (docs/model-contract.md, "ConvGru"): GruStateConcat, the ih binary conv,
    /// GruGates, the hh binary conv and GruUpdate as one op, the same values bit for bit, of which only the next state
    /// is written. Inputs X (float32 [N, C, H, W]), State (broadcast as in <see cref="GruStateConcat"/>), the ih conv's
    /// IhW (packed uint64 [2C, k, k, words(2C)]), IhAlpha (float32 [2C]), IhTau (float32 [2C]) and IhBias (float32 [2C],
    /// optional), the hh conv's HhW ([C, k, k, words(2C)]), HhAlpha ([C]), HhTau ([2C]) and HhBias ([C], optional), all
    /// six constants; both convs k × k (k odd), stride 1, dilation 1, pads k / 2. Output H' (float32 [N, C, H, W]).
    /// Optional inputs XPackedIh and XPackedHh, both or neither (<see cref="ConvGruXPackedIh"/>).
    /// </summary>
    public const string ConvGru = "ConvGru";

    /// <summary>ConvGru's inputs (X at <see cref="GruX"/>).</summary>
    public const int ConvGruState = 1, ConvGruIhW = 2, ConvGruIhAlpha = 3, ConvGruIhTau = 4, ConvGruIhBias = 5,
        ConvGruHhW = 6, ConvGruHhAlpha = 7, ConvGruHhTau = 8, ConvGruHhBias = 9;

    /// <summary>
    /// ConvGru's optional inputs, both or neither: XPackedIh and XPackedHh, uint64 [N, H, W, words(C)], X's bits
    /// sign(X − IhTau[0..C)) and sign(X − HhTau[0..C)) in PackedLayout's layout, packed by the op that makes X (the
    /// decoder block's glue, writing YRest's bits against the cell's two τ). With them the cell reads these instead of
    /// packing X, and X may be the empty name (N, H and W then come from XPackedIh, C from HhAlpha): the same bits, so
    /// the same next state.
    /// </summary>
    public const int ConvGruXPackedIh = 10, ConvGruXPackedHh = 11, ConvGruInputCount = 12;

    /// <summary>
    /// Optional float-list attribute of Upsample2xConcat (whose inputs are variadic, so τ cannot be an input as
    /// ShortcutRPReLU's TauNext is): the C values of τ of the binary conv that reads Y. With it the op also
    /// writes output <see cref="PackedOutput"/>, YPacked (uint64 [N, H, W, words]: sign(Y − τ) in PackedLayout's
    /// layout), which that conv takes as XPacked.
    /// </summary>
    public const string TauNext = "tau_next";

    /// <summary>Output position of YPacked in Upsample2xConcat (as ShortcutRPReLU's <see cref="ActivationPackedOutput"/>).</summary>
    public const int PackedOutput = 1;

    /// <summary>
    /// Optional float-list attribute of Upsample2xConcat: the C values of τ of a second binary conv that reads Y (SHB's
    /// sparse 3×3 beside its dense 1×1). With it the op also writes output <see cref="SecondPackedOutput"/>,
    /// YPackedSecond (uint64 [N, H, W, words]: sign(Y − τ)), which that conv (folded into its glue) takes as SparseXPacked.
    /// </summary>
    public const string TauSecond = "tau_second";

    /// <summary>Output position of YPackedSecond in Upsample2xConcat.</summary>
    public const int SecondPackedOutput = 2;

    /// <summary>
    /// Optional int attribute of Upsample2xConcat, with <see cref="TauSecond"/>: the mask_scale k of the sparse 3×3
    /// (stride 1, pads 1, dilation 1) that reads YPackedSecond, whose mask is then the op's last input (uint8 or bool
    /// [N, 1, ⌈H/k⌉, ⌈W/k⌉], after the copied inputs). YPackedSecond is then written at least at every pixel an active
    /// output of that conv reads (within one row and one column of an active cell) and left unspecified elsewhere, as
    /// SparseXPacked allows.
    /// </summary>
    public const string SecondMaskScale = "second_mask_scale";
}
