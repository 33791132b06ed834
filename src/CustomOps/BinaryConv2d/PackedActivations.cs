using System.Runtime.InteropServices;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>The bit-packed input of one call, [N, H, W, words], in 64-byte aligned native memory freed on dispose.</summary>
internal readonly unsafe struct PackedActivations : IDisposable
{
    public PackedActivations(BinaryConv2dParams p)
    {
        Pointer = (ulong*)NativeMemory.AlignedAlloc((nuint)((long)p.Batch * p.InHeight * p.InWidth * p.Words * sizeof(ulong)), 64);
    }

    public ulong* Pointer { get; }

    public void Dispose() => NativeMemory.AlignedFree(Pointer);
}
