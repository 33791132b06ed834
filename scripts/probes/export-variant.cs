#:project ../../src/Export/BiVM.Export.csproj
#:property PublishAot=false
// An untrained BiVM (weights freshly initialised from seed 1) exported and fused as `bivm export` does, with a
// normalization and SHB mask densities of your choice: what a network variant would cost per frame before anyone
// trains it (its time does not depend on its weights, except through the SHB mask's density, which a single candidate
// density fixes). docs/kernels.md, thirty-ninth session: `frame` against `batch` (the paper's BatchNorm, folded into
// the convs), and the decoder's widths (ModelConfig.DecoderChannels, RVM's 80,40,32,16) against 80,40,16,8, all at the
// test card's 5 %. Time the files with `bivm bench --models --model-dir DIR` (DIR holding them as rvm.onnx,
// rvm-react.onnx and bivm.onnx), or frame by frame in one process with ab-frames.cs and the two files. From the
// repository root:
//
//   dotnet run -c Release scripts/probes/export-variant.cs -- OUT.onnx frame|batch [D3,D2,D1,D0] [DENSITY ...]
using BiVM.Export;
using BiVM.Model;
using BiVM.Model.Binarization;
using BiVM.Model.Networks;

if (args.Length < 2 || args[1] is not ("frame" or "batch")) { Console.Error.WriteLine("usage: export-variant OUT.onnx frame|batch [D3,D2,D1,D0] [DENSITY ...]"); return 2; }
var normalization = args[1] == "frame" ? BatchNormMode.Frame : BatchNormMode.Batch;
var rest = args.Skip(2).ToList();
long[]? widths = rest.FirstOrDefault(a => a.Contains(','))?.Split(',').Select(long.Parse).ToArray();
double[] densities = rest.Where(a => !a.Contains(',')).Select(double.Parse).DefaultIfEmpty(0.05).ToArray();
TorchSharp.torch.manual_seed(1);
var config = ModelConfig.For(ModelFamily.Bivm) with { Normalization = normalization, ShbMaskDensities = densities };
if (widths is not null) config = config with { DecoderChannels = widths };
using var network = ModelFactory.Create(ModelFamily.Bivm, config);
network.eval();
var exported = MattingExporter.Export(network, new ExportOptions { WeightsSource = "random initialisation, seed 1 (untrained: for timing only)" }).Fused();
long size = exported.Save(args[0]);
Console.WriteLine($"{args[0]}: {size} bytes, normalization {args[1]}, decoder {string.Join(", ", config.DecoderChannels)}, SHB mask densities {string.Join(", ", densities)}");
return 0;
