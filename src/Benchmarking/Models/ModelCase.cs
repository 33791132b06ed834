using BiVM.Contracts;
using BiVM.Export;
using Onnx;

namespace BiVM.Benchmarking.Models;

/// <summary>One model <c>bivm bench --models</c> times: its name in the report, the ONNX bytes it runs, and the size of the file they stand for.</summary>
/// <param name="Name">"rvm", "rvm-react", "bivm", "bivm-lowered", "bivm-pipelined" or "rvm-pipelined".</param>
/// <param name="Bytes">The model as ONNX Runtime loads it.</param>
/// <param name="FileBytes">Size of the model file (for bivm-lowered: of the lowered model as it would be written).</param>
/// <param name="Source">Where it came from, for the report.</param>
public sealed record ModelCase(string Name, byte[] Bytes, long FileBytes, string Source)
{
    /// <summary>
    /// The shipped models, in report order; "bivm-lowered" is bivm with its binary convs in standard ops,
    /// "bivm-pipelined" bivm run by <see cref="BiVM.Estimators.Video.PipelinedVideoMatter"/> (its threads are the
    /// pipeline's workers, each stage on one thread, instead of ONNX Runtime's intra-op threads), and "rvm-pipelined"
    /// RVM run the same way: what <c>bivm matte</c> does with either model on two threads up to 1920×1080, and the
    /// baseline a pipelined BiVM is to be compared with (on the Zen 4 host it took RVM from 98 to 67–73 ms per
    /// 512×288 frame on two threads; on a Zen 5 host nothing on 2026-12-02, 59.2 → 47.1 and 47.5 → 37.6 ms on
    /// 2026-12-03).
    /// </summary>
    public static readonly IReadOnlyList<string> Names = ["rvm", "rvm-react", "bivm", "bivm-lowered", "bivm-pipelined", "rvm-pipelined"];

    /// <summary>The suffix of a model run as a pipeline of stages (<see cref="Pipelined"/>).</summary>
    public const string PipelinedSuffix = "-pipelined";

    /// <summary>Whether this case runs as a pipeline of stages (<see cref="BiVM.Estimators.Video.PipelinedVideoMatter"/>) rather than frame by frame.</summary>
    public bool Pipelined => IsPipelined(Name);

    private static bool IsPipelined(string name) => name.EndsWith(PipelinedSuffix, StringComparison.Ordinal);

    /// <summary>Name of the baseline the ratios are taken against: full-precision RVM on ONNX Runtime's FP32 kernels.</summary>
    public const string Baseline = "rvm";

    /// <summary>The baseline run as a pipeline of stages: with <see cref="Baseline"/>, the fastest RVM of a size and thread count.</summary>
    public const string PipelinedBaseline = Baseline + PipelinedSuffix;

    /// <summary>
    /// Loads the shipped models from <paramref name="modelsFolder"/> (models/rvm.onnx, rvm-react.onnx, bivm.onnx) and
    /// lowers bivm.onnx with <see cref="LoweredModel"/>. <paramref name="only"/> restricts the list (null: all).
    /// </summary>
    public static IReadOnlyList<ModelCase> Shipped(string modelsFolder, IReadOnlyCollection<string>? only = null)
    {
        var wanted = Names.Where(n => only is null || only.Contains(n)).ToList();
        var cases = new List<ModelCase>();
        foreach (var name in wanted)
        {
            string model = IsPipelined(name) ? name[..^PipelinedSuffix.Length] : name == "bivm-lowered" ? "bivm" : name;
            string file = Path.Combine(modelsFolder, model + ".onnx");
            if (!File.Exists(file)) throw new UserInputException($"{file}: model file not found (models/ holds rvm.onnx, rvm-react.onnx and bivm.onnx; see --model-dir)");
            byte[] bytes = File.ReadAllBytes(file);
            if (name == "bivm-lowered")
            {
                byte[] lowered = Google.Protobuf.MessageExtensions.ToByteArray(LoweredModel.From(ModelProto.Parser.ParseFrom(bytes)));
                cases.Add(new ModelCase(name, lowered, lowered.Length, $"{file}, binary convs lowered to standard ops"));
            }
            else if (model != name) cases.Add(new ModelCase(name, bytes, bytes.Length, $"{file}, cut into pipeline stages"));
            else cases.Add(new ModelCase(name, bytes, bytes.Length, file));
        }
        return cases;
    }

    /// <summary>The repository's models/ folder: the first one above the current directory or the program's own folder.</summary>
    public static string? FindModelsFolder()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "models", "bivm.onnx"))) return Path.Combine(dir.FullName, "models");
        return null;
    }
}
