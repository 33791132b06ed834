using BiVM.Model.Binarization;
using BiVM.Model.Decoder;
using static TorchSharp.torch;

namespace BiVM.Export;

/// <summary>
/// RVM's recurrent decoder with BiVM's SHB (src/Model/Decoder), one frame at a time (T = 1, like RVM's
/// ONNX release): the ConvGRUs read r_k·i and their new hidden state is both the block output and r_k·o.
/// </summary>
internal sealed class DecoderWriter(ExportGraph g, ConvWriter convs)
{
    /// <param name="states">r1i..r4i (any shape that broadcasts to the state, e.g. [1,1,1,1] zeros).</param>
    public DecodedNames Decoder(string name, RecurrentDecoder decoder, string source, FeatureNames f, string f4, IReadOnlyList<string> states)
    {
        var s1 = Resampling.Down2(g, source);
        var s2 = Resampling.Down2(g, s1);
        var s3 = Resampling.Down2(g, s2);
        var (x4, r4) = Bottleneck(name + ".decode4", ModuleTree.Child<BottleneckBlock>(decoder, "decode4"), f4, states[3]);
        string? mask = null;
        if (decoder.Plan.UseShb)
        {
            // The candidate order (sparsest first) is IncoherentMask's own, so ties resolve the same way.
            var densities = new IncoherentMask(decoder.Plan.ShbMaskDensities).CandidateDensities;
            mask = IncoherentMaskWriter.Write(g, name + ".mask", x4, decoder.Plan.FeatureChannels[3], densities);
        }
        var (x3, r3) = Upsampling(name + ".decode3", ModuleTree.Child<UpsamplingBlock>(decoder, "decode3"), x4, f.F3, s3, states[2], mask);
        var (x2, r2) = Upsampling(name + ".decode2", ModuleTree.Child<UpsamplingBlock>(decoder, "decode2"), x3, f.F2, s2, states[1], mask);
        var (x1, r1) = Upsampling(name + ".decode1", ModuleTree.Child<UpsamplingBlock>(decoder, "decode1"), x2, f.F1, s1, states[0], mask);
        var hidden = Output(name + ".decode0", ModuleTree.Child<OutputBlock>(decoder, "decode0"), x1, source, mask);
        return new DecodedNames(hidden, [r1, r2, r3, r4]);
    }

    private (string Output, string State) Bottleneck(string name, BottleneckBlock block, string x, string state)
    {
        var gru = ModuleTree.Child<ConvGru>(block, "gru");
        return SplitGru(name, x, gru, state);
    }

    private (string Output, string State) Upsampling(string name, UpsamplingBlock block, string x, string skip, string source, string state, string? mask)
    {
        x = Resampling.Up2To(g, name + ".upsample", x, source);
        x = DecoderConv(name, name + ".conv", block.Conv, [(x, block.InChannels), (skip, block.SkipChannels), (source, DecoderPlan.SourceChannels)], mask);
        return SplitGru(name, x, ModuleTree.Child<ConvGru>(block, "gru"), state);
    }

    private string Output(string name, OutputBlock block, string x, string source, string? mask)
    {
        x = Resampling.Up2To(g, name + ".upsample", x, source);
        x = DecoderConv(name, name + ".conv1", ModuleTree.Child<DecoderConv>(block, "conv1"), [(x, block.InChannels), (source, DecoderPlan.SourceChannels)], mask);
        return DecoderConv(name + ".conv2", ModuleTree.Child<DecoderConv>(block, "conv2"), x, mask);
    }

    /// <summary>chunk(2) → ConvGRU on the second half → cat, shared by the bottleneck and upsampling blocks.</summary>
    private (string Output, string State) SplitGru(string name, string x, ConvGru gru, string state)
    {
        long half = gru.Channels;
        var halves = g.Ops("Split", name + ".split", [x, g.Int64s("split_halves_" + half, [half, half], 2)], 2, n => n.Attribute("axis", 1L));
        var h = Gru(name + ".gru", gru, halves[1], state);
        return (g.Op("Concat", name + ".cat", [halves[0], h], n => n.Attribute("axis", 1L)), h);
    }

