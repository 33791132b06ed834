using BiVM.CustomOps.BinaryConv2d;

namespace BiVM.CustomOps.Jit;

/// <summary>
/// Emits the machine code of <see cref="IBinaryKernel.Accumulate"/>: one loop structure, and per ISA only the
/// popcount of one patch word against four channels (<see cref="PopcountVariant"/>).
/// </summary>
/// <remarks>
/// The emitted function is
/// <c>void f(ulong* patches, int blocks, ulong* weights, int coutPadded, int patchWords, int* counts, int countsStride)</c>
/// in the System V AMD64 convention: arguments in rdi, rsi, rdx, rcx, r8, r9 and the seventh on the stack at
/// [rsp + 8] on entry; rbx, rbp, r12–r15 belong to the caller (pushed and popped); every vector register is
/// scratch; vzeroupper before ret (the caller's SSE code would otherwise pay the AVX transition). Int arguments
/// are sign-extended first: their registers' upper halves are undefined.
/// <code>
/// for each block of 4 output channels co            (weights rows co..co+3, counts rows co..co+3)
///   for each block of P pixels b                    (P = lanes · registers; patches [b][k][P] in order)
///     for each chunk of ≤ C words (C = ∞ for VPOPCNTQ, 31 for the byte-wise lookup: 31·8 ≤ 255)
///       chunk sums[c] = popcount(patch[b][k0] XOR weights[co + c][k0])          (the chunk's first word k0)
///       for the chunk's other k: chunk sums[c] += popcount(patch[b][k] XOR weights[co + c][k])   (the variant's body)
///       totals = widen(chunk sums) for the block's first chunk, totals += widen(chunk sums) after it
///                                                   (VPOPCNTQ: one chunk, its 64-bit sums are the totals)
///     counts[co + c][b·P .. b·P + P) = totals[c]    (32-bit)
/// </code>
/// General registers throughout: rdi patch cursor, rsi blocks, rdx weights of the channel block, r8 patchWords,
/// r9 counts of the channel block, rbx = patchWords·8 (one weight row), rbp = 3 rows, r10 = countsStride·4,
/// r12 = one weight plane (coutPadded rows), r15 blocks left, rax counts cursor, r11 words left, r14 (and r13)
/// weight cursors, rcx words left in the chunk; the stack holds the channel blocks left and the patches base.
/// </remarks>
internal static class PopcountKernelEmitter
{
    /// <summary>Bytes the prologue pushes (rbx, rbp, r12–r15): the seventh argument is then at [rsp + 48 + 8].</summary>
    private const int PushedBytes = 6 * 8;

    public static (byte[] Code, int CodeLength, IReadOnlyList<(int Offset, string Text)> Listing) Emit(PopcountVariant v)
    {
        var a = new X86Assembler();
        Reg[] saved = [Reg.Rbx, Reg.Rbp, Reg.R12, Reg.R13, Reg.R14, Reg.R15];
        foreach (var r in saved) a.Push(r);
        a.Movsxd(Reg.Rax, Mem.At(Reg.Rsp, PushedBytes + 8)); // countsStride
        a.Sub(Reg.Rsp, 16);                                  // [rsp] channel blocks left, [rsp + 8] patches
        a.Movsxd(Reg.Rsi, Reg.Rsi);
        a.Movsxd(Reg.Rcx, Reg.Rcx);
        a.Movsxd(Reg.R8, Reg.R8);
        a.Mov(Reg.Rbx, Reg.R8);
        a.Shl(Reg.Rbx, 3);
        a.Lea(Reg.Rbp, Mem.At(Reg.Rbx, Reg.Rbx, 2));
        a.Mov(Reg.R10, Reg.Rax);
        a.Shl(Reg.R10, 2);
        a.Mov(Reg.R12, Reg.Rcx);
        a.Imul(Reg.R12, Reg.Rbx);
        a.Shr(Reg.Rcx, 2); // IBinaryKernel.CoutBlock = 4
        a.Mov(Mem.At(Reg.Rsp), Reg.Rcx);
        a.Mov(Mem.At(Reg.Rsp, 8), Reg.Rdi);
        v.Setup(a);

        var channels = new Label();
        a.Bind(channels);
        a.Mov(Reg.Rdi, Mem.At(Reg.Rsp, 8));
        a.Mov(Reg.Rax, Reg.R9);
        a.Mov(Reg.R15, Reg.Rsi);

        var pixels = new Label();
        a.Bind(pixels);
        a.Mov(Reg.R14, Reg.Rdx);
        v.StartWeights(a);
        a.Mov(Reg.R11, Reg.R8);
        // The first word of a chunk (or of the patch) writes the sums instead of adding to zeroed ones, and the first
        // chunk writes the totals: one operation less per accumulator and chunk, a third of the work per output for
        // the one-word 1×1 layers (docs/kernels.md, *the emitted loops' first word*). patchWords ≥ 1, so every chunk
        // has a first word and every block a first chunk.
        if (v.ChunkWords is { } chunkWords)
        {
            var done = new Label();
            Chunk(a, v, chunkWords, firstChunk: true);
            a.Test(Reg.R11, Reg.R11);
            a.Jz(done);
            var chunk = new Label();
            a.Bind(chunk);
            Chunk(a, v, chunkWords, firstChunk: false);
            a.Test(Reg.R11, Reg.R11);
            a.Jnz(chunk);
            a.Bind(done);
        }
        else Words(a, v, Reg.R11);
        v.Store(a); // r11 is free here: the stores use it for row 3
        a.Add(Reg.Rax, v.PixelBlock * sizeof(int));
        a.Dec(Reg.R15);
        a.Jnz(pixels);

        a.Lea(Reg.Rdx, Mem.At(Reg.Rdx, Reg.Rbx, 4));
        a.Lea(Reg.R9, Mem.At(Reg.R9, Reg.R10, 4));
        a.Dec(Mem.At(Reg.Rsp));
        a.Jnz(channels);

        a.Add(Reg.Rsp, 16);
        foreach (var r in saved.Reverse()) a.Pop(r);
        a.Vzeroupper();
        a.Ret();
        a.EndOfCode();
        int codeLength = a.Position;
        v.Constants(a);
        return (a.Build(), codeLength, a.Listing());
    }

