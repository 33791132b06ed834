#:project ../../src/Export/BiVM.Export.csproj
#:property PublishAot=false
// An untrained BiVM (weights freshly initialised from seed 1) exported and fused as `bivm export` does, with a
// normalization and SHB mask densities of your choice: what a network variant would cost per frame before anyone
// trains it (its time does not depend on its weights, except through the SHB mask's density, which a single candidate
// density fixes). docs/kernels.md, thirty-ninth session: `frame` against `batch` (the paper's BatchNorm, folded into
// the convs), both at the test card's 5 %. Time the files with `bivm bench --models --model-dir DIR` (DIR holding them
// as rvm.onnx, rvm-react.onnx and bivm.onnx), or frame by frame in one process with ab-frames.cs and the two files.
// The decoder's widths are not part of ModelConfig: that session timed narrower ones with this probe run in a scratch
// copy of the repository whose DecoderPlan.RvmBlockChannels it had changed. From the repository root:
//
//   dotnet run -c Release scripts/probes/export-variant.cs -- OUT.onnx frame|batch [DENSITY ...]
using BiVM.Export;
using BiVM.Model;
using BiVM.Model.Binarization;
using BiVM.Model.Networks;

if (args.Length < 2 || args[1] is not ("frame" or "batch")) { Console.Error.WriteLine("usage: export-variant OUT.onnx frame|batch [DENSITY ...]"); return 2; }
var normalization = args[1] == "frame" ? BatchNormMode.Frame : BatchNormMode.Batch;
double[] densities = args.Length > 2 ? args.Skip(2).Select(double.Parse).ToArray() : [0.05];
TorchSharp.torch.manual_seed(1);
var config = ModelConfig.For(ModelFamily.Bivm) with { Normalization = normalization, ShbMaskDensities = densities };
using var network = ModelFactory.Create(ModelFamily.Bivm, config);
network.eval();
var exported = MattingExporter.Export(network, new ExportOptions { WeightsSource = "random initialisation, seed 1 (untrained: for timing only)" }).Fused();
long size = exported.Save(args[0]);
Console.WriteLine($"{args[0]}: {size} bytes, normalization {args[1]}, SHB mask densities {string.Join(", ", densities)}");
return 0;
