namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>ONNXTensorElementDataType values this library meets (onnxruntime_c_api.h).</summary>
internal enum OrtElementType
{
    Undefined = 0,
    Float = 1,
    UInt8 = 2,
    Int8 = 3,
    Int32 = 6,
    Int64 = 7,
    Bool = 9,
    Double = 11,
    UInt64 = 13,
}
