namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// Runs body(0) … body(count − 1), possibly in parallel, returning when all are done. Inside ONNX Runtime this is
/// KernelContext_ParallelFor on the session's intra-op pool; elsewhere <see cref="ParallelRunners"/>.
/// </summary>
public delegate void ParallelRunner(int count, Action<int> body);
