namespace BiVM.Export;

/// <summary>
/// How to write one network. The training facts are not stored in the weights file (model.bin holds tensors
/// only), so the caller passes what it knows; they end up in the ONNX metadata so that a file can be traced
/// back to the run that produced it.
/// </summary>
public sealed record ExportOptions
{
    /// <summary>Write every ai.bivm node as standard ops (runs in any ONNX runtime; the parity oracle).</summary>
    public bool Lowered { get; init; }

    /// <summary>Seed of the training data / run, if known ("unknown" in the metadata otherwise).</summary>
    public long? TrainingSeed { get; init; }

    /// <summary>Optimizer steps the weights were trained for, if known.</summary>
    public long? TrainingSteps { get; init; }

    /// <summary>Where the weights came from (a path, or "random init, seed N"); written to the metadata verbatim.</summary>
    public string WeightsSource { get; init; } = "unspecified";

    /// <summary>
    /// Also declare the output of every binary conv node as a graph output (named after the node), so tests can
    /// compare the custom kernels with the lowered graph layer by layer. Off for real exports.
    /// </summary>
    public bool ExposeBinaryOutputs { get; init; }
}
