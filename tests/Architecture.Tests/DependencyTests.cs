namespace BiVM.Architecture.Tests;

/// <summary>The dependency rules hold for the .csproj files as they are, and each rule can fail.</summary>
public sealed class DependencyTests
{
    private static readonly ProjectGraph Repository = ProjectGraph.Load(RepositoryRoot.Find());

    public static TheoryData<string> Rules() => new(DependencyRules.All.Select(r => r.Description));

    [Theory]
    [MemberData(nameof(Rules))]
    public void Rule_holds(string description)
    {
        var rule = DependencyRules.All.Single(r => r.Description == description);
        Assert.Empty(rule.Violations(Repository));
    }

    [Fact]
    public void The_graph_holds_the_projects_the_rules_name()
    {
        Assert.Superset(new HashSet<string> { "Contracts", "CustomOps", "Graph", "Data", "Model", "Training", "Export", "Estimators", "Benchmarking", "Cli", "Benchmarks" },
            Repository.Projects.Keys.ToHashSet());
        // Read through the project that declares it: Training reaches Model's TorchSharp and Data's OpenCV.
        Assert.Contains("TorchSharp-cpu", Repository.ReachablePackages("Training"));
        Assert.Contains("OpenCvSharp4", Repository.ReachablePackages("Training"));
    }

    /// <summary>The edges the issue named, added one at a time to the real graph: each is caught by some rule.</summary>
    [Theory]
    [InlineData("Estimators", "Model")]
    [InlineData("Estimators", "Training")]
    [InlineData("CustomOps", "Graph")]
    [InlineData("Cli", "Benchmarks")]
    [InlineData("Model", "Data")]
    [InlineData("Graph", "Data")]   // Export → Graph → Data: found through the chain
    public void A_forbidden_edge_breaks_a_rule(string from, string to)
    {
        var changed = new ProjectGraph(Repository.Projects.Values.Select(p => p.Name == from ? p with { Projects = [.. p.Projects, to] } : p));
        Assert.Contains(DependencyRules.All, rule => rule.Violations(changed).Any());
    }

    [Fact]
    public void A_forbidden_package_breaks_a_rule()
    {
        var changed = new ProjectGraph(Repository.Projects.Values.Select(p => p.Name == "CustomOps" ? p with { Packages = [.. p.Packages, "TorchSharp-cpu"] } : p));
        Assert.Contains(DependencyRules.All, rule => rule.Violations(changed).Any());
    }

    [Fact]
    public void Every_project_is_in_the_solution_so_that_test_sh_builds_and_runs_it()
    {
        string root = RepositoryRoot.Find();
        string solution = File.ReadAllText(Path.Combine(root, "BiVM.Onnx.sln")).Replace('\\', '/');
        var projects = new[] { "src", "benchmarks", "tests" }
            .SelectMany(dir => Directory.GetFiles(Path.Combine(root, dir), "*.csproj", SearchOption.AllDirectories))
            .Select(path => Path.GetRelativePath(root, path).Replace('\\', '/'))
            .Where(path => !path.Contains("/obj/"))
            .ToList();
        Assert.NotEmpty(projects);
        Assert.All(projects, path => Assert.Contains($"\"{path}\"", solution));
    }
}
