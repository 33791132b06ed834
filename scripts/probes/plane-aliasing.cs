#:project ../../src/CustomOps/BiVM.CustomOps.csproj
#:property AssemblyName=BiVM.Benchmarking
#:property AllowUnsafeBlocks=true
#:property PublishAot=false
// Upsample2xPacker on decode0's shape (32 upsampled planes of 144×256, 3 copied planes of 288×512, two τ) with the
// planes one after the other as ONNX Runtime allocates them (a plane is 36 × 4 KB, so the same column of every plane
// falls in the same L1 set) and with PAD bytes between them, row by row or by pairs of rows (PAIR=1): how much the
// planes' aliasing in L1 costs the packer (docs/kernels.md, "the bilinear packer by pairs of rows"). The packer is
// internal to BiVM.CustomOps, whose internals are visible to BiVM.Benchmarking: this probe takes that assembly name and
// references BiVM.CustomOps alone. From the repository root:
//
//   dotnet build -c Release scripts/probes/plane-aliasing.cs    # then run the dll it names (BiVM.Benchmarking.dll)
//   PAIR=1 dotnet <that dll> [REPS]
//
// Prints the median and fastest time of a whole 288-row output per padding (0 and 320 bytes, three times in turn).
using System.Diagnostics;
using System.Runtime.InteropServices;
using BiVM.CustomOps.Upsampling;

int reps = args.Length > 0 ? int.Parse(args[0]) : 300;
bool pairs = Environment.GetEnvironmentVariable("PAIR") == "1";
unsafe
{
    const int inH = 144, inW = 256, upsampled = 32, copied = 3, H = 288, W = 512, total = upsampled + copied;
    float** planes = stackalloc float*[total];
    float* tau = stackalloc float[total], tauSecond = stackalloc float[total];
    for (int c = 0; c < total; c++) { tau[c] = 0.01f * c; tauSecond[c] = -0.01f * c; }
    foreach (int pad in new[] { 0, 320, 0, 320, 0, 320 })
    {
        long inPlane = inH * inW + pad / 4, outPlane = H * W + pad / 4;
        float* inputs = (float*)NativeMemory.AlignedAlloc((nuint)(upsampled * inPlane * 4), 64);
        float* copies = (float*)NativeMemory.AlignedAlloc((nuint)(copied * outPlane * 4), 64);
        ulong* words = (ulong*)NativeMemory.AlignedAlloc((nuint)(H * W * 8), 64);
        ulong* wordsSecond = (ulong*)NativeMemory.AlignedAlloc((nuint)(H * W * 8), 64);
        try
        {
            var r = new Random(1);
            for (long i = 0; i < upsampled * inPlane; i++) inputs[i] = (float)r.NextDouble() - 0.5f;
            for (long i = 0; i < copied * outPlane; i++) copies[i] = (float)r.NextDouble() - 0.5f;
            for (int c = 0; c < upsampled; c++) planes[c] = inputs + c * inPlane;
            for (int c = 0; c < copied; c++) planes[upsampled + c] = copies + c * outPlane;
            var ys = BilinearAxis.Doubled(inH, H);
            var xs = BilinearAxis.Doubled(inW, W);
            var times = new List<double>();
            for (int rep = 0; rep < reps; rep++)
            {
                var clock = Stopwatch.StartNew();
                Upsample2xPacker.PackRow(planes, upsampled, total, inW, ys, xs, 0, tau, words, tauSecond, wordsSecond);
                for (int oy = 1; oy + 1 < H; oy += 2)
                    if (pairs) Upsample2xPacker.PackRowPair(planes, upsampled, total, inW, ys, xs, oy, tau, words + oy * W, tauSecond, wordsSecond + oy * W);
                    else
                        for (int k = 0; k < 2; k++)
                            Upsample2xPacker.PackRow(planes, upsampled, total, inW, ys, xs, oy + k, tau, words + (oy + k) * W, tauSecond, wordsSecond + (oy + k) * W);
                Upsample2xPacker.PackRow(planes, upsampled, total, inW, ys, xs, H - 1, tau, words + (H - 1) * W, tauSecond, wordsSecond + (H - 1) * W);
                times.Add(clock.Elapsed.TotalMilliseconds);
            }
            times.Sort();
            Console.WriteLine($"{(pairs ? "pairs of rows" : "row by row")}, planes {pad} bytes apart: median {times[times.Count / 2]:F3} ms, fastest {times[0]:F3} ms");
        }
        finally
        {
            NativeMemory.AlignedFree(inputs);
            NativeMemory.AlignedFree(copies);
            NativeMemory.AlignedFree(words);
            NativeMemory.AlignedFree(wordsSecond);
        }
    }
}