    /// <summary>One chunk of at most <paramref name="chunkWords"/> of the r11 words left (rcx counts them): its words, then its sums widened into the totals.</summary>
    private static void Chunk(X86Assembler a, PopcountVariant v, int chunkWords, bool firstChunk)
    {
        a.Mov(Reg.Rcx, chunkWords);
        a.Cmp(Reg.R11, Reg.Rcx);
        a.Cmovl(Reg.Rcx, Reg.R11);
        a.Sub(Reg.R11, Reg.Rcx);
        Words(a, v, Reg.Rcx);
        v.EndChunk(a, firstChunk);
    }

    /// <summary>The words <paramref name="left"/> counts (≥ 1): the first writes the sums, the others add to them.</summary>
    private static void Words(X86Assembler a, PopcountVariant v, Reg left)
    {
        var word = new Label();
        var end = new Label();
        v.Word(a, first: true);
        a.Dec(left);
        a.Jz(end);
        a.Bind(word);
        v.Word(a, first: false);
        a.Dec(left);
        a.Jnz(word);
        a.Bind(end);
    }

    /// <summary>The four count rows of the channel block at the counts cursor rax: rax, +r10, +2·r10, +3·r10 (via r11).</summary>
    public static Mem[] CountRows(int disp = 0) =>
        [Mem.At(Reg.Rax, disp), Mem.At(Reg.Rax, Reg.R10, 1, disp), Mem.At(Reg.Rax, Reg.R10, 2, disp), Mem.At(Reg.R11, Reg.R10, 1, disp)];

    /// <summary>Word k of the four weight rows at a cursor: +0, +rbx, +2·rbx, +rbp.</summary>
    public static Mem[] WeightRows(Reg cursor) =>
        [Mem.At(cursor), Mem.At(cursor, Reg.Rbx), Mem.At(cursor, Reg.Rbx, 2), Mem.At(cursor, Reg.Rbp)];
}

/// <summary>What differs between ISAs: registers, the popcount of one word for four channels, and the widening.</summary>
internal abstract class PopcountVariant
{
    /// <summary>Kernel name in the selection table.</summary>
    public abstract string Name { get; }

    /// <summary>Pixels per block: 64-bit lanes per register × registers per word.</summary>
    public abstract int PixelBlock { get; }

    /// <summary>
    /// Whether the code reads the patches split into nibbles (<see cref="IBinaryKernel.SplitNibbles"/>) rather than as
    /// the <see cref="IBinaryKernel"/> layout: <see cref="JitKernel"/> splits them before the call.
    /// </summary>
    public virtual bool ReadsNibblePatches => false;

    /// <summary>Words summed before widening, or null when the sums are 64-bit from the start.</summary>
    public abstract int? ChunkWords { get; }

