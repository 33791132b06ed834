using BiVM.Tests.Shared;

namespace BiVM.Estimators.Tests;

/// <summary>A temporary folder with the contract test models written into it; deleted on Dispose.</summary>
internal sealed class TestModelFolder : IDisposable
{
    public TestModelFolder()
    {
        Luma = Path.Combine(Dir, "luma.onnx");
        Counter = Path.Combine(Dir, "counter.onnx");
        File.WriteAllBytes(Luma, ContractTestModels.LumaKeyWithCounter());
        File.WriteAllBytes(Counter, ContractTestModels.FrameCounter());
    }

    public string Dir { get; } = Directory.CreateTempSubdirectory("bivm-mlnet-").FullName;

    /// <summary>alpha = mean of R, G, B; foreground = the frame.</summary>
    public string Luma { get; }

    /// <summary>alpha = the number of frames the stream saw before this one.</summary>
    public string Counter { get; }

    public void Dispose() => Directory.Delete(Dir, recursive: true);
}
