using BiVM.Contracts;
using Onnx;

namespace BiVM.Cli.Tests;

/// <summary>
/// <c>bivm export</c> fuses the glue between binary layers by default, <c>--no-fuse</c> keeps it, and
/// <c>--fuse IN --out OUT</c> fuses an existing file to what the default export writes; bad uses fail in one line.
/// (That the fused file computes the same bits: tests/Export.Tests/GlueFusionTests.cs.)
/// </summary>
public sealed class ExportFuseTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bivm-fuse-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static int Glue(string path) =>
        ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph.Node.Count(n => n.OpType == BinaryConvSchema.ShortcutRPReLU);

    [Fact]
    public void No_fuse_export_then_fuse_gives_the_default_export()
    {
        string plain = Path.Combine(_dir, "plain.onnx"), fused = Path.Combine(_dir, "fused.onnx"), direct = Path.Combine(_dir, "direct.onnx");
        var (code, _, err) = CliRunner.Run("export", "--family", "bivm", "--random-seed", "3", "--no-fuse", "--out", plain);
        Assert.True(code == 0, err);
        Assert.Equal(0, Glue(plain));
        (code, var stdout, err) = CliRunner.Run("export", "--fuse", plain, "--out", fused);
        Assert.True(code == 0, err);
        Assert.Contains("42 chains fused into ShortcutRPReLU", stdout); // 40 in the main graph, 2 in the DGF's If branch
        Assert.Contains("2 GuidedUpsample (the output tail: the DGF's, and alone at downsample 1)", stdout);
        Assert.Contains("4 Upsample2xConcat nodes", stdout); // decode3..decode0: Resize ×2 + crop + Concat each
        Assert.Contains("4 ConvGRUs as GruStateConcat + GruGates + GruUpdate", stdout); // decode4..decode1
        Assert.Equal(40, Glue(fused));
        (code, _, err) = CliRunner.Run("export", "--family", "bivm", "--random-seed", "3", "--out", direct);
        Assert.True(code == 0, err);
        var a = ModelProto.Parser.ParseFrom(File.ReadAllBytes(fused)).Graph;
        var b = ModelProto.Parser.ParseFrom(File.ReadAllBytes(direct)).Graph;
        Assert.Equal(b.Node.Select(n => (n.OpType, string.Join(",", n.Input), string.Join(",", n.Output))), a.Node.Select(n => (n.OpType, string.Join(",", n.Input), string.Join(",", n.Output))));
    }

    [Fact]
    public void Fuse_of_a_missing_file_is_one_line()
    {
        var (code, _, err) = CliRunner.Run("export", "--fuse", Path.Combine(_dir, "none.onnx"), "--out", Path.Combine(_dir, "out.onnx"));
        Assert.Equal(ExitCodes.UserInputError, code);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("--fuse: ", err);
        Assert.Contains("none.onnx not found", err);
        Assert.False(File.Exists(Path.Combine(_dir, "out.onnx")));
    }

    [Fact]
    public void Fuse_of_a_file_that_is_not_onnx_is_one_line()
    {
        string junk = Path.Combine(_dir, "junk.onnx");
        File.WriteAllBytes(junk, [0xff, 0xff, 0xff, 0x01, 0x02]);
        var (code, _, err) = CliRunner.Run("export", "--fuse", junk, "--out", Path.Combine(_dir, "out.onnx"));
        Assert.Equal(ExitCodes.UserInputError, code);
        Assert.Contains("is not an ONNX file", err);
    }

    [Theory]
    [InlineData("--family", "bivm")]
    [InlineData("--random-seed", "1")]
    [InlineData("--lowered")]
    public void Fuse_with_export_options_is_a_usage_error(params string[] extra)
    {
        var (code, _, err) = CliRunner.Run(["export", "--fuse", "in.onnx", "--out", "out.onnx", .. extra]);
        Assert.Equal(ExitCodes.UsageError, code);
        Assert.StartsWith("bivm: ", err);
    }
}
