using BiVM.Model.Binarization;
using BiVM.Model.Encoder;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BiVM.Export;

/// <summary>
/// The two encoders (MobileNetV3-Large for rvm / rvm-react, EBB for bivm) and LR-ASPP, mirroring their
/// forwards in src/Model/Encoder one op at a time.
/// </summary>
internal sealed class EncoderWriter(ExportGraph g, ConvWriter convs)
{
    private static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f];
    private static readonly float[] ImageNetStd = [0.229f, 0.224f, 0.225f];

    public FeatureNames Encoder(string name, nn.Module<Tensor, EncoderFeatures> backbone, string src) => backbone switch
    {
        MobileNetV3Encoder m => MobileNet(name, m, src),
        EbbEncoder e => Ebb(name, e, src),
        _ => throw new NotSupportedException($"encoder {backbone.GetType().Name}"),
    };

    /// <summary>LR-ASPP: act(BN(conv(x))) · sigmoid(conv(GAP(x))).</summary>
    public string LrAspp(string name, LrAspp aspp, string x)
    {
        var pooled = g.Op("GlobalAveragePool", name + ".pool", [x]);
        var gate = g.Op("Sigmoid", name + ".gate", [convs.BareConv(name + ".aspp2", pooled, ModuleTree.Child<nn.Module<Tensor, Tensor>>(aspp, "aspp2"))]);
        var main = convs.ConvBnAct(name + ".aspp1", x, ModuleTree.Child<ConvBnAct>(aspp, "aspp1"));
        return g.Op("Mul", name + ".mul", [main, gate]);
    }

    /// <summary>
    /// (x − mean)/std, kept as Sub + Div rather than folded into the stem conv: the stem zero-pads the
    /// normalised image, and folding would change what the padded border contributes.
    /// </summary>
    private string Normalize(string name, string src)
    {
        var centred = g.Op("Sub", name + ".sub_mean", [src, g.Floats("imagenet_mean", ImageNetMean, 1, 3, 1, 1)]);
        return g.Op("Div", name + ".div_std", [centred, g.Floats("imagenet_std", ImageNetStd, 1, 3, 1, 1)]);
    }

    private FeatureNames MobileNet(string name, MobileNetV3Encoder encoder, string src)
    {
        var x = convs.ConvBnAct(name + ".stem", Normalize(name, src), ModuleTree.Child<ConvBnAct>(encoder, "stem"));
        var blocks = ModuleTree.Child<ModuleList<InvertedResidual>>(encoder, "blocks");
        var taps = new string[encoder.Plan.Taps.Count];
        for (int i = 0; i < blocks.Count; i++)
        {
            x = InvertedResidual($"{name}.blocks.{i}", blocks[i], x);
            int tap = encoder.Plan.Taps.ToList().IndexOf(i);
            if (tap >= 0) taps[tap] = x;
        }
        var last = convs.ConvBnAct(name + ".last", x, ModuleTree.Child<ConvBnAct>(encoder, "last"));
        return new FeatureNames(taps[0], taps[1], taps[2], last);
    }

    private string InvertedResidual(string name, InvertedResidual block, string x)
    {
        var y = ModuleTree.Child(block, "expand") is ConvBnAct expand ? convs.ConvBnAct(name + ".expand", x, expand) : x;
        y = convs.ConvBnAct(name + ".depthwise", y, ModuleTree.Child<ConvBnAct>(block, "depthwise"));
        if (ModuleTree.Child(block, "se") is SqueezeExcitation se) y = SqueezeExcite(name + ".se", se, y);
        y = convs.ConvBn(name + ".project", y, ModuleTree.Child<ConvBnAct>(block, "project"));
        return block.Plan.Residual ? g.Op("Add", name + ".residual", [y, x]) : y;
    }

    /// <summary>x · hardsigmoid(fc2(relu(fc1(GAP(x))))); torch's hardsigmoid is relu6(x + 3)/6 = HardSigmoid(1/6, 1/2).</summary>
    private string SqueezeExcite(string name, SqueezeExcitation se, string x)
    {
        var s = g.Op("GlobalAveragePool", name + ".pool", [x]);
        s = g.Op("Relu", name + ".relu", [convs.BareConv(name + ".fc1", s, ModuleTree.Child<nn.Module<Tensor, Tensor>>(se, "fc1"))]);
        s = convs.BareConv(name + ".fc2", s, ModuleTree.Child<nn.Module<Tensor, Tensor>>(se, "fc2"));
        s = g.Op("HardSigmoid", name + ".hardsigmoid", [s], n => n.Attribute("alpha", 1f / 6).Attribute("beta", 0.5f));
        return g.Op("Mul", name + ".scale", [x, s]);
    }

    private FeatureNames Ebb(string name, EbbEncoder encoder, string src)
    {
        var x = convs.ConvBnAct(name + ".stem", Normalize(name, src), ModuleTree.Child<ConvBnAct>(encoder, "stem"));
        var f1 = x;
        var blocks = encoder.Blocks.ToList();
        var taps = new string[encoder.Plan.Taps.Count];
        for (int i = 0; i < blocks.Count; i++)
        {
            x = EbbBlock($"{name}.blocks.{i}", blocks[i], x);
            int tap = encoder.Plan.Taps.ToList().IndexOf(i);
            if (tap >= 0) taps[tap] = x;
        }
        return new FeatureNames(f1, taps[0], taps[1], taps[2]);
    }

    /// <summary>ψ(x) = θ↓(θ↑(θ(x)) + γ₂ᶜ f(x)) + γ₁ᶜ f(θ(x)) + γᴮ f(x), eqs. (11)–(12).</summary>
    private string EbbBlock(string name, Ebb block, string x)
    {
        var plan = block.Plan;
        var headOut = SubEbb(name + ".head", ModuleTree.Child<SubEbb>(block, "head"), x);
        var middle = SubEbb(name + ".middle", ModuleTree.Child<SubEbb>(block, "middle"), headOut);
        var inner = g.Op("Add", name + ".add_c2", [middle, ScaledMap(name + ".map_c2", x, plan.In, plan.Middle.Out, plan.Stride, ModuleTree.Parameter(block, "gamma_c2"))]);
        var tail = ModuleTree.Child(block, "tail") is SubEbb t ? SubEbb(name + ".tail", t, inner) : inner;
        var phi = g.Op("Add", name + ".add_c1", [tail, ScaledMap(name + ".map_c1", headOut, plan.Head.Out, plan.Out, 1, ModuleTree.Parameter(block, "gamma_c1"))]);
        return g.Op("Add", name + ".add_b", [phi, ScaledMap(name + ".map_b", x, plan.In, plan.Out, plan.Stride, ModuleTree.Parameter(block, "gamma_b"))]);
    }

    /// <summary>θ(x): x' = act(BN(bconv₃(x)) + γ₂ᴸ f(x)), o = act(BN(bconv₁(x')) + γ₁ᴸ f(x')), eq. (9).</summary>
    private string SubEbb(string name, SubEbb sub, string x)
    {
        var plan = sub.Plan;
        var c3 = convs.ConvBn(name + ".conv3", x, ModuleTree.Child<ConvBnAct>(sub, "conv3"));
        var mid = g.Op("Add", name + ".add_l2", [c3, ScaledMap(name + ".map_l2", x, plan.In, plan.In, plan.Stride, ModuleTree.Parameter(sub, "gamma_l2"))]);
        mid = convs.Activation(name + ".act3", mid, ModuleTree.Child<nn.Module<Tensor, Tensor>>(sub, "act3"));
        var c1 = convs.ConvBn(name + ".conv1", mid, ModuleTree.Child<ConvBnAct>(sub, "conv1"));
        var o = g.Op("Add", name + ".add_l1", [c1, ScaledMap(name + ".map_l1", mid, plan.In, plan.Out, 1, ModuleTree.Parameter(sub, "gamma_l1"))]);
        return convs.Activation(name + ".act1", o, ModuleTree.Child<nn.Module<Tensor, Tensor>>(sub, "act1"));
    }

    /// <summary>
    /// γ·f(x) with f the channel map of eq. (10), γ folded into one Mul: a reduction by k chunks is written as
    /// ReduceSum·(γ/k) instead of mean then ·γ (k is a power of two, so γ/k is exact and so is the result);
    /// an expansion multiplies before the Tile (k times fewer elements, same values).
    /// </summary>
    private string ScaledMap(string name, string x, long inChannels, long outChannels, long stride, Tensor gamma)
    {
        if (stride == 2) x = Resampling.Down2(g, x);
        else if (stride != 1) throw new NotSupportedException($"{name}: stride {stride} has no pooling map");
        float gammaValue = TensorData.Scalar(gamma);
        if (inChannels == outChannels) return g.Op("Mul", name + ".gamma", [x, g.Scalar(gammaValue)]);
        ChannelMap.Validate(inChannels, outChannels);
        if (inChannels < outChannels)
        {
            var scaled = g.Op("Mul", name + ".gamma", [x, g.Scalar(gammaValue)]);
            var channels = outChannels / inChannels;
            return g.Op("Tile", name + ".repeat", [scaled, g.Int64s("tile", [1L, channels, 1L, 1L], 4)]);
        }
        long k = inChannels / outChannels;
        // [N, C, H, W] → [N, k, C/k, H·W] → sum over the k chunks → [N, C/k, H, W].
        var chunks = g.Op("Reshape", name + ".chunks", [x, g.Int64s("chunk_shape", [0L, k, outChannels, -1L], 4)]);
        var sum = g.Op("ReduceSum", name + ".sum", [chunks, g.Int64s("axis1", [1L], 1)], n => n.Attribute("keepdims", 0L));
        var nc = g.Int64s("n_c", [0L, outChannels], 2);
        var shape = g.Op("Concat", name + ".shape", [nc, Shapes.HeightWidth(g, x)], n => n.Attribute("axis", 0L));
        var back = g.Op("Reshape", name + ".unflatten", [sum, shape]);
        return g.Op("Mul", name + ".gamma", [back, g.Scalar(gammaValue / k)]);
    }
}
