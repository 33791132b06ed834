using BiVM.Cli;
using BiVM.Data.Media;
using BiVM.Model.Import;
using BiVM.Model.Networks;
using BiVM.Tests.Shared;

namespace BiVM.Cli.Tests;

/// <summary><c>bivm import</c>: the published RVM as a checkpoint that loads as our rvm family; bad input in one line.</summary>
public sealed class ImportCommandTests : IDisposable
{
    private readonly TempFolder _dir = new("bivm-import-");

    public void Dispose() => _dir.Dispose();

    private static string ModelJson() =>
        Path.Combine(Path.GetDirectoryName(MediaLocator.Default().Root)!, OfficialRvmImport.PackagedPath);

    [Fact]
    public void Writes_a_checkpoint_of_the_rvm_family_with_fixed_normalization_and_nothing_else()
    {
        string target = _dir.File("model.bin");
        var (code, stdout, stderr) = CliRunner.Run("import", "--tfjs", ModelJson(), "--out", target);
        Assert.True(code == 0, stderr);
        Assert.Contains("3,748,633 parameters", stdout);
        using var network = ModelCheckpoint.Load(target);
        Assert.Equal(BiVM.Model.ModelFamily.Rvm, network.Config.Family);
        Assert.Equal(BiVM.Model.Binarization.BatchNormMode.Fixed, network.Config.Normalization);
        Assert.Equal(["model.bin", "model.json"], Directory.GetFileSystemEntries(_dir.Path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void Bad_input_is_one_line_and_writes_nothing()
    {
        string missing = _dir.File("none.json");
        var (code, _, stderr) = CliRunner.Run("import", "--tfjs", missing, "--out", _dir.File("model.bin"));
        Assert.Equal(ExitCodes.UserInputError, code);
        Assert.Equal($"bivm import: {missing}: TF.js model not found", stderr.Trim());

        var wrongExtension = CliRunner.Run("import", "--tfjs", ModelJson(), "--out", _dir.File("model.onnx"));
        Assert.Equal(ExitCodes.UserInputError, wrongExtension.Code);
        Assert.Single(wrongExtension.Err.Trim().Split('\n'));
        Assert.Contains("ends in .bin", wrongExtension.Err);
        Assert.Empty(Directory.GetFileSystemEntries(_dir.Path));
    }
}
