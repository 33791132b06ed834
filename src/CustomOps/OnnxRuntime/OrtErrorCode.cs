namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// enum OrtErrorCode of onnxruntime_error_code.h (Microsoft.ML.OnnxRuntime 1.31.1), in declaration order; a test
/// re-derives the values from the header in the package. The managed package's own ErrorCode enum is internal.
/// </summary>
public enum OrtErrorCode
{
    Ok,
    Fail,
    InvalidArgument,
    NoSuchFile,
    NoModel,
    EngineError,
    RuntimeException,
    InvalidProtobuf,
    ModelLoaded,
    NotImplemented,
    InvalidGraph,
    EpFail,
    ModelLoadCanceled,
    ModelRequiresCompilation,
    NotFound,
    DeviceReset,
}
