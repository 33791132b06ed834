using System.Runtime.InteropServices;

namespace BiVM.Model.Numerics;

/// <summary>Which code computes LibTorch's float32 convolutions (forward and backward) in this process.</summary>
public enum LibTorchPath
{
    /// <summary>oneDNN with the JIT kernels of the CPU's full instruction set (LibTorch's default).</summary>
    OneDnn,
    /// <summary>oneDNN limited to SSE4.1 kernels (<c>DNNL_MAX_CPU_ISA=SSE41</c>), set before oneDNN's first use.</summary>
    OneDnnSse41,
    /// <summary>oneDNN switched off (<c>torch.backends.mkldnn.enabled = False</c>): ATen's own im2col + GEMM convolutions.</summary>
    Aten,
}

public static class LibTorchPathNames
{
    public static string ToName(this LibTorchPath path) => path switch
    {
        LibTorchPath.OneDnn => "onednn",
        LibTorchPath.OneDnnSse41 => "onednn-sse41",
        LibTorchPath.Aten => "aten",
        _ => throw new ArgumentOutOfRangeException(nameof(path), path, null),
    };

    public static LibTorchPath Parse(string name)
    {
        foreach (var path in Enum.GetValues<LibTorchPath>())
            if (path.ToName() == name.Trim().ToLowerInvariant()) return path;
        throw new ArgumentException($"unknown LibTorch path '{name}': use one of {string.Join(", ", Enum.GetValues<LibTorchPath>().Select(p => p.ToName()))}");
    }

    /// <summary>In words, for the report.</summary>
    public static string Describe(this LibTorchPath path) => path switch
    {
        LibTorchPath.OneDnn => "oneDNN (LibTorch's default)",
        LibTorchPath.OneDnnSse41 => "oneDNN limited to SSE4.1 kernels",
        LibTorchPath.Aten => "ATen's own convolutions (oneDNN off)",
        _ => throw new ArgumentOutOfRangeException(nameof(path), path, null),
    };
}

/// <summary>The two switches that change <see cref="LibTorchPath"/>, in the native process.</summary>
public interface ILibTorchSwitches
{
    /// <summary>
    /// Sets <c>DNNL_MAX_CPU_ISA</c> in the native environment. oneDNN reads it once, at its first use, so it
    /// takes effect only before LibTorch's first oneDNN primitive.
    /// </summary>
    void LimitOneDnnIsa(string isa);

    /// <summary>Turns oneDNN off for every later LibTorch op (a runtime flag of ATen's global context).</summary>
    void DisableOneDnn();
}

/// <summary>
/// The switches in this process. .NET's <c>Environment.SetEnvironmentVariable</c> keeps its own copy on
/// Linux and never reaches <c>getenv</c> in native code, so the ISA limit goes through libc's <c>setenv</c>.
/// TorchSharp has no binding for <c>at::globalContext().setUserEnabledMkldnn</c>; it is an exported C++
/// member function of libtorch_cpu.so, called through its Itanium-ABI symbol with the context as <c>this</c>.
/// </summary>
public sealed unsafe class NativeLibTorchSwitches : ILibTorchSwitches
{
    public static NativeLibTorchSwitches Instance { get; } = new();

    private NativeLibTorchSwitches() { }

    [DllImport("libc", EntryPoint = "setenv", SetLastError = true)]
    private static extern int SetEnv([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);

    public void LimitOneDnnIsa(string isa)
    {
        if (SetEnv("DNNL_MAX_CPU_ISA", isa, 1) != 0)
            throw new InvalidOperationException($"setenv(DNNL_MAX_CPU_ISA) failed with errno {Marshal.GetLastPInvokeError()}");
        Environment.SetEnvironmentVariable("DNNL_MAX_CPU_ISA", isa);   // and child processes see the same
    }

    public void DisableOneDnn()
    {
        var context = Context();
        var set = (delegate* unmanaged<nint, byte, void>)Export("_ZN2at7Context20setUserEnabledMkldnnEb");   // void at::Context::setUserEnabledMkldnn(bool)
        set(context, 0);
        if (OneDnnEnabled()) throw new InvalidOperationException("LibTorch kept oneDNN on after setUserEnabledMkldnn(false)");
    }

    /// <summary>at::globalContext().userEnabledMkldnn().</summary>
    public static bool OneDnnEnabled()
    {
        var get = (delegate* unmanaged<nint, byte>)Export("_ZNK2at7Context17userEnabledMkldnnEv");   // bool at::Context::userEnabledMkldnn() const
        return get(Context()) != 0;
    }

    private static nint Context()
    {
        var global = (delegate* unmanaged<nint>)Export("_ZN2at13globalContextEv");   // at::Context& at::globalContext()
        return global();
    }

    private static readonly Lazy<nint> LibTorchCpu = new(() =>
    {
        // TorchSharp loads LibTorch from its package folder on first use; once loaded, dlopen finds
        // libtorch_cpu.so by its soname.
        using (TorchSharp.torch.zeros(1)) { }
        return NativeLibrary.TryLoad("libtorch_cpu.so", out var library)
            ? library
            : throw new InvalidOperationException("libtorch_cpu.so is not loaded in this process");
    });

    private static nint Export(string symbol) =>
        NativeLibrary.TryGetExport(LibTorchCpu.Value, symbol, out var address)
            ? address
            : throw new InvalidOperationException($"libtorch_cpu.so exports no {symbol}: this LibTorch cannot switch oneDNN off");
}
