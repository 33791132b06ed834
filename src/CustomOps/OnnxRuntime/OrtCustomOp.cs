using System.Runtime.InteropServices;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// struct OrtCustomOp of onnxruntime_c_api.h, field for field: uint32 version (+4 bytes padding on x64) then 25
/// function pointers, 208 bytes. Lives in native memory (ORT keeps the pointer for as long as any session uses
/// the op). The V2 entries (status-returning CreateKernelV2 / KernelComputeV2) are used; V1 ones stay null.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct OrtCustomOp
{
    public uint Version;
    public nint CreateKernel;
    public nint GetName;
    public nint GetExecutionProviderType;
    public nint GetInputType;
    public nint GetInputTypeCount;
    public nint GetOutputType;
    public nint GetOutputTypeCount;
    public nint KernelCompute;
    public nint KernelDestroy;
    public nint GetInputCharacteristic;
    public nint GetOutputCharacteristic;
    public nint GetInputMemoryType;
    public nint GetVariadicInputMinArity;
    public nint GetVariadicInputHomogeneity;
    public nint GetVariadicOutputMinArity;
    public nint GetVariadicOutputHomogeneity;
    public nint CreateKernelV2;
    public nint KernelComputeV2;
    public nint InferOutputShapeFn;
    public nint GetStartVersion;
    public nint GetEndVersion;
    public nint GetMayInplace;
    public nint ReleaseMayInplace;
    public nint GetAliasMap;
    public nint ReleaseAliasMap;
}
