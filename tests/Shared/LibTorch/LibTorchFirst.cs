using System.Runtime.CompilerServices;
using BiVM.Model.Numerics;

namespace BiVM.Tests.Shared;

/// <summary>
/// Decides LibTorch's convolution path when the test assembly loads, before any test runs. The library does it
/// before its own first convolution, but tests also call conv2d directly (losses, block tests) and xunit may
/// start any of them first; on a host where oneDNN must be limited, the limit has to precede oneDNN's first use.
/// </summary>
internal static class LibTorchFirst
{
#pragma warning disable CA2255 // a test assembly is the application here: nothing else runs before its tests
    [ModuleInitializer]
    internal static void Verify() => LibTorchNumerics.EnsureVerified();
#pragma warning restore CA2255
}
