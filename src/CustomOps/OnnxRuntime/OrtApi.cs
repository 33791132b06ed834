using System.Runtime.InteropServices;
using System.Text;
using BiVM.CustomOps.Cpu;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// The ONNX Runtime C API function table, reached from C# without a native shim: OrtGetApiBase() → GetApi(31)
/// → an array of function pointers indexed by <see cref="OrtApiIndex"/>. Every call that returns an OrtStatus*
/// goes through <see cref="Check"/>, the one place statuses are read and released.
/// </summary>
internal static unsafe class OrtApi
{
    /// <summary>ORT_API_VERSION of the 1.31 header.</summary>
    public const uint ApiVersion = 31;

    private static readonly nint* s_table = Load();

    // Same library name as Microsoft.ML.OnnxRuntime's own P/Invokes, so it resolves to the same libonnxruntime.
    [DllImport("onnxruntime", CallingConvention = CallingConvention.Cdecl)]
    private static extern nint OrtGetApiBase();

    private static nint* Load()
    {
        var apiBase = (nint*)OrtGetApiBase(); // struct OrtApiBase { GetApi; GetVersionString; }
        var getApi = (delegate* unmanaged<uint, nint*>)apiBase[0];
        var table = getApi(ApiVersion);
        if (table == null) throw new InvalidOperationException($"onnxruntime does not provide OrtApi version {ApiVersion}");
        return table;
    }

    private static nint Fn(OrtApiIndex index) => s_table[(int)index];

    /// <summary>Throws <see cref="OrtStatusException"/> with ORT's code and message if <paramref name="status"/> is an error.</summary>
    public static void Check(nint status)
    {
        if (status == 0) return;
        var code = ErrorCodeOf(status);
        string message = ErrorMessage(status);
        Release(status);
        throw new OrtStatusException(code, message);
    }

    /// <summary>True if the call succeeded; a failure status is released (used for "attribute absent").</summary>
    public static bool Succeeded(nint status)
    {
        if (status == 0) return true;
        Release(status);
        return false;
    }

    public static nint CreateStatus(OrtErrorCode code, string message)
    {
        var utf8 = Utf8(message);
        fixed (byte* p = utf8) return ((delegate* unmanaged<int, byte*, nint>)Fn(OrtApiIndex.CreateStatus))((int)code, p);
    }

    public static OrtErrorCode ErrorCodeOf(nint status) => (OrtErrorCode)((delegate* unmanaged<nint, int>)Fn(OrtApiIndex.GetErrorCode))(status);

    public static string ErrorMessage(nint status) =>
        Marshal.PtrToStringUTF8((nint)((delegate* unmanaged<nint, byte*>)Fn(OrtApiIndex.GetErrorMessage))(status)) ?? "";

    public static void Release(nint status) => ((delegate* unmanaged<nint, void>)Fn(OrtApiIndex.ReleaseStatus))(status);

