namespace BiVM.Model;

/// <summary>The three model families of docs/model-contract.md.</summary>
public enum ModelFamily
{
    Rvm,
    RvmReact,
    Bivm,
}

/// <summary>The CLI / file names of the families: rvm, rvm-react, bivm.</summary>
public static class ModelFamilyNames
{
    public static string ToCliName(this ModelFamily family) => family switch
    {
        ModelFamily.Rvm => "rvm",
        ModelFamily.RvmReact => "rvm-react",
        ModelFamily.Bivm => "bivm",
        _ => throw new ArgumentOutOfRangeException(nameof(family), family, null),
    };

    /// <summary>"rvm|rvm-react|bivm": the names in declaration order, for usage text.</summary>
    public static string All => string.Join("|", Enum.GetValues<ModelFamily>().Select(f => f.ToCliName()));

    public static bool TryParse(string name, out ModelFamily family)
    {
        foreach (var candidate in Enum.GetValues<ModelFamily>())
        {
            family = candidate;
            if (candidate.ToCliName() == name.Trim().ToLowerInvariant()) return true;
        }
        family = default;
        return false;
    }

    public static ModelFamily Parse(string name) => TryParse(name, out var family)
        ? family
        : throw new ArgumentException($"unknown model family '{name}' (expected {All.Replace("|", ", ")})", nameof(name));
}
