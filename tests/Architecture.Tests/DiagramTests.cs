namespace BiVM.Architecture.Tests;

/// <summary>
/// docs/architecture.md shows the graph generated from the .csproj files. Run with BIVM_WRITE_ARCHITECTURE=1
/// (scripts/architecture-graph.sh) to rewrite the picture; otherwise a stale picture fails.
/// </summary>
public sealed class DiagramTests
{
    private const string Begin = "```mermaid\n", End = "```\n";

    [Fact]
    public void Architecture_doc_shows_the_current_references()
    {
        string root = RepositoryRoot.Find();
        string doc = Path.Combine(root, "docs", "architecture.md");
        string text = File.ReadAllText(doc);
        int start = text.IndexOf(Begin, StringComparison.Ordinal);
        Assert.True(start >= 0, $"{doc} has no ```mermaid block");
        start += Begin.Length;
        int end = text.IndexOf(End, start, StringComparison.Ordinal);
        string generated = ProjectGraph.Load(root).ToMermaid();
        if (Environment.GetEnvironmentVariable("BIVM_WRITE_ARCHITECTURE") == "1")
        {
            File.WriteAllText(doc, text[..start] + generated + text[end..]);
            return;
        }
        Assert.True(text[start..end] == generated, $"{doc} is stale: run scripts/architecture-graph.sh");
    }
}
