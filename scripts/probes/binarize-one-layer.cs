#:project ../../src/Training/BiVM.Training.csproj
#:property PublishAot=false
// How much of the published RVM survives when ONE of RVM-ReActNet's binary convs is 1-bit and every other layer is
// the published 32-bit one (docs/people.md, "One layer at a time"). Run from the repository root after ./install.sh:
//
//   dotnet run scripts/probes/binarize-one-layer.cs -- affine    # 1-bit part fitted by least squares, gain and offset
//   dotnet run scripts/probes/binarize-one-layer.cs -- rms       # the RMS gain progressive binarization calibrates
//
// The published weights in rvm-react (fixed BatchNorms, RPReLU slopes 0, ProgressiveBinarization at β = 0), thresholds
// τ set to the median of each conv's input on real-people clip 7, then per output channel of every binary conv the
// 1-bit output fitted to the 32-bit one on the same clip. Each conv alone at β = 1 is scored by its real-people MAD
// (clips 0, 5, 10 at downsample 0.5, untrained DGF); also printed: the mean correlation over channels between the
// conv's 1-bit and 32-bit outputs. One thread; about 4 minutes.
using BiVM.Data.IO;
using BiVM.Data.Metrics;
using BiVM.Data.Synthesis;
using BiVM.Model;
using BiVM.Model.Binarization;
using BiVM.Model.Networks;
using TorchSharp;
using static TorchSharp.torch;

bool affine = (args.Length > 0 ? args[0] : "affine") switch
{
    "affine" => true,
    "rms" => false,
    var other => throw new ArgumentException($"fit '{other}': affine or rms"),
};
const string People = ".data/people/val-people-s2001";
torch.set_num_threads(1);
var net = ModelFactory.Create(ModelConfig.For(ModelFamily.RvmReact) with { Normalization = BatchNormMode.Fixed });
using (var published = ModelCheckpoint.Load(".runs/rvm-published/model.bin"))
{
    var from = published.state_dict();
    using (no_grad())
        foreach (var (name, t) in net.state_dict())
            if (from.TryGetValue(name, out var v) && v.shape.SequenceEqual(t.shape)) t.copy_(v);
}
ProgressiveBinarization.StartFromRelu(net);
ProgressiveBinarization.Set(net, 0);
net.eval();
Tensor Src(Clip c) => tensor(c.Src, [1, c.Frames, 3, c.Height, c.Width]);
var calibration = ClipFolder.Read($"{People}/0007");
void Calibrate() { using var s = NewDisposeScope(); using var _ = no_grad(); net.call(Src(calibration), null, 0.5); }
ThresholdCalibration.Calibrate(net, Calibrate);

// Per output channel c of each conv, on the calibration clip: r = the 32-bit conv, b = the 1-bit conv (gain 1);
// affine: r ≈ g·b + o by least squares (g = cov(r, b) / var(b), o = mean r − g·mean b); rms: g = RMS(r) / RMS(b), o = 0.
var convs = net.named_modules().Where(m => m.module is BinaryConv2d).Select(m => (m.name, conv: (BinaryConv2d)m.module)).ToList();
var fits = new Dictionary<BinaryConv2d, (Tensor Gain, Tensor Offset, double Correlation)>();
var hooks = convs.Select(c => c.conv.register_forward_pre_hook((module, input) =>
{
    var conv = (BinaryConv2d)module;
    if (fits.ContainsKey(conv)) return input;
    using (no_grad())
    {
        Tensor Conv(Tensor x, Tensor w) => nn.functional.conv2d(x, w, strides: new[] { conv.Stride, conv.Stride },
            padding: new[] { conv.Padding, conv.Padding }, dilation: new[] { conv.Dilation, conv.Dilation });
        var dims = new long[] { 0, 2, 3 };
        var r = Conv(input, conv.LatentWeight);
        var b = Conv(BinarySign.Hard(input - conv.Tau.view(1, -1, 1, 1)), conv.SignWeight()) * conv.LatentWeight.abs().mean(new long[] { 1, 2, 3 }).view(1, -1, 1, 1);
        var rMean = r.mean(dims, keepdim: true);
        var bMean = b.mean(dims, keepdim: true);
        var cov = ((r - rMean) * (b - bMean)).mean(dims);
        var varB = (b - bMean).square().mean(dims);
        var varR = (r - rMean).square().mean(dims);
        var correlation = (cov / (varB * varR).sqrt().clamp_min(1e-20)).mean().item<float>();
        Tensor gain, offset;
        if (affine)
        {
            gain = where(varB.gt(1e-20), cov / varB.clamp_min(1e-20), zeros_like(cov));
            offset = rMean.flatten() - gain * bMean.flatten();
        }
        else
        {
            var rms = (r.square().mean(dims) / b.square().mean(dims).clamp_min(1e-24)).sqrt();
            gain = where(b.square().mean(dims).gt(1e-24), rms, ones_like(rms));
            offset = zeros_like(gain);
        }
        fits[conv] = (gain.clone().DetachFromDisposeScope(), offset.clone().DetachFromDisposeScope(), correlation);
    }
    return input;
})).ToList();
Calibrate();
foreach (var hook in hooks) hook.remove();

var clips = new[] { 0, 5, 10 }.Select(i => ClipFolder.Read($"{People}/{i:D4}")).ToList();
double Score() => clips.Average(c =>
{
    using var scope = NewDisposeScope();
    using var _ = no_grad();
    return Mad.Compute(net.call(Src(c), null, 0.5).Pha.contiguous().data<float>().ToArray(), c.Pha);
});
Console.WriteLine($"fit {(affine ? "affine (least squares)" : "rms")}; all background {clips.Average(c => Mad.Compute(new float[c.Pha.Length], c.Pha)):F1}; every layer 32-bit {Score():F1}");
var modules = net.named_modules().ToDictionary(m => m.name, m => m.module);
foreach (var (name, conv) in convs)
{
    var (gain, offset, correlation) = fits[conv];
    // The offset goes where the exported conv would carry it: into the fixed BatchNorm's mean after the conv
    // (BN(y + o) = BN'(y) with μ' = μ − o), or into the conv's own bias.
    var norm = name.EndsWith(".conv") && modules[name[..^".conv".Length]] is ConvBnAct unit ? unit.Norm : null;
    var target = norm?.running_mean ?? (Tensor?)conv.Bias;
    var saved = target?.clone();
    using (no_grad())
    {
        conv.Gain.copy_(gain);
        if (norm is not null) norm.running_mean!.sub_(offset);
        else conv.Bias?.add_(offset);
    }
    conv.Binarization = 1;
    Console.WriteLine($"{name,-40} {conv.InChannels,4}->{conv.OutChannels,-4} k{conv.KernelSize}  correlation {correlation:F2}  MAD {Score():F1}");
    conv.Binarization = 0;
    using (no_grad())
    {
        conv.Gain.fill_(1);
        if (saved is not null) target!.copy_(saved);
    }
}
