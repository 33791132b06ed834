namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>What the ORT callbacks need of any ai.bivm node's kernel, whatever its op.</summary>
internal interface IBiVMKernel : IDisposable
{
    /// <summary>Runs one call (KernelComputeV2).</summary>
    void Compute(nint context);

    /// <summary>"Op node 'name'": the prefix of every error message.</summary>
    string Location { get; }
}
