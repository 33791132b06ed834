using System.Runtime.CompilerServices;
using System.Numerics;

namespace BiVM.CustomOps.BinaryConv2d;

/// <summary>
/// Scalar XOR + <see cref="BitOperations.PopCount(ulong)"/> (one POPCNT instruction where the CPU has it, a bit
/// trick elsewhere): the kernel for any CPU. One pixel per block; four output channels share each patch load.
/// </summary>
internal sealed unsafe class PortableKernel : IBinaryKernel
{
    public static readonly PortableKernel Instance = new();

    public string Name => "portable";
    public int PixelBlock => 1;

    public bool ReadsWeightWordsOnly => true;

    // Hot loop: compiled fully optimized at once (no tier-0 code for the first calls of a session).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Accumulate(ulong* patches, int blocks, ulong* weights, int coutPadded, int patchWords, int* counts, int countsStride)
    {
        for (int co = 0; co < coutPadded; co += IBinaryKernel.CoutBlock)
        {
            ulong* w0 = weights + (long)co * patchWords, w1 = w0 + patchWords, w2 = w1 + patchWords, w3 = w2 + patchWords;
            int* c0 = counts + (long)co * countsStride, c1 = c0 + countsStride, c2 = c1 + countsStride, c3 = c2 + countsStride;
            for (int b = 0; b < blocks; b++)
            {
                ulong* a = patches + (long)b * patchWords;
                int s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                for (int k = 0; k < patchWords; k++)
                {
                    ulong v = a[k];
                    s0 += BitOperations.PopCount(v ^ w0[k]);
                    s1 += BitOperations.PopCount(v ^ w1[k]);
                    s2 += BitOperations.PopCount(v ^ w2[k]);
                    s3 += BitOperations.PopCount(v ^ w3[k]);
                }
                c0[b] = s0; c1[b] = s1; c2[b] = s2; c3[b] = s3;
            }
        }
    }
}
