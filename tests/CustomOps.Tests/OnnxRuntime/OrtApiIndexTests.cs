using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using BiVM.CustomOps.OnnxRuntime;

namespace BiVM.CustomOps.Tests.OnnxRuntime;

/// <summary>The function-table indices and the OrtCustomOp layout, re-derived from the C header in the NuGet package.</summary>
public partial class OrtApiIndexTests
{
    internal static string HeaderPath()
    {
        string root = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string version = typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly.GetName().Version is { } v ? $"{v.Major}.{v.Minor}.{v.Build}" : "1.31.1";
        return Path.Combine(root, "microsoft.ml.onnxruntime", version, "build", "native", "include", "onnxruntime_c_api.h");
    }

    private static string StructBody(string header, string name)
    {
        int start = header.IndexOf($"struct {name} {{", StringComparison.Ordinal);
        Assert.True(start >= 0, $"struct {name} not found");
        int end = header.IndexOf("\n};", start, StringComparison.Ordinal);
        string body = header[start..end];
        body = BlockComment().Replace(body, "");
        return LineComment().Replace(body, "");
    }

    /// <summary>Member names in declaration order, expanding ORT_API2_STATUS / ORT_CLASS_RELEASE / ORT_API_T macros.</summary>
    private static List<string> OrtApiMembers(string header) =>
        Member().Matches(StructBody(header, "OrtApi")).Select(m =>
            m.Groups[1].Success ? m.Groups[1].Value :
            m.Groups[2].Success ? "Release" + m.Groups[2].Value :
            m.Groups[3].Success ? m.Groups[3].Value : m.Groups[4].Value).ToList();

    [Fact]
    public void Header_version_matches_the_api_version_we_request()
    {
        var header = File.ReadAllText(HeaderPath());
        Assert.Matches(new Regex(@"#define ORT_API_VERSION " + OrtApi.ApiVersion + @"\b"), header);
    }

    [Fact]
    public void Every_index_matches_the_header()
    {
        var members = OrtApiMembers(File.ReadAllText(HeaderPath()));
        Assert.True(members.Count > 300, $"parsed only {members.Count} OrtApi members");
        Assert.Equal("CreateStatus", members[0]);
        foreach (var index in Enum.GetValues<OrtApiIndex>())
        {
            Assert.Equal(1, members.Count(m => m == index.ToString()));
            Assert.True(members.IndexOf(index.ToString()) == (int)index, $"{index}: ours {(int)index}, header {members.IndexOf(index.ToString())}");
        }
    }

    [Fact]
    public void OrtCustomOp_layout_matches_the_header()
    {
        var body = StructBody(File.ReadAllText(HeaderPath()), "OrtCustomOp");
        var headerFields = Pointer().Matches(body).Select(m => m.Groups[1].Value).ToList();
        var ourFields = typeof(OrtCustomOp).GetFields().Select(f => f.Name).Skip(1).ToList();
        Assert.Equal(headerFields, ourFields);
        Assert.Equal(208, Marshal.SizeOf<OrtCustomOp>());
        Assert.Equal(136, (int)Marshal.OffsetOf<OrtCustomOp>(nameof(OrtCustomOp.CreateKernelV2)));
        Assert.Equal(152, (int)Marshal.OffsetOf<OrtCustomOp>(nameof(OrtCustomOp.InferOutputShapeFn)));
    }

    [GeneratedRegex(@"/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex BlockComment();

    [GeneratedRegex(@"//[^\n]*")]
    private static partial Regex LineComment();

    [GeneratedRegex(@"ORT_API2_STATUS\(\s*(\w+)|ORT_CLASS_RELEASE2?\(\s*(\w+)|\(ORT_API_CALL\s*\*\s*(\w+)\)|ORT_API_T\([^,]+,\s*(\w+)")]
    private static partial Regex Member();

    [GeneratedRegex(@"\(ORT_API_CALL\s*\*\s*(\w+)\)")]
    private static partial Regex Pointer();
}