    /// <summary>
    /// One ConvGRU step: h = expand(state) ([1,1,1,1] zeros on the first frame broadcast like torch's expand),
    /// [r, z] = σ(conv_ih([x, h])), c = tanh(conv_hh([x, r⊙h])), h' = (1 − z)⊙h + z⊙c.
    /// </summary>
    private string Gru(string name, ConvGru gru, string x, string state)
    {
        var h = g.Op("Expand", name + ".expand_state", [state, g.Op("Shape", name + ".x_shape", [x])]);
        var xh = g.Op("Concat", name + ".cat_ih", [x, h], n => n.Attribute("axis", 1L));
        var gates = g.Op("Sigmoid", name + ".gates", [convs.BareConv(name + ".ih", xh, ModuleTree.Child<nn.Module<Tensor, Tensor>>(gru, "ih"))]);
        long c = gru.Channels;
        var rz = g.Ops("Split", name + ".split_gates", [gates, g.Int64s("split_halves_" + c, [c, c], 2)], 2, n => n.Attribute("axis", 1L));
        var rh = g.Op("Mul", name + ".r_h", [rz[0], h]);
        var xrh = g.Op("Concat", name + ".cat_hh", [x, rh], n => n.Attribute("axis", 1L));
        var candidate = g.Op("Tanh", name + ".candidate", [convs.BareConv(name + ".hh", xrh, ModuleTree.Child<nn.Module<Tensor, Tensor>>(gru, "hh"))]);
        var keep = g.Op("Mul", name + ".keep", [g.Op("Sub", name + ".one_minus_z", [g.Scalar(1f), rz[1]]), h]);
        var update = g.Op("Mul", name + ".update", [rz[1], candidate]);
        return g.Op("Add", name + ".h_next", [keep, update]);
    }

    /// <summary>
    /// A decoder 3×3 over the channel concatenation of <paramref name="parts"/>. A plain 32-bit conv with its
    /// BatchNorm folded (RVM's) is written as one conv per part, summed (<see cref="ConvWriter.ConvBnActOverParts"/>):
    /// every other kind reads the Concat (named after the <paramref name="block"/>).
    /// </summary>
    private string DecoderConv(string block, string name, DecoderConv conv, IReadOnlyList<(string Tensor, long Channels)> parts, string? mask)
    {
        if (conv.Dense is { } dense && ConvWriter.SplitsOverParts(dense))
            return convs.ConvBnActOverParts(name, parts, dense);
        var x = g.Op("Concat", block + ".concat", [.. parts.Select(p => p.Tensor)], n => n.Attribute("axis", 1L));
        return DecoderConv(name, conv, x, mask);
    }

    /// <summary>The decoder 3×3: plain ConvBnAct, or SHB (eq. 17): act(SH-bconv₃(x; mask) + bconv₁(x)).</summary>
    private string DecoderConv(string name, DecoderConv conv, string x, string? mask)
    {
        if (conv.Shb is not { } shb) return convs.ConvBnAct(name, x, conv.Dense!);
        if (mask is null) throw new InvalidOperationException($"{name}: SHB without a mask");
        var sparse = convs.ConvBn(name + ".sparse_conv3", x, shb.SparseConv, SparseMask(shb, mask), shb.MaskScale);
        var dense = convs.ConvBn(name + ".conv1", x, shb.DenseConv);
        var sum = g.Op("Add", name + ".sum", [sparse, dense]);
        return convs.Activation(name + ".act", sum, ModuleTree.Child<nn.Module<Tensor, Tensor>>(shb, "act"));
    }

    /// <summary>
    /// The Mask input of SparseBinaryConv2d is uint8 (contract); the 32-bit model multiplies by the float mask.
    /// One Cast for the whole decoder.
    /// </summary>
    private string SparseMask(Shb shb, string mask) => shb.SparseConv.Conv is BinaryConv2d
        ? g.Memo($"mask_u8|{mask}", () => g.Op("Cast", mask + ".uint8", [mask], n => n.Attribute("to", (long)Onnx.TensorProto.Types.DataType.Uint8)))
        : mask;
}
