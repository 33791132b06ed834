namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// A problem with the model or the inputs (wrong rank, dtype, attribute...). Never leaves the library: the
/// callbacks turn it into an ORT_INVALID_ARGUMENT status, which the managed caller sees as OnnxRuntimeException.
/// </summary>
internal sealed class OpValidationException(string message) : Exception(message);
