using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace BiVM.Estimators.MLNet;

/// <summary>
/// Turns the saved form of each BiVM transform in a loaded pipeline back into a <see cref="BiVMTransformer"/>, so a
/// loaded pipeline releases its sessions and streams as a fitted one does (cursor, transformer and prediction engine
/// disposal) instead of by the garbage collector: ML.NET gives a custom mapping no hook for either.
/// </summary>
internal static class LoadedModels
{
    /// <summary><paramref name="loaded"/> with its BiVM parts rebound; the same object when it has none.</summary>
    public static ITransformer Rebind(ITransformer loaded) =>
        loaded is TransformerChain<ITransformer> chain ? RebindChain(chain) : loaded;

    private static ITransformer RebindChain(TransformerChain<ITransformer> chain)
    {
        var parts = chain.ToArray();
        if (SavedForm.Recognize(parts) is { } blob) return new BiVMTransformer(blob.Options.Fitted!, new ModelSession(blob), chain);
        var rebound = parts.Select(Rebind).ToArray();
        if (rebound.Zip(parts).All(p => ReferenceEquals(p.First, p.Second))) return chain;
        return new TransformerChain<ITransformer>(rebound, Scopes(chain, parts));
    }

    /// <summary>
    /// The scope of each part (the chain does not expose them): a part is in a scope when the chain's model for that
    /// scope holds it. The models keep the chain's order, so parts are matched by position, not only by reference.
    /// </summary>
    private static TransformerScope[] Scopes(TransformerChain<ITransformer> chain, ITransformer[] parts)
    {
        var scopes = new TransformerScope[parts.Length];
        foreach (var scope in new[] { TransformerScope.Training, TransformerScope.Testing, TransformerScope.Scoring })
        {
            int i = 0;
            foreach (var part in chain.GetModelFor(scope))
            {
                while (!ReferenceEquals(parts[i], part)) i++;
                scopes[i++] |= scope;
            }
        }
        return scopes;
    }
}
