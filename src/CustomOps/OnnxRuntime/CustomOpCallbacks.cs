using System.Runtime.InteropServices;
using BiVM.Contracts;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// The C callbacks of <see cref="OrtCustomOp"/>, as <c>[UnmanagedCallersOnly]</c> static methods. Rule: nothing
/// may unwind through ORT's native frames, so every callback that can fail catches everything and returns an
/// OrtStatus: ORT_INVALID_ARGUMENT for a bad model or input (<see cref="OpValidationException"/>), the original code
/// for a failed ORT call (<see cref="OrtStatusException"/>), ORT_FAIL for anything else, each message prefixed with
/// the op and node name. The session stays usable afterwards.
/// </summary>
internal static unsafe class CustomOpCallbacks
{
    private const int TypeUndefined = 0;
    private const int Required = 0, Optional = 1, Variadic = 2;

    /// <summary>Fills <paramref name="op"/>'s callbacks; <paramref name="mayWriteInPlace"/>: ONNX Runtime may give output 0 input 0's buffer.</summary>
    public static void Fill(OrtCustomOp* op, bool mayWriteInPlace)
    {
        if (mayWriteInPlace)
        {
            op->GetMayInplace = (nint)(delegate* unmanaged<int**, int**, nuint>)&MayInplaceFirst;
            op->ReleaseMayInplace = (nint)(delegate* unmanaged<int*, int*, void>)&ReleaseMayInplace;
        }
        op->Version = OrtApi.ApiVersion;
        op->GetName = (nint)(delegate* unmanaged<OrtCustomOp*, byte*>)&GetName;
        op->GetExecutionProviderType = (nint)(delegate* unmanaged<OrtCustomOp*, byte*>)&GetExecutionProviderType;
        op->GetInputType = (nint)(delegate* unmanaged<OrtCustomOp*, nuint, int>)&GetInputType;
        op->GetInputTypeCount = (nint)(delegate* unmanaged<OrtCustomOp*, nuint>)&GetInputTypeCount;
        op->GetOutputType = (nint)(delegate* unmanaged<OrtCustomOp*, nuint, int>)&GetOutputType;
        op->GetOutputTypeCount = (nint)(delegate* unmanaged<OrtCustomOp*, nuint>)&GetOutputTypeCount;
        op->KernelDestroy = (nint)(delegate* unmanaged<void*, void>)&KernelDestroy;
        op->GetInputCharacteristic = (nint)(delegate* unmanaged<OrtCustomOp*, nuint, int>)&GetInputCharacteristic;
        op->GetOutputCharacteristic = (nint)(delegate* unmanaged<OrtCustomOp*, nuint, int>)&GetOutputCharacteristic;
        op->GetInputMemoryType = (nint)(delegate* unmanaged<OrtCustomOp*, nuint, int>)&GetInputMemoryType;
        op->GetVariadicInputMinArity = (nint)(delegate* unmanaged<OrtCustomOp*, int>)&One;
        op->GetVariadicInputHomogeneity = (nint)(delegate* unmanaged<OrtCustomOp*, int>)&VariadicInputHomogeneity;
        op->GetVariadicOutputMinArity = (nint)(delegate* unmanaged<OrtCustomOp*, int>)&One;
        op->GetVariadicOutputHomogeneity = (nint)(delegate* unmanaged<OrtCustomOp*, int>)&One;
        op->CreateKernelV2 = (nint)(delegate* unmanaged<OrtCustomOp*, nint, nint, void**, nint>)&CreateKernelV2;
        op->KernelComputeV2 = (nint)(delegate* unmanaged<void*, nint, nint>)&KernelComputeV2;
        op->InferOutputShapeFn = (nint)(delegate* unmanaged<OrtCustomOp*, nint, nint>)&InferOutputShape;
        op->GetStartVersion = (nint)(delegate* unmanaged<OrtCustomOp*, int>)&One;
        op->GetEndVersion = (nint)(delegate* unmanaged<OrtCustomOp*, int>)&One;
    }

    [UnmanagedCallersOnly]
    private static byte* GetName(OrtCustomOp* op) => BiVMOpDefinition.From(op).NameUtf8;

    /// <summary>1 where the variadic inputs must share one type; 0 for Upsample2xConcat, whose last may be a mask (its own checks name the input).</summary>
    [UnmanagedCallersOnly]
    private static int VariadicInputHomogeneity(OrtCustomOp* op) => BiVMOpDefinition.From(op).IsUpsampleConcat ? 0 : 1;

    /// <summary>Null: the CPU execution provider.</summary>
    [UnmanagedCallersOnly]
    private static byte* GetExecutionProviderType(OrtCustomOp* op) => null;

    /// <summary>
    /// Undefined = any type: ORT then lets every dtype through to our own checks, so a wrong dtype is reported with
    /// our message (naming the node and the input) rather than as a generic type-constraint failure.
    /// </summary>
    [UnmanagedCallersOnly]
    private static int GetInputType(OrtCustomOp* op, nuint index) => TypeUndefined;

    [UnmanagedCallersOnly]
    private static nuint GetInputTypeCount(OrtCustomOp* op) => (nuint)BiVMOpDefinition.From(op).InputCount;

    [UnmanagedCallersOnly]
    private static int GetOutputType(OrtCustomOp* op, nuint index) => (int)BiVMOpDefinition.From(op).OutputType((int)index);

