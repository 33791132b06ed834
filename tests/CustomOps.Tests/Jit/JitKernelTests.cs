using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.Jit;
using Xunit.Abstractions;

namespace BiVM.CustomOps.Tests.Jit;

/// <summary>
/// The run-time emitted kernels: their bytes decoded by an independent disassembler (binutils' objdump) must be
/// exactly the instructions the emitter meant, and the code must count exactly what a scalar loop over the
/// <see cref="IBinaryKernel"/> layout counts, on every shape the loops branch on.
/// </summary>
public partial class JitKernelTests(ITestOutputHelper output)
{
    public static TheoryData<string> Variants() => new(VariantNames);

    internal static readonly string[] VariantNames = ["avx512-vpopcntq-jit", "avx512-vpopcntq8-jit", "avx2-jit"];

    internal static PopcountVariant Create(string name) => name switch
    {
        "avx512-vpopcntq-jit" => new VpopcntqVariant(),
        "avx512-vpopcntq8-jit" => new VpopcntqVariant(registers: 1),
        "avx2-jit" => new Avx2LookupVariant(),
        _ => throw new ArgumentException(name),
    };

    /// <summary>The patches as the variant's code reads them: the layout itself, or split into nibbles (<see cref="PopcountVariant.ReadsNibblePatches"/>).</summary>
    internal static unsafe ulong[] CodePatches(PopcountVariant variant, ulong[] patches)
    {
        if (!variant.ReadsNibblePatches) return patches;
        var split = new ulong[2 * patches.Length];
        fixed (ulong* from = patches) fixed (ulong* to = split) IBinaryKernel.SplitNibbles(from, patches.Length, to);
        return split;
    }

    private static bool CanRun(string name) => name switch
    {
        "avx2-jit" => JitKernel.Avx2Supported,
        "avx512-vpopcntq8-jit" => JitKernel.Vpopcntq8Supported,
        _ => JitKernel.VpopcntqSupported,
    };

    [GeneratedRegex(@"^\s*([0-9a-f]+):\t[0-9a-f ]+\t(.*)$")]
    private static partial Regex ObjdumpLine();