    public abstract void Setup(X86Assembler a);
    /// <summary>Weight cursors for the block (r14 = rdx is already set).</summary>
    public virtual void StartWeights(X86Assembler a) { }
    /// <summary>
    /// One patch word k: loads it, adds its popcounts against four channels to the sums (<paramref name="first"/>: writes
    /// them, the chunk's or patch's first word), advances the cursors.
    /// </summary>
    public abstract void Word(X86Assembler a, bool first);
    /// <summary>Widens the chunk's sums into the totals (<paramref name="firstChunk"/>: writes them); only where <see cref="ChunkWords"/> is set.</summary>
    public virtual void EndChunk(X86Assembler a, bool firstChunk) { }
    /// <summary>Writes the four channels' counts at rax (rows r10 apart; r11 is free).</summary>
    public abstract void Store(X86Assembler a);
    /// <summary>Data the code reads RIP-relative, placed after it.</summary>
    public virtual void Constants(X86Assembler a) { }
}

/// <summary>
/// AVX-512 with VPOPCNTQ: R zmm registers of eight 64-bit lanes per block (R = 4: 32 pixels, R = 1: 8 pixels) × 4
/// channels = 4R accumulators of 64-bit counts, so each word costs R patch loads + 4 weight broadcasts for 4R ×
/// (vpxorq, vpopcntq, vpaddq), and nothing needs widening. zmm0–15 accumulators (channel c, register r at R·c + r),
/// zmm16–19 the patch word, zmm20–23 the four channels' weight word, zmm24–31 temporaries (zmm24 the store's dword index).
/// </summary>
/// <remarks>
/// The 512-bit ALU work per pixel is the same for both widths (on Intel it is what limits the loop: ports 0 and 5);
/// R = 4 shares each broadcast among 32 pixels, R = 1 wastes fewer lanes when a row has few pixels to count, as the
/// sparse conv's rows do (a row with 13 active pixels fills 13 of 32 lanes, or 13 of 16).
/// </remarks>
internal sealed class VpopcntqVariant(int registers = 4) : PopcountVariant
{
    private readonly int _registers = registers is 1 or 4 ? registers : throw new ArgumentOutOfRangeException(nameof(registers), registers, "1 or 4 zmm per block (the two forms in the table)");

    private static readonly Reg EvenDwords = Reg.Zmm(24);
    private readonly Label _evenDwords = new(); // fresh per instance, as the lookup's labels

    public override string Name => _registers == 4 ? "avx512-vpopcntq-jit" : "avx512-vpopcntq8-jit";
    public override int PixelBlock => 8 * _registers;
    public override int? ChunkWords => null;

    public override void Setup(X86Assembler a) { }

    public override void Word(X86Assembler a, bool first)
    {
        for (int r = 0; r < _registers; r++) a.Vmovdqu64(Reg.Zmm(16 + r), Mem.At(Reg.Rdi, 64 * r));
        var rows = PopcountKernelEmitter.WeightRows(Reg.R14);
        for (int c = 0; c < 4; c++) a.Vpbroadcastq512(Reg.Zmm(20 + c), rows[c]);
        for (int c = 0; c < 4; c++)
            for (int r = 0; r < _registers; r++)
            {
                int acc = _registers * c + r;
                var t = Reg.Zmm(24 + acc % 8);
                a.Vpxorq(t, Reg.Zmm(16 + r), Reg.Zmm(20 + c));
                if (first)
                    a.Vpopcntq(Reg.Zmm(acc), t);
                else
                {
                    a.Vpopcntq(t, t);
                    a.Vpaddq512(Reg.Zmm(acc), Reg.Zmm(acc), t);
                }
            }
        a.Add(Reg.Rdi, 64 * _registers);
        a.Add(Reg.R14, 8);
    }

    public override void Store(X86Assembler a)
    {
        a.Lea(Reg.R11, Mem.At(Reg.Rax, Reg.R10, 2));
        if (_registers == 1)
        {
            var rows = PopcountKernelEmitter.CountRows();
            for (int c = 0; c < 4; c++) a.Vpmovqd(rows[c], Reg.Zmm(c));
            return;
        }
        // Two registers' low dwords (16 pixels' counts) into one by vpermt2d, then one 64-byte store: per pair one
        // shuffle and one store where vpmovqd took a shuffle and a store each. The accumulators are free to be
        // overwritten: the next block's first word writes them.
        a.Vmovdqu64(EvenDwords, Mem.RipOf(_evenDwords));
        for (int r = 0; r < _registers; r += 2)
        {
            var rows = PopcountKernelEmitter.CountRows(32 * r);
            for (int c = 0; c < 4; c++)
            {
                var low = Reg.Zmm(_registers * c + r);
                a.Vpermt2d(low, EvenDwords, Reg.Zmm(_registers * c + r + 1));
                a.Vmovdqu32(rows[c], low);
            }
        }
    }

    public override void Constants(X86Assembler a)
    {
        if (_registers == 1) return;
        a.Align(64);
        a.Bind(_evenDwords);
        for (int i = 0; i < 16; i++) a.Data(BitConverter.GetBytes(2 * i));
    }
}

