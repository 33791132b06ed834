using System.Xml.Linq;

namespace BiVM.Architecture.Tests;

/// <summary>One project: its name (the file name without BiVM. and .csproj), folder, and direct references.</summary>
public sealed record ProjectNode(string Name, string Folder, IReadOnlyList<string> Projects, IReadOnlyList<string> Packages);

/// <summary>
/// The projects of the repository and their references, read from the .csproj files themselves (ProjectReference
/// and PackageReference items), so that the rules and the picture describe what the builds really use.
/// </summary>
public sealed class ProjectGraph
{
    public ProjectGraph(IEnumerable<ProjectNode> projects) => Projects = projects.ToDictionary(p => p.Name);

    public IReadOnlyDictionary<string, ProjectNode> Projects { get; }

    /// <summary>The shipped code and the benchmarks: every .csproj under src/ and benchmarks/ (tests are not drawn).</summary>
    public static ProjectGraph Load(string root) => new(
        new[] { "src", "benchmarks" }.SelectMany(dir => Directory.GetFiles(Path.Combine(root, dir), "*.csproj", SearchOption.AllDirectories))
            .Where(path => !path.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
            .Select(path => Read(root, path)));

    public static string NameOf(string csprojPath) =>
        Path.GetFileNameWithoutExtension(csprojPath) is var file && file.StartsWith("BiVM.", StringComparison.Ordinal) ? file["BiVM.".Length..] : file;

    public static ProjectNode Read(string root, string csprojPath)
    {
        var xml = XDocument.Load(csprojPath);
        var dir = Path.GetDirectoryName(csprojPath)!;
        var projects = xml.Descendants("ProjectReference").Select(r => NameOf(Path.GetFullPath(Path.Combine(dir, (string)r.Attribute("Include")!)))).ToList();
        var packages = xml.Descendants("PackageReference").Select(r => (string)r.Attribute("Include")!).ToList();
        return new ProjectNode(NameOf(csprojPath), Path.GetRelativePath(root, dir).Replace('\\', '/'), projects, packages);
    }

    /// <summary>Every project <paramref name="name"/> builds against, directly or through other projects.</summary>
    public IReadOnlySet<string> ReachableProjects(string name)
    {
        var seen = new HashSet<string>();
        var todo = new Stack<string>(Projects[name].Projects);
        while (todo.TryPop(out var next))
            if (seen.Add(next) && Projects.TryGetValue(next, out var node))
                foreach (var p in node.Projects) todo.Push(p);
        return seen;
    }

    /// <summary>Every package <paramref name="name"/> gets, from its own references or those of the projects it reaches.</summary>
    public IReadOnlySet<string> ReachablePackages(string name) =>
        ReachableProjects(name).Append(name).Where(Projects.ContainsKey).SelectMany(p => Projects[p].Packages).ToHashSet();

    /// <summary>
    /// The picture of docs/architecture.md: projects as boxes (by folder), project references as arrows, packages
    /// as rounded nodes with dotted arrows. Sorted, so that the text changes only when a reference does.
    /// </summary>
    public string ToMermaid()
    {
        static string Id(string name) => name.Replace(".", "_").Replace("-", "_");
        var lines = new List<string> { "graph LR" };
        foreach (var p in Projects.Values.OrderBy(p => p.Name, StringComparer.Ordinal))
            lines.Add($"  {Id(p.Name)}[\"{p.Name}<br/><small>{p.Folder}</small>\"]");
        foreach (var package in Projects.Values.SelectMany(p => p.Packages).Distinct().Order(StringComparer.Ordinal))
            lines.Add($"  pkg_{Id(package)}([\"{package}\"])");
        foreach (var p in Projects.Values.OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            foreach (var target in p.Projects.Order(StringComparer.Ordinal)) lines.Add($"  {Id(p.Name)} --> {Id(target)}");
            foreach (var package in p.Packages.Order(StringComparer.Ordinal)) lines.Add($"  {Id(p.Name)} -.-> pkg_{Id(package)}");
        }
        lines.Add("  classDef package fill:#eee,stroke:#999,color:#333");
        lines.Add("  class " + string.Join(",", Projects.Values.SelectMany(p => p.Packages).Distinct().Order(StringComparer.Ordinal).Select(p => "pkg_" + Id(p))) + " package");
        return string.Join("\n", lines) + "\n";
    }
}