    public static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s + "\0");

    // ---- custom-op domains (OrtCustomOpDomain*, OrtCustomOp*, OrtSessionOptions*) ----
    public static nint CreateCustomOpDomain(string domain)
    {
        nint result;
        fixed (byte* p = Utf8(domain)) Check(((delegate* unmanaged<byte*, nint*, nint>)Fn(OrtApiIndex.CreateCustomOpDomain))(p, &result));
        return result;
    }

    public static void CustomOpDomainAdd(nint domain, OrtCustomOp* op) =>
        Check(((delegate* unmanaged<nint, OrtCustomOp*, nint>)Fn(OrtApiIndex.CustomOpDomain_Add))(domain, op));

    public static void AddCustomOpDomain(nint sessionOptions, nint domain) =>
        Check(((delegate* unmanaged<nint, nint, nint>)Fn(OrtApiIndex.AddCustomOpDomain))(sessionOptions, domain));

    // ---- tensors (OrtValue*, OrtTensorTypeAndShapeInfo*) ----
    /// <summary>
    /// A tensor's element type and dimensions straight from the OrtValue (GetTensorElementTypeAndShapeDataReference, ORT
    /// 1.24 on). GetTensorTypeAndShape, used before, made a new shape object on every call, and our ops read every
    /// input's and output's shape on every call: hundreds of allocations and frees a frame (frames 0.996 and 1/1.003
    /// without them, Zen 5, thirtieth session).
    /// </summary>
    public static (OrtElementType Type, long[] Dims) GetTensorTypeAndDimensions(nint value)
    {
        int type;
        long* shape;
        nuint count;
        Check(((delegate* unmanaged<nint, int*, long**, nuint*, nint>)Fn(OrtApiIndex.GetTensorElementTypeAndShapeDataReference))(value, &type, &shape, &count));
        var dims = count == 0 ? [] : new long[(int)count];
        for (int i = 0; i < dims.Length; i++) dims[i] = shape[i];
        return ((OrtElementType)type, dims);
    }

    public static OrtElementType GetElementType(nint info)
    {
        int type;
        Check(((delegate* unmanaged<nint, int*, nint>)Fn(OrtApiIndex.GetTensorElementType))(info, &type));
        return (OrtElementType)type;
    }

    public static long[] GetDimensions(nint info)
    {
        nuint count;
        Check(((delegate* unmanaged<nint, nuint*, nint>)Fn(OrtApiIndex.GetDimensionsCount))(info, &count));
        var dims = new long[(int)count];
        fixed (long* p = dims) Check(((delegate* unmanaged<nint, long*, nuint, nint>)Fn(OrtApiIndex.GetDimensions))(info, p, count));
        return dims;
    }

    /// <summary>Symbolic names per dimension ("" where the dimension is a number or unnamed).</summary>
    public static string[] GetSymbolicDimensions(nint info, int count)
    {
        var names = new string[count];
        if (count == 0) return names;
        var ptrs = stackalloc byte*[count];
        Check(((delegate* unmanaged<nint, byte**, nuint, nint>)Fn(OrtApiIndex.GetSymbolicDimensions))(info, ptrs, (nuint)count));
        for (int i = 0; i < count; i++) names[i] = ptrs[i] == null ? "" : Marshal.PtrToStringUTF8((nint)ptrs[i]) ?? "";
        return names;
    }

    public static void ReleaseTensorTypeAndShapeInfo(nint info) =>
        ((delegate* unmanaged<nint, void>)Fn(OrtApiIndex.ReleaseTensorTypeAndShapeInfo))(info);

    /// <summary>A tensor's data, whose memory (ORT's arena, mostly) is then backed by huge pages where Linux allows (<see cref="HugePages"/>).</summary>
    public static void* GetTensorMutableData(nint value)
    {
        void* data;
        Check(((delegate* unmanaged<nint, void**, nint>)Fn(OrtApiIndex.GetTensorMutableData))(value, &data));
        HugePages.Advise(data);
        return data;
    }

    public static nint CreateTensorTypeAndShapeInfo(OrtElementType type, long[] dims, string[] symbolic)
    {
        nint info;
        Check(((delegate* unmanaged<nint*, nint>)Fn(OrtApiIndex.CreateTensorTypeAndShapeInfo))(&info));
        try
        {
            Check(((delegate* unmanaged<nint, int, nint>)Fn(OrtApiIndex.SetTensorElementType))(info, (int)type));
            fixed (long* d = dims) Check(((delegate* unmanaged<nint, long*, nuint, nint>)Fn(OrtApiIndex.SetDimensions))(info, d, (nuint)dims.Length));
            var utf8 = symbolic.Select(Utf8).ToArray();
            var handles = utf8.Select(b => GCHandle.Alloc(b, GCHandleType.Pinned)).ToArray();
            try
            {
                var ptrs = stackalloc byte*[Math.Max(1, dims.Length)];
                for (int i = 0; i < dims.Length; i++) ptrs[i] = (byte*)handles[i].AddrOfPinnedObject();
                Check(((delegate* unmanaged<nint, byte**, nuint, nint>)Fn(OrtApiIndex.SetSymbolicDimensions))(info, ptrs, (nuint)dims.Length));
            }
            finally { foreach (var h in handles) h.Free(); }
            return info;
        }
        catch
        {
            ReleaseTensorTypeAndShapeInfo(info);
            throw;
        }
    }

    // ---- kernel info (const OrtKernelInfo*) ----
    public static string KernelInfoNodeName(nint info) =>
        ReadString((buffer, size) => ((delegate* unmanaged<nint, byte*, nuint*, nint>)Fn(OrtApiIndex.KernelInfo_GetNodeName))(info, buffer, size))!;

    /// <summary>
    /// The session's configuration entry <paramref name="key"/> (SessionOptions.AddSessionConfigEntry) as a kernel being
    /// made sees it, or null where the session has none (KernelInfo_GetConfigEntries, ORT 1.24 on).
    /// </summary>
    public static string? KernelInfoConfigEntry(nint info, string key)
    {
        nint pairs;
        Check(((delegate* unmanaged<nint, nint*, nint>)Fn(OrtApiIndex.KernelInfo_GetConfigEntries))(info, &pairs));
        try
        {
            fixed (byte* k = Utf8(key))
            {
                byte* value = ((delegate* unmanaged<nint, byte*, byte*>)Fn(OrtApiIndex.GetKeyValue))(pairs, k);
                return value == null ? null : Marshal.PtrToStringUTF8((nint)value);
            }
        }
        finally
        {
            ((delegate* unmanaged<nint, void>)Fn(OrtApiIndex.ReleaseKeyValuePairs))(pairs);
        }
    }

    public static int KernelInfoInputCount(nint info)
    {
        nuint count;
        Check(((delegate* unmanaged<nint, nuint*, nint>)Fn(OrtApiIndex.KernelInfo_GetInputCount))(info, &count));
        return (int)count;
    }

    public static int KernelInfoOutputCount(nint info)
    {
        nuint count;
        Check(((delegate* unmanaged<nint, nuint*, nint>)Fn(OrtApiIndex.KernelInfo_GetOutputCount))(info, &count));
        return (int)count;
    }

    public static string KernelInfoOutputName(nint info, int index) =>
        ReadString((buffer, size) => ((delegate* unmanaged<nint, nuint, byte*, nuint*, nint>)Fn(OrtApiIndex.KernelInfo_GetOutputName))(info, (nuint)index, buffer, size))!;

    public static string KernelInfoInputName(nint info, int index) =>
        ReadString((buffer, size) => ((delegate* unmanaged<nint, nuint, byte*, nuint*, nint>)Fn(OrtApiIndex.KernelInfo_GetInputName))(info, (nuint)index, buffer, size))!;

    /// <summary>The initializer behind input <paramref name="index"/>, or 0 if that input is not a constant.</summary>
    public static nint KernelInfoConstantInput(nint info, int index)
    {
        int isConstant;
        nint value;
        Check(((delegate* unmanaged<nint, nuint, int*, nint*, nint>)Fn(OrtApiIndex.KernelInfoGetConstantInput_tensor))(info, (nuint)index, &isConstant, &value));
        return isConstant != 0 ? value : 0;
    }

    public static float? KernelInfoAttributeFloat(nint info, string name)
    {
        float value;
        fixed (byte* n = Utf8(name))
            return Succeeded(((delegate* unmanaged<nint, byte*, float*, nint>)Fn(OrtApiIndex.KernelInfoGetAttribute_float))(info, n, &value)) ? value : null;
    }

    public static long? KernelInfoAttributeInt(nint info, string name)
    {
        long value;
        fixed (byte* n = Utf8(name))
            return Succeeded(((delegate* unmanaged<nint, byte*, long*, nint>)Fn(OrtApiIndex.KernelInfoGetAttribute_int64))(info, n, &value)) ? value : null;
    }

    public static long[]? KernelInfoAttributeInts(nint info, string name)
    {
        nuint size = 0;
        fixed (byte* n = Utf8(name))
        {
            var fn = (delegate* unmanaged<nint, byte*, long*, nuint*, nint>)Fn(OrtApiIndex.KernelInfoGetAttributeArray_int64);
            if (!Succeeded(fn(info, n, null, &size))) return null;
            var values = new long[(int)size];
            fixed (long* v = values) Check(fn(info, n, v, &size));
            return values;
        }
    }

    public static float[]? KernelInfoAttributeFloats(nint info, string name)
    {
        nuint size = 0;
        fixed (byte* n = Utf8(name))
        {
            var fn = (delegate* unmanaged<nint, byte*, float*, nuint*, nint>)Fn(OrtApiIndex.KernelInfoGetAttributeArray_float);
            if (!Succeeded(fn(info, n, null, &size))) return null;
            var values = new float[(int)size];
            fixed (float* v = values) Check(fn(info, n, v, &size));
            return values;
        }
    }

    public static string? KernelInfoAttributeString(nint info, string name)
    {
        fixed (byte* n = Utf8(name))
        {
            byte* np = n;
            return ReadString((buffer, size) => ((delegate* unmanaged<nint, byte*, byte*, nuint*, nint>)Fn(OrtApiIndex.KernelInfoGetAttribute_string))(info, np, buffer, size),
                missingIsNull: true);
        }
    }

    private delegate nint StringQuery(byte* buffer, nuint* size);

    /// <summary>
    /// The C API's two-call string protocol: ask for the size (buffer null), then fill a buffer of that size; the
    /// size counts the terminating NUL. With <paramref name="missingIsNull"/>, a failing first call means "absent".
    /// </summary>
    private static string? ReadString(StringQuery query, bool missingIsNull = false)
    {
        nuint size = 0;
        nint status = query(null, &size);
        if (missingIsNull && !Succeeded(status)) return null;
        Check(status);
        var buffer = new byte[(int)size];
        fixed (byte* b = buffer) Check(query(b, &size));
        return Encoding.UTF8.GetString(buffer, 0, Math.Max(0, (int)size - 1));
    }

    // ---- kernel context (OrtKernelContext*) ----
    /// <summary>Input value, or 0 for an omitted optional input.</summary>
    public static nint KernelContextInput(nint context, int index)
    {
        nint value;
        Check(((delegate* unmanaged<nint, nuint, nint*, nint>)Fn(OrtApiIndex.KernelContext_GetInput))(context, (nuint)index, &value));
        return value;
    }

    public static nint KernelContextOutput(nint context, int index, long[] dims)
    {
        nint value;
        fixed (long* d = dims)
            Check(((delegate* unmanaged<nint, nuint, long*, nuint, nint*, nint>)Fn(OrtApiIndex.KernelContext_GetOutput))(context, (nuint)index, d, (nuint)dims.Length, &value));
        return value;
    }

    public static void ParallelFor(nint context, delegate* unmanaged<void*, nuint, void> fn, int total, void* userData) =>
        Check(((delegate* unmanaged<nint, delegate* unmanaged<void*, nuint, void>, nuint, nuint, void*, nint>)Fn(OrtApiIndex.KernelContext_ParallelFor))(
            context, fn, (nuint)total, 0, userData));

    // ---- shape inference (OrtShapeInferContext*, const OrtOpAttr*) ----
    public static int ShapeInferInputCount(nint context)
    {
        nuint count;
        Check(((delegate* unmanaged<nint, nuint*, nint>)Fn(OrtApiIndex.ShapeInferContext_GetInputCount))(context, &count));
        return (int)count;
    }

    /// <summary>Type and shape of an input; owned by the context (not released, as in ORT's C++ wrapper).</summary>
    public static nint ShapeInferInputTypeShape(nint context, int index)
    {
        nint info;
        Check(((delegate* unmanaged<nint, nuint, nint*, nint>)Fn(OrtApiIndex.ShapeInferContext_GetInputTypeShape))(context, (nuint)index, &info));
        return info;
    }

    public static void ShapeInferSetOutput(nint context, int index, nint info) =>
        Check(((delegate* unmanaged<nint, nuint, nint, nint>)Fn(OrtApiIndex.ShapeInferContext_SetOutputTypeShape))(context, (nuint)index, info));

    private static nint ShapeInferAttribute(nint context, string name)
    {
        nint attr = 0;
        fixed (byte* n = Utf8(name))
            return Succeeded(((delegate* unmanaged<nint, byte*, nint*, nint>)Fn(OrtApiIndex.ShapeInferContext_GetAttribute))(context, n, &attr)) ? attr : 0;
    }

    private const int OpAttrInt = 1, OpAttrInts = 2, OpAttrString = 5;

    public static long? ShapeInferAttributeInt(nint context, string name)
    {
        nint attr = ShapeInferAttribute(context, name);
        if (attr == 0) return null;
        long value;
        nuint written;
        return Succeeded(ReadOpAttr(attr, OpAttrInt, &value, sizeof(long), &written)) ? value : null;
    }

    public static long[]? ShapeInferAttributeInts(nint context, string name)
    {
        nint attr = ShapeInferAttribute(context, name);
        if (attr == 0) return null;
        nuint bytes = 0;
        var values = new long[16];
        fixed (long* v = values)
            if (!Succeeded(ReadOpAttr(attr, OpAttrInts, v, (nuint)(values.Length * sizeof(long)), &bytes))) return null;
        return values[..(int)((long)bytes / sizeof(long))];
    }

    public static string? ShapeInferAttributeString(nint context, string name)
    {
        nint attr = ShapeInferAttribute(context, name);
        if (attr == 0) return null;
        var buffer = new byte[256];
        nuint bytes = 0;
        fixed (byte* b = buffer)
            if (!Succeeded(ReadOpAttr(attr, OpAttrString, b, (nuint)buffer.Length, &bytes))) return null;
        return Encoding.UTF8.GetString(buffer, 0, (int)bytes).TrimEnd('\0');
    }

    private static nint ReadOpAttr(nint attr, int type, void* data, nuint length, nuint* written) =>
        ((delegate* unmanaged<nint, int, void*, nuint, nuint*, nint>)Fn(OrtApiIndex.ReadOpAttr))(attr, type, data, length, written);
}
