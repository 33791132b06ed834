namespace BiVM.People.Tests;

public class TeacherIsolationTests
{
    /// <summary>
    /// The teacher ships in an AGPL-3.0 package: only the data-preparation tool and its tests may
    /// reference src/People, so nothing BiVM.Estimators or the bivm tool ships can load it.
    /// </summary>
    [Fact]
    public void Only_the_people_tool_and_its_tests_reference_it()
    {
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "BiVM.Onnx.sln"))) root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("no BiVM.Onnx.sln above the test");
        var referencing = Directory.GetFiles(root, "*.csproj", SearchOption.AllDirectories)
            .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !p.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Where(p => File.ReadAllText(p).Contains("BiVM.People.csproj"))
            .Select(p => Path.GetRelativePath(root, p))
            .ToArray();
        Assert.Equal([Path.Combine("tests", "People.Tests", "BiVM.People.Tests.csproj")], referencing);
        Assert.DoesNotContain("isnet", File.ReadAllText(Path.Combine(root, "src", "Estimators", "BiVM.Estimators.csproj")), StringComparison.OrdinalIgnoreCase);
    }
}
