namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// A failed ONNX Runtime C API call: ORT's message with ORT's error code, kept so that a caller, and a callback
/// handing the failure back to ORT, can tell an invalid argument from an engine failure.
/// </summary>
public sealed class OrtStatusException(OrtErrorCode code, string message) : Exception(message)
{
    public OrtErrorCode Code { get; } = code;
}
