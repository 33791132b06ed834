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

    public static ModelFamily Parse(string name)
    {
        foreach (var family in Enum.GetValues<ModelFamily>())
            if (family.ToCliName() == name.Trim().ToLowerInvariant()) return family;
        throw new ArgumentException($"unknown model family '{name}' (expected rvm, rvm-react or bivm)", nameof(name));
    }
}