/// <summary>
/// AVX2 nibble lookup (Muła), the same computation as <see cref="Avx2Kernel"/>: 4 pixels per block (one ymm), the
/// patch word's nibbles (split once per call, <see cref="IBinaryKernel.SplitNibbles"/>, not once per block of
/// channels: AVX2 frames 0.982 and 1/1.017, docs/kernels.md) XORed with each channel's pre-split weight nibbles
/// (planes 1 and 2 of the weights), <c>vpshufb</c> counts per nibble, byte sums for ≤ 31 words, <c>vpsadbw</c> widens
/// them.
/// ymm0–3 byte sums, ymm4–7 64-bit totals, ymm8/9 the patch nibbles, ymm10/11 weight nibbles, ymm12/13
/// temporaries, ymm15 = the nibble-count table. r14 walks the low-nibble plane, r13 the high one.
/// </summary>
internal sealed class Avx2LookupVariant : PopcountVariant
{
    private static readonly Reg Lut = Reg.Ymm(15), Lo = Reg.Ymm(8), Hi = Reg.Ymm(9),
        WLo = Reg.Ymm(10), WHi = Reg.Ymm(11), T0 = Reg.Ymm(12), T1 = Reg.Ymm(13);

    // Fresh labels per instance: emit each variant object once.
    private readonly Label _lut = new(), _lowDwords = new();

    public override string Name => "avx2-jit";
    public override bool ReadsNibblePatches => true;
    public override int PixelBlock => 4;
    public override int? ChunkWords => 31;

    public override void Setup(X86Assembler a)
    {
        a.Vmovdqu(Lut, Mem.RipOf(_lut));
        a.Add(Reg.Rdx, Reg.R12); // the low-nibble plane (plane 1); the high nibbles are one plane further
    }

    public override void StartWeights(X86Assembler a) => a.Lea(Reg.R13, Mem.At(Reg.Rdx, Reg.R12));

    public override void Word(X86Assembler a, bool first)
    {
        a.Vmovdqu(Lo, Mem.At(Reg.Rdi));
        a.Vmovdqu(Hi, Mem.At(Reg.Rdi, 32));
        var lo = PopcountKernelEmitter.WeightRows(Reg.R14);
        var hi = PopcountKernelEmitter.WeightRows(Reg.R13);
        for (int c = 0; c < 4; c++)
        {
            a.Vpbroadcastq(WLo, lo[c]);
            a.Vpbroadcastq(WHi, hi[c]);
            a.Vpxor(T0, Lo, WLo);
            a.Vpxor(T1, Hi, WHi);
            a.Vpshufb(T0, Lut, T0);
            a.Vpshufb(T1, Lut, T1);
            if (first)
                a.Vpaddb(Reg.Ymm(c), T0, T1);
            else
            {
                a.Vpaddb(T0, T0, T1);
                a.Vpaddb(Reg.Ymm(c), Reg.Ymm(c), T0);
            }
        }
        a.Add(Reg.Rdi, 64);
        a.Add(Reg.R14, 8);
        a.Add(Reg.R13, 8);
    }

    public override void EndChunk(X86Assembler a, bool firstChunk)
    {
        a.Vpxor(WLo, WLo, WLo);
        for (int c = 0; c < 4; c++)
        {
            if (firstChunk) a.Vpsadbw(Reg.Ymm(4 + c), Reg.Ymm(c), WLo);
            else
            {
                a.Vpsadbw(T0, Reg.Ymm(c), WLo);
                a.Vpaddq(Reg.Ymm(4 + c), Reg.Ymm(4 + c), T0);
            }
        }
    }

    public override void Store(X86Assembler a)
    {
        // The totals are < 2^31: their low dwords (0, 2, 4, 6) are the counts.
        a.Vmovdqu(WHi, Mem.RipOf(_lowDwords));
        a.Lea(Reg.R11, Mem.At(Reg.Rax, Reg.R10, 2));
        var rows = PopcountKernelEmitter.CountRows();
        for (int c = 0; c < 4; c++)
        {
            a.Vpermd(T0, WHi, Reg.Ymm(4 + c));
            a.Vmovdqu(rows[c], T0.AsXmm);
        }
    }

    public override void Constants(X86Assembler a)
    {
        a.Align(32);
        a.Bind(_lut);
        byte[] lut = [0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4];
        a.Data(lut);
        a.Data(lut);
        a.Bind(_lowDwords);
        foreach (int i in new[] { 0, 2, 4, 6, 0, 2, 4, 6 }) a.Data(BitConverter.GetBytes(i));
    }
}
