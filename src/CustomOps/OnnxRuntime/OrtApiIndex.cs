namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// 0-based positions in the <c>OrtApi</c> function table (struct OrtApi in onnxruntime_c_api.h, ORT_API_VERSION 31,
/// Microsoft.ML.OnnxRuntime 1.31.1), counted in declaration order. The table only ever grows at the end, but a test
/// re-derives every value from the header shipped in the package so an upgrade cannot silently shift them.
/// </summary>
internal enum OrtApiIndex
{
    CreateStatus = 0,
    GetErrorCode = 1,
    GetErrorMessage = 2,
    CreateCustomOpDomain = 26,
    CustomOpDomain_Add = 27,
    AddCustomOpDomain = 28,
    GetTensorMutableData = 51,
    CreateTensorTypeAndShapeInfo = 57,
    SetTensorElementType = 58,
    SetDimensions = 59,
    GetTensorElementType = 60,
    GetDimensionsCount = 61,
    GetDimensions = 62,
    GetSymbolicDimensions = 63,
    GetTensorTypeAndShape = 65,
    KernelInfoGetAttribute_float = 85,
    KernelInfoGetAttribute_int64 = 86,
    KernelInfoGetAttribute_string = 87,
    KernelContext_GetInput = 90,
    KernelContext_GetOutput = 91,
    ReleaseStatus = 93,
    ReleaseTensorTypeAndShapeInfo = 99,
    KernelInfoGetAttributeArray_float = 162,
    KernelInfoGetAttributeArray_int64 = 163,
    KernelInfo_GetInputCount = 230,
    KernelInfo_GetOutputCount = 231,
    KernelInfo_GetInputName = 232,
    KernelInfo_GetOutputName = 233,
    KernelInfo_GetNodeName = 244,
    KernelInfoGetConstantInput_tensor = 249,
    ShapeInferContext_GetInputCount = 267,
    ShapeInferContext_GetInputTypeShape = 268,
    ShapeInferContext_GetAttribute = 269,
    ShapeInferContext_SetOutputTypeShape = 270,
    SetSymbolicDimensions = 271,
    ReadOpAttr = 272,
    KernelContext_ParallelFor = 274,
}
