namespace BiVM.Architecture.Tests;

internal static class RepositoryRoot
{
    /// <summary>The folder of BiVM.Onnx.sln above the test binaries.</summary>
    public static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "BiVM.Onnx.sln"))) return dir.FullName;
        throw new InvalidOperationException($"No BiVM.Onnx.sln above {AppContext.BaseDirectory}.");
    }
}
