namespace BiVM.Model;

/// <summary>The three model families of docs/model-contract.md.</summary>
public enum ModelFamily
{
    Rvm,
    RvmReact,
    Bivm,
}
