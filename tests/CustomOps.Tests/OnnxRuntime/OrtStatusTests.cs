using System.Text.RegularExpressions;
using BiVM.CustomOps.OnnxRuntime;

namespace BiVM.CustomOps.Tests.OnnxRuntime;

/// <summary>A failed ORT status becomes an exception that keeps ORT's error code, not only its message.</summary>
public partial class OrtStatusTests
{
    [Theory]
    [InlineData(OrtErrorCode.InvalidArgument)]
    [InlineData(OrtErrorCode.NoSuchFile)]
    [InlineData(OrtErrorCode.EngineError)]
    public void Check_throws_with_the_status_code_and_message(OrtErrorCode code)
    {
        var e = Assert.Throws<OrtStatusException>(() => OrtApi.Check(OrtApi.CreateStatus(code, $"made with {code}")));
        Assert.Equal(code, e.Code);
        Assert.Equal($"made with {code}", e.Message);
    }

    [Fact]
    public void A_null_status_is_success()
    {
        OrtApi.Check(0);
        Assert.True(OrtApi.Succeeded(0));
    }

    [Fact]
    public void Error_codes_match_the_header()
    {
        var header = File.ReadAllText(Path.Combine(Path.GetDirectoryName(OrtApiIndexTests.HeaderPath())!, "onnxruntime_error_code.h"));
        // ORT_NO_SUCHFILE → NoSuchFile: the C names without the prefix, in Pascal case.
        var names = Enumerator().Matches(header).Select(m => string.Concat(m.Groups[1].Value.Split('_')
            .Select(w => w == "SUCHFILE" ? "SuchFile" : w == "EP" ? "Ep" : w[..1] + w[1..].ToLowerInvariant()))).ToList();
        Assert.Equal(names, Enum.GetNames<OrtErrorCode>());
        Assert.Equal(Enumerable.Range(0, names.Count), Enum.GetValues<OrtErrorCode>().Select(v => (int)v));
    }

    [GeneratedRegex(@"^  ORT_([A-Z_]+),?\s*$", RegexOptions.Multiline)]
    private static partial Regex Enumerator();
}