    /// <summary>Every instruction, at every offset: objdump's decoding of the bytes equals the emitter's intent.</summary>
    [Theory]
    [MemberData(nameof(Variants))]
    public void Emitted_bytes_disassemble_to_the_intended_instructions(string name)
    {
        var (code, codeLength, listing) = PopcountKernelEmitter.Emit(Create(name));
        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(file, code.AsSpan(0, codeLength).ToArray());
            var start = new ProcessStartInfo("objdump") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var arg in new[] { "-D", "-b", "binary", "-m", "i386:x86-64", "-M", "intel", file }) start.ArgumentList.Add(arg);
            using var process = Process.Start(start) ?? throw new InvalidOperationException("objdump did not start (binutils is installed by install.sh)");
            string text = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            Assert.Equal(0, process.ExitCode);
            var decoded = text.Split('\n').Select(l => ObjdumpLine().Match(l)).Where(m => m.Success)
                .Select(m => (Offset: Convert.ToInt32(m.Groups[1].Value, 16), Text: Normalize(m.Groups[2].Value))).ToList();
            var intended = listing.Select(l => (l.Offset, Text: Normalize(l.Text))).ToList();
            for (int i = 0; i < Math.Min(decoded.Count, intended.Count); i++)
                Assert.True(decoded[i] == intended[i], $"{name}, instruction {i}: objdump decodes {decoded[i]}, the emitter meant {intended[i]}");
            Assert.Equal(intended.Count, decoded.Count);
            output.WriteLine($"{name}: {intended.Count} instructions, {codeLength} bytes, all decoded as intended");
            if (name.StartsWith("avx512-vpopcntq", StringComparison.Ordinal)) Assert.Contains(decoded, d => d.Text == "vpopcntq zmm24,zmm24");
        }
        finally { File.Delete(file); }
    }

    private static string Normalize(string s) => Regex.Replace(s.Split('#')[0], @"\s+", " ").Trim();

    /// <summary>The SDM's example encoding, byte for byte (kernel-performance.md: vpopcntq zmm1, zmm1 = 62 F2 FD 48 55 C9).</summary>
    [Fact]
    public void Vpopcntq_encoding_matches_the_manual()
    {
        var a = new X86Assembler();
        a.Vpopcntq(Reg.Zmm(1), Reg.Zmm(1));
        Assert.Equal(new byte[] { 0x62, 0xF2, 0xFD, 0x48, 0x55, 0xC9 }, a.Build());
    }

    public static IEnumerable<object[]> Shapes()
    {
        // (blocks, coutPadded, patchWords): one and many blocks and channel blocks; patch lengths below, at and
        // past the lookup's 31-word chunk (1, 31, 32, 62, 63, 100), odd ones and the real layers' (4, 5, 9, 18, 36).
        foreach (int words in new[] { 1, 2, 3, 4, 5, 9, 18, 31, 32, 33, 36, 62, 63, 100 })
            foreach (var (blocks, cout) in new[] { (1, 4), (3, 8), (7, 4), (2, 36) })
                yield return [blocks, cout, words];
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Every_runnable_variant_counts_exactly(int blocks, int coutPadded, int patchWords)
    {
        foreach (var name in VariantNames)
        {
            if (!CanRun(name))
            {
                output.WriteLine($"{name}: NOT run, this CPU/OS cannot execute it");
                continue;
            }
            using var kernel = new JitKernel(Create(name));
            CheckAgainstScalar(kernel, blocks, coutPadded, patchWords, seed: blocks * 1000 + coutPadded * 100 + patchWords);
        }
    }

    /// <summary>Scalar XOR + popcount straight from the documented layout: patches [block][k][pixel], weights plane 0.</summary>
    private static unsafe void CheckAgainstScalar(IBinaryKernel kernel, int blocks, int coutPadded, int patchWords, int seed)
    {
        var rng = new Random(seed);
        int pb = kernel.PixelBlock, stride = blocks * pb + 5; // a stride wider than the row: rows must not overlap
        var patches = Words(rng, blocks * patchWords * pb);
        var weights = Planes(Words(rng, coutPadded * patchWords));
        var counts = new int[coutPadded * stride];
        Array.Fill(counts, -1);
        fixed (ulong* pp = patches) fixed (ulong* pw = weights) fixed (int* pc = counts)
            kernel.Accumulate(pp, blocks, pw, coutPadded, patchWords, pc, stride);
        for (int co = 0; co < coutPadded; co++)
            for (int p = 0; p < stride; p++)
            {
                int expected = -1; // past blocks·pb: untouched
                if (p < blocks * pb)
                {
                    expected = ScalarCount(patches, weights, pb, patchWords, co, p);
                }
                Assert.True(expected == counts[co * stride + p], $"{kernel.Name} blocks {blocks} cout {coutPadded} words {patchWords}: counts[{co}, {p}] = {counts[co * stride + p]}, expected {expected}");
            }
    }

    /// <summary>Σ_k popcount(patch word k of pixel p XOR weight word k of channel co), read from the layout.</summary>
    internal static int ScalarCount(ulong[] patches, ulong[] weights, int pixelBlock, int patchWords, int co, int p)
    {
        int sum = 0;
        for (int k = 0; k < patchWords; k++)
            sum += BitOperations.PopCount(patches[(p / pixelBlock * patchWords + k) * pixelBlock + p % pixelBlock] ^ weights[co * patchWords + k]);
        return sum;
    }

    internal static ulong[] Words(Random rng, int n) => Enumerable.Range(0, n).Select(_ => (ulong)rng.NextInt64() ^ (ulong)rng.NextInt64() << 1).ToArray();

    /// <summary>The three weight planes the kernels read: words, low nibbles, high nibbles.</summary>
    internal static ulong[] Planes(ulong[] w) =>
        [.. w, .. w.Select(x => x & 0x0F0F0F0F0F0F0F0FUL), .. w.Select(x => (x >> 4) & 0x0F0F0F0F0F0F0F0FUL)];

    [Fact]
    public void Kernels_this_host_cannot_run_are_named_and_refused()
    {
        var runnable = VariantNames.Where(CanRun).ToArray();
        var missing = VariantNames.Except(runnable).ToArray();
        output.WriteLine($"JIT kernels run here: {string.Join(", ", runnable)}; could NOT run here (CPU/OS lacks them): {(missing.Length == 0 ? "none" : string.Join(", ", missing))}");
        var p = BinaryConv2dParams.Square(1, 64, 4, 4, 4, 3);
        foreach (var name in missing)
            Assert.Throws<NotSupportedException>(() => KernelSelector.SelectedName(p, name));
        foreach (var name in runnable)
            Assert.Equal(name, KernelSelector.SelectedName(p, name));
        Assert.Equal(System.Runtime.Intrinsics.X86.Avx2.IsSupported && OperatingSystem.IsLinux(), runnable.Contains("avx2-jit"));
    }

    [Fact]
    public unsafe void Arguments_the_code_would_trust_are_checked_before_the_call()
    {
        if (!JitKernel.Avx2Supported) { output.WriteLine("avx2-jit: NOT run, this CPU/OS cannot execute it"); return; }
        using var kernel = new JitKernel(new Avx2LookupVariant());
        // Pinned for the test's lifetime, so the lambdas can hold the raw addresses.
        var buffer = GC.AllocateArray<ulong>(64, pinned: true);
        var counts = GC.AllocateArray<int>(64, pinned: true);
        nint b = (nint)Unsafe.AsPointer(ref buffer[0]), c = (nint)Unsafe.AsPointer(ref counts[0]);
        void Call(nint patches, int blocks, int cout, int words, int stride) =>
            kernel.Accumulate((ulong*)patches, blocks, (ulong*)b, cout, words, (int*)c, stride);
        Assert.Throws<ArgumentOutOfRangeException>(() => Call(b, 0, 4, 1, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => Call(b, 1, 6, 1, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => Call(b, 1, 4, 0, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => Call(b, 2, 4, 1, 7));
        Assert.Throws<ArgumentNullException>(() => Call(0, 1, 4, 1, 4));
        Call(b, 1, 4, 1, 4); // the smallest valid call runs
        kernel.Dispose();
        Assert.Throws<ObjectDisposedException>(() => Call(b, 1, 4, 1, 4));
    }

    /// <summary>W^X: the kernel's pages are mapped read-execute, not writable, and are unmapped on dispose.</summary>
    [Fact]
    public unsafe void Code_pages_are_executable_and_not_writable_and_unmapped_on_dispose()
    {
        if (!ExecutableMemory.IsSupported) { output.WriteLine("executable memory: NOT run, not Linux x86-64"); return; }
        var memory = ExecutableMemory.Create([0xC3]);
        long address = (long)memory.Pointer;
        Assert.Equal("r-xp", Permissions(address));
        Assert.False(memory.Unmapped);
        memory.Dispose();
        // munmap succeeded on exactly these pages. (Re-reading /proc/self/maps cannot show it: other threads of the
        // runtime may map something new at the freed address at any moment.)
        Assert.True(memory.Unmapped);
    }

    private static string? Permissions(long address)
    {
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            var parts = line.Split(' ', 3);
            var range = parts[0].Split('-');
            long lo = Convert.ToInt64(range[0], 16), hi = Convert.ToInt64(range[1], 16);
            if (address >= lo && address < hi) return parts[1];
        }
        return null;
    }
}

/// <summary>
/// The System V contract checked from machine code: a harness, emitted by the same assembler, loads the seven
/// arguments as a C caller would (the int ones with garbage in their upper halves, which the ABI leaves
/// undefined; the seventh on the stack), fills the callee-saved registers rbx, rbp, r12–r15 with canaries, calls
/// the kernel and returns 1 only if every canary survived.
/// </summary>
public class JitCallingConventionTests(ITestOutputHelper output)
{
    private static readonly int[] Canaries = [unchecked((int)0x9E3779B9), unchecked((int)0x85EBCA6B), unchecked((int)0xC2B2AE35), 0x27D4EB2F, 0x165667B1, unchecked((int)0xD3A2646C)];
    private static readonly Reg[] CalleeSaved = [Reg.Rbx, Reg.Rbp, Reg.R12, Reg.R13, Reg.R14, Reg.R15];

    /// <summary>long harness(void* kernel, long* args): args = patches, blocks, weights, coutPadded, patchWords, counts, countsStride.</summary>
    private static byte[] Harness()
    {
        var a = new X86Assembler();
        foreach (var r in CalleeSaved) a.Push(r);     // rsp ≡ 8 (mod 16) after these six
        a.Mov(Reg.Rax, Reg.Rdi);
        a.Push(Mem.At(Reg.Rsi, 48));                  // seventh argument; rsp ≡ 0 (mod 16) at the call, as the ABI requires
        a.Mov(Reg.Rdi, Mem.At(Reg.Rsi, 0));
        a.Mov(Reg.Rdx, Mem.At(Reg.Rsi, 16));
        a.Mov(Reg.Rcx, Mem.At(Reg.Rsi, 24));
        a.Mov(Reg.R8, Mem.At(Reg.Rsi, 32));
        a.Mov(Reg.R9, Mem.At(Reg.Rsi, 40));
        a.Mov(Reg.Rsi, Mem.At(Reg.Rsi, 8));
        for (int i = 0; i < CalleeSaved.Length; i++) a.Mov(CalleeSaved[i], Canaries[i]);
        a.Call(Reg.Rax);
        a.Add(Reg.Rsp, 8);
        var fail = new Label();
        var done = new Label();
        for (int i = 0; i < CalleeSaved.Length; i++)
        {
            a.Mov(Reg.Rcx, Canaries[i]);
            a.Cmp(CalleeSaved[i], Reg.Rcx);
            a.Jnz(fail);
        }
        a.Mov(Reg.Rax, 1);
        a.Jmp(done);
        a.Bind(fail);
        a.Mov(Reg.Rax, 0);
        a.Bind(done);
        foreach (var r in CalleeSaved.Reverse()) a.Pop(r);
        a.Ret();
        return a.Build();
    }

    [Fact]
    public unsafe void Kernel_keeps_callee_saved_registers_and_reads_int_arguments_as_32_bits()
    {
        if (!JitKernel.Avx2Supported) { output.WriteLine("avx2-jit: NOT run, this CPU/OS cannot execute it"); return; }
        var variant = new Avx2LookupVariant();
        var (code, _, _) = PopcountKernelEmitter.Emit(variant);
        using var kernel = ExecutableMemory.Create(code);
        using var harness = ExecutableMemory.Create(Harness());
        const int blocks = 3, cout = 8, words = 40, pb = 4, stride = blocks * pb;
        var rng = new Random(5);
        var patches = JitKernelTests.Words(rng, blocks * words * pb);
        var weights = JitKernelTests.Planes(JitKernelTests.Words(rng, cout * words));
        var counts = new int[cout * stride];
        const long garbage = unchecked((long)0xDEADBEEF00000000UL);
        long result;
        fixed (ulong* pp = JitKernelTests.CodePatches(variant, patches)) fixed (ulong* pw = weights) fixed (int* pc = counts)
        {
            long[] args = [(long)pp, garbage | blocks, (long)pw, garbage | cout, garbage | words, (long)pc, garbage | stride];
            fixed (long* pa = args)
                result = ((delegate* unmanaged<void*, long*, long>)harness.Pointer)(kernel.Pointer, pa);
        }
        Assert.Equal(1, result);
        for (int co = 0; co < cout; co++)
            for (int p = 0; p < stride; p++)
                Assert.Equal(JitKernelTests.ScalarCount(patches, weights, pb, words, co, p), counts[co * stride + p]);
    }
}

/// <summary>
/// Both variants executed on the model CPU of <see cref="DisassemblyInterpreter"/> from objdump's decoding of their
/// bytes, against the scalar count: for the VPOPCNTQ kernel the only execution this AVX2 host can give it.
/// </summary>
public class JitModelCpuTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> Cases()
    {
        foreach (var name in JitKernelTests.VariantNames)
            foreach (var (blocks, cout, words) in new[] { (1, 4, 1), (2, 8, 9), (3, 4, 33), (1, 12, 5), (2, 4, 63) })
                yield return [name, blocks, cout, words];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public unsafe void Model_cpu_run_counts_exactly(string name, int blocks, int coutPadded, int patchWords)
    {
        PopcountVariant variant = JitKernelTests.Create(name);
        var (code, codeLength, _) = PopcountKernelEmitter.Emit(variant);
        int pb = variant.PixelBlock, stride = blocks * pb + 3;
        var rng = new Random(blocks * 100 + patchWords);
        var patches = JitKernelTests.Words(rng, blocks * patchWords * pb);
        var weights = JitKernelTests.Planes(JitKernelTests.Words(rng, coutPadded * patchWords));
        var counts = new int[coutPadded * stride];
        Array.Fill(counts, -1);
        long steps;
        fixed (byte* c = code) fixed (ulong* pp = JitKernelTests.CodePatches(variant, patches)) fixed (ulong* pw = weights) fixed (int* pc = counts)
        {
            var cpu = new DisassemblyInterpreter(c, code, codeLength);
            const long garbage = unchecked((long)0xDEADBEEF00000000UL);
            steps = cpu.Call((long)pp, garbage | (uint)blocks, (long)pw, garbage | (uint)coutPadded, garbage | (uint)patchWords, (long)pc, garbage | (uint)stride);
        }
        for (int co = 0; co < coutPadded; co++)
            for (int p = 0; p < stride; p++)
            {
                int expected = p < blocks * pb ? JitKernelTests.ScalarCount(patches, weights, pb, patchWords, co, p) : -1;
                Assert.True(expected == counts[co * stride + p], $"{name} on the model CPU, blocks {blocks} cout {coutPadded} words {patchWords}: counts[{co}, {p}] = {counts[co * stride + p]}, expected {expected}");
            }
        output.WriteLine($"{name}: {steps} instructions executed on the model CPU, counts exact");
    }
}

/// <summary>An <see cref="IBinaryKernel"/> whose Accumulate runs emitted code on the model CPU.</summary>
internal sealed unsafe class ModelCpuKernel(PopcountVariant variant) : IBinaryKernel
{
    private readonly (byte[] Code, int Length, IReadOnlyList<(int, string)> _) _emitted = PopcountKernelEmitter.Emit(variant);

    public string Name => variant.Name;
    public int PixelBlock => variant.PixelBlock;
    public long Instructions { get; private set; }

    public void Accumulate(ulong* patches, int blocks, ulong* weights, int coutPadded, int patchWords, int* counts, int countsStride)
    {
        // The patches as the code reads them (JitKernel.Accumulate does the same).
        var read = JitKernelTests.CodePatches(variant, new ReadOnlySpan<ulong>(patches, blocks * patchWords * PixelBlock).ToArray());
        fixed (byte* code = _emitted.Code) fixed (ulong* pp = read)
        {
            // The code array is pinned only inside fixed, so the model reads its RIP-relative data from here.
            var cpu = new DisassemblyInterpreter(code, _emitted.Code, _emitted.Length);
            Instructions += cpu.Call((long)pp, blocks, (long)weights, coutPadded, patchWords, (long)counts, countsStride);
        }
    }
}

/// <summary>The VPOPCNTQ kernel through the whole conv (gather in 32-pixel blocks, segments, correction, transform) on the model CPU.</summary>
public class JitModelCpuConvTests(ITestOutputHelper output)
{
    [Fact]
    public void Vpopcntq_kernel_on_the_model_cpu_gives_the_reference_conv()
    {
        BinaryConv2dParams[] shapes =
        [
            BinaryConv2dParams.Square(1, 64, 3, 40, 6, 3),             // one word per pixel, 32-pixel blocks plus a tail
            BinaryConv2dParams.Square(1, 130, 2, 9, 5, 3, stride: 2),  // 3 words per pixel, a single partial block
            BinaryConv2dParams.Square(1, 20, 3, 35, 4, 3, dilation: 2), // paired taps
        ];
        foreach (var (p, i) in shapes.Select((p, i) => (p, i)))
        {
            var c = new ConvCase(p, seed: 900 + i);
            var kernel = new ModelCpuKernel(new VpopcntqVariant());
            using var conv = new BinaryConvolution(p, c.PackedWeights, c.Alpha, c.Tau, c.Bias, () => kernel);
            var y = new float[p.Batch * p.OutChannels * p.OutHeight * p.OutWidth];
            conv.Run(c.X, p.Batch, p.InHeight, p.InWidth, y);
            Assert.Equal(c.Expected(c.OracleDots()), y);
            output.WriteLine($"{c}: {kernel.Instructions} model-CPU instructions, exact");
        }
    }

    /// <summary>
    /// The sparse conv's short rows go to the 8-pixel companion and whole rows to the 32-pixel kernel
    /// (BinaryConvolution.KernelFor), both on the model CPU, and the result is the reference conv's where the mask is on.
    /// </summary>
    [Fact]
    public unsafe void Sparse_rows_take_the_narrow_vpopcntq_kernel_and_stay_exact()
    {
        var p = BinaryConv2dParams.Square(1, 64, 12, 64, 8, 3);
        var c = new ConvCase(p, seed: 931);
        var wide = new ModelCpuKernel(new VpopcntqVariant());
        var narrow = new ModelCpuKernel(new VpopcntqVariant(registers: 1));
        using var conv = new BinaryConvolution(p, c.PackedWeights, c.Alpha, c.Tau, c.Bias, () => wide, _ => narrow);
        const int scale = 4;
        var (mh, mw) = BiVM.CustomOps.SparseBinaryConv2d.MaskGeometry.MaskSize(p.OutHeight, p.OutWidth, scale);
        // Mask rows 0 and 2: one active cell (4 pixels per output row: narrow); mask row 1: every cell (64: wide).
        var mask = new byte[mh * mw];
        mask[0 * mw + 3] = 1;
        mask[2 * mw + 10] = 1;
        for (int x = 0; x < mw; x++) mask[1 * mw + x] = 1;
        var y = new float[p.OutChannels * p.OutHeight * p.OutWidth];
        fixed (float* px = c.X) fixed (float* py = y) fixed (byte* pm = mask)
            new BiVM.CustomOps.SparseBinaryConv2d.SparseBinaryConvolution(conv, scale).Run(px, 1, p.InHeight, p.InWidth, pm, py, ParallelRunners.Sequential);
        var expected = c.Expected(c.OracleDots());
        int plane = p.OutHeight * p.OutWidth;
        for (int i = 0; i < y.Length; i++)
        {
            int oy = i % plane / p.OutWidth, ox = i % p.OutWidth;
            bool active = mask[oy / scale * mw + ox / scale] != 0;
            Assert.Equal(active ? expected[i] : 0f, y[i]);
        }
        Assert.True(narrow.Instructions > 0, "the 4-pixel rows did not go to the narrow kernel");
        Assert.True(wide.Instructions > 0, "the 64-pixel rows did not go to the wide kernel");
        output.WriteLine($"narrow {narrow.Instructions}, wide {wide.Instructions} model-CPU instructions, exact");
    }
}

/// <summary>The check every emitted kernel passes before the table may pick it (<c>JitKernel.CountsExactly</c>).</summary>
public class JitSelfCheckTests
{
    [Fact]
    public void Kernels_that_count_exactly_pass_and_one_wrong_count_fails()
    {
        Assert.True(JitKernel.CountsExactly(PortableKernel.Instance));
        if (JitKernel.Avx2Supported) Assert.True(JitKernel.CountsExactly(JitKernel.Avx2Lookup));
        Assert.False(JitKernel.CountsExactly(new OneCountOff(PortableKernel.Instance)));
    }

    /// <summary>A kernel whose last count of a 3-block, 8-channel call is one too high: what a wrong tail would do.</summary>
    private sealed unsafe class OneCountOff(IBinaryKernel inner) : IBinaryKernel
    {
        public string Name => "one-off";
        public int PixelBlock => inner.PixelBlock;

        public void Accumulate(ulong* patches, int blocks, ulong* weights, int coutPadded, int patchWords, int* counts, int countsStride)
        {
            inner.Accumulate(patches, blocks, weights, coutPadded, patchWords, counts, countsStride);
            if (blocks == 3 && coutPadded == 8) counts[(coutPadded - 1) * countsStride + blocks * PixelBlock - 1]++;
        }
    }
}