    [UnmanagedCallersOnly]
    private static nuint GetOutputTypeCount(OrtCustomOp* op) => (nuint)BiVMOpDefinition.From(op).OutputCount;

    [UnmanagedCallersOnly]
    private static int GetInputCharacteristic(OrtCustomOp* op, nuint index) =>
        BiVMOpDefinition.From(op) is var def && def.IsVariadicInput((int)index) ? Variadic : def.IsOptionalInput((int)index) ? Optional : Required;

    [UnmanagedCallersOnly]
    private static int GetOutputCharacteristic(OrtCustomOp* op, nuint index) => BiVMOpDefinition.From(op).IsOptionalOutput((int)index) ? Optional : Required;

    /// <summary>OrtMemTypeDefault: inputs on the CPU.</summary>
    [UnmanagedCallersOnly]
    private static int GetInputMemoryType(OrtCustomOp* op, nuint index) => 0;

    [UnmanagedCallersOnly]
    private static int One(OrtCustomOp* op) => 1;

    /// <summary>
    /// One pair, input 0 → output 0: where X's last reader is this node and Y has its size, ONNX Runtime's allocation
    /// planner may write Y over X (fewer distinct buffers in the frame, fewer cold lines). The arrays are ours to free
    /// in <see cref="ReleaseMayInplace"/>.
    /// </summary>
    [UnmanagedCallersOnly]
    private static nuint MayInplaceFirst(int** inputIndex, int** outputIndex)
    {
        var input = (int*)NativeMemory.Alloc(sizeof(int));
        var output = (int*)NativeMemory.Alloc(sizeof(int));
        *input = 0;
        *output = 0;
        *inputIndex = input;
        *outputIndex = output;
        return 1;
    }

    [UnmanagedCallersOnly]
    private static void ReleaseMayInplace(int* inputIndex, int* outputIndex)
    {
        NativeMemory.Free(inputIndex);
        NativeMemory.Free(outputIndex);
    }

    [UnmanagedCallersOnly]
    private static nint CreateKernelV2(OrtCustomOp* op, nint api, nint info, void** kernel)
    {
        *kernel = null;
        BiVMOpDefinition? def = null;
        string node = "?";
        try
        {
            def = BiVMOpDefinition.From(op);
            var instance = def.CreateKernel(info, out node);
            int threads = int.TryParse(OrtApi.KernelInfoConfigEntry(info, BiVMOps.IntraOpThreadsKey), System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture, out int told) ? told : 0;
            *kernel = (void*)GCHandle.ToIntPtr(GCHandle.Alloc(new HostedKernel(instance, threads)));
            return 0;
        }
        catch (Exception e)
        {
            if (node == "?") node = TryNodeName(info);
            return Status(e, def is null ? "ai.bivm op" : BinaryConvOrtKernel.Where(def, node));
        }
    }

    private static string TryNodeName(nint info)
    {
        try { return OrtApi.KernelInfoNodeName(info); }
        catch { return "?"; }
    }

    [UnmanagedCallersOnly]
    private static nint KernelComputeV2(void* kernel, nint context)
    {
        IBiVMKernel? instance = null;
        try
        {
            var hosted = (HostedKernel)GCHandle.FromIntPtr((nint)kernel).Target!;
            instance = hosted.Kernel;
            OrtParallelRunner.Threads = hosted.Threads;
            instance.Compute(context);
            return 0;
        }
        catch (Exception e)
        {
            return Status(e, instance?.Location ?? "ai.bivm op");
        }
    }

    [UnmanagedCallersOnly]
    private static void KernelDestroy(void* kernel)
    {
        try
        {
            if (kernel == null) return;
            var handle = GCHandle.FromIntPtr((nint)kernel);
            (handle.Target as HostedKernel)?.Kernel.Dispose();
            handle.Free();
        }
        catch
        {
            // Nothing can be reported from a destructor callback; never unwind into ORT.
        }
    }

    /// <remarks>
    /// ORT 1.31 discards this status (custom_ops.cc calls InferOutputShapeFn and ignores the result), so every check
    /// made here is made again in CreateKernel or Compute, where errors do reach the caller.
    /// </remarks>
    [UnmanagedCallersOnly]
    private static nint InferOutputShape(OrtCustomOp* op, nint context)
    {
        string where = "ai.bivm op";
        try
        {
            var def = BiVMOpDefinition.From(op);
            where = def.Name;
            ShapeInference.Infer(def, context);
            return 0;
        }
        catch (Exception e)
        {
            return Status(e, where);
        }
    }

    private static nint Status(Exception e, string where)
    {
        try
        {
            return e switch
            {
                OpValidationException => OrtApi.CreateStatus(OrtErrorCode.InvalidArgument, $"{where}: {e.Message}"),
                OrtStatusException ort => OrtApi.CreateStatus(ort.Code, $"{where}: {e.Message}"),
                _ => OrtApi.CreateStatus(OrtErrorCode.Fail, $"{where}: internal error: {e.GetType().Name}: {e.Message}"),
            };
        }
        catch
        {
            return OrtApi.CreateStatus(OrtErrorCode.Fail, $"{BinaryConvSchema.Domain}: error while reporting an error");
        }
    }

    /// <summary>A node's kernel as ORT holds it: the kernel, and its session's intra-op thread count (0 where the session did not say).</summary>
    private sealed class HostedKernel(IBiVMKernel kernel, int threads)
    {
        public IBiVMKernel Kernel { get; } = kernel;
        public int Threads { get; } = threads;
    }
}
