using System.Globalization;

namespace BiVM.CustomOps.Jit;

/// <summary>Register classes the emitter knows: 64-bit general purpose, and the three vector widths.</summary>
internal enum RegKind { Gpr, Xmm, Ymm, Zmm }

/// <summary>A register: its class and its number (0–15 for GPRs and VEX vectors, 0–31 for EVEX vectors).</summary>
internal readonly record struct Reg(RegKind Kind, int Id)
{
    private static readonly string[] Gpr64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];
    private static readonly string[] Gpr32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"];

    public static readonly Reg Rax = new(RegKind.Gpr, 0), Rcx = new(RegKind.Gpr, 1), Rdx = new(RegKind.Gpr, 2), Rbx = new(RegKind.Gpr, 3),
        Rsp = new(RegKind.Gpr, 4), Rbp = new(RegKind.Gpr, 5), Rsi = new(RegKind.Gpr, 6), Rdi = new(RegKind.Gpr, 7),
        R8 = new(RegKind.Gpr, 8), R9 = new(RegKind.Gpr, 9), R10 = new(RegKind.Gpr, 10), R11 = new(RegKind.Gpr, 11),
        R12 = new(RegKind.Gpr, 12), R13 = new(RegKind.Gpr, 13), R14 = new(RegKind.Gpr, 14), R15 = new(RegKind.Gpr, 15);

    public static Reg Ymm(int id) => new(RegKind.Ymm, id);
    public static Reg Zmm(int id) => new(RegKind.Zmm, id);
    public Reg AsXmm => new(RegKind.Xmm, Id);

    public string Name => Kind switch
    {
        RegKind.Gpr => Gpr64[Id],
        RegKind.Xmm => "xmm" + Id,
        RegKind.Ymm => "ymm" + Id,
        _ => "zmm" + Id,
    };

    public string Name32 => Gpr32[Id];
}

/// <summary>A position in the code, bound once; jumps and RIP-relative operands refer to it before or after.</summary>
internal sealed class Label
{
    public int Position { get; set; } = -1;
}

/// <summary>
/// A memory operand [base + index·scale + disp], or [rip + label] for data placed after the code. The size names
/// the operand in the listing (objdump's "QWORD PTR" etc.); the encoding does not depend on it.
/// </summary>
internal readonly record struct Mem(Reg? Base, Reg? Index = null, int Scale = 1, int Disp = 0, Label? Rip = null)
{
    public static Mem At(Reg b, int disp = 0) => new(b, null, 1, disp);
    public static Mem At(Reg b, Reg index, int scale = 1, int disp = 0) => new(b, index, scale, disp);
    public static Mem RipOf(Label data) => new(null, Rip: data);
}

/// <summary>
/// Writes x86-64 machine code into a byte buffer, one method per instruction form the kernels use (the way
/// Xbyak's CodeGenerator works), and keeps an Intel-syntax listing of what each instruction was meant to be, in
/// objdump's spelling, so a test can disassemble the bytes with an independent decoder and compare line by line.
/// </summary>
/// <remarks>
/// Encodings (Intel SDM vol. 2, ch. 2):
/// <list type="bullet">
/// <item>Legacy: [REX] opcode ModRM [SIB] [disp] [imm]. REX = 0100WRXB: W = 64-bit operand, R extends ModRM.reg,
/// X extends SIB.index, B extends ModRM.rm or SIB.base.</item>
/// <item>ModRM = mod(2) reg(3) rm(3). mod 00 = no displacement, 01 = disp8, 10 = disp32, 11 = register. rm = 100
/// means a SIB byte follows (needed for rsp/r12 as base and for any index); mod 00 with rm = 101 is [rip + disp32],
/// so rbp/r13 as base always carry a displacement (disp8 0). SIB = scale(2) index(3) base(3); index 100 = none.</item>
/// <item>VEX (3 bytes, used for every VEX instruction here): C4, R̄X̄B̄ mmmmm, W v̄v̄v̄v̄ L pp. The bars are
/// inverted; vvvv is the extra source register; L = 1 for 256 bits; pp: 0 none, 1 = 66, 2 = F3, 3 = F2 (implied
/// prefix); mmmmm: 1 = 0F, 2 = 0F38, 3 = 0F3A.</item>
/// <item>EVEX (4 bytes): 62, R̄X̄B̄R̄′ 0 mmm, W v̄v̄v̄v̄ 1 pp, z L′L b V̄′ aaa. R′ and V′ are the fifth bits of
/// ModRM.reg and vvvv (zmm16–31); for a register in ModRM.rm, X is its fifth bit. L′L = 10 for 512 bits; b =
/// embedded broadcast; aaa = opmask (0: none). An 8-bit displacement is scaled by N, the operand's memory size
/// (disp8·N: 64 for a full zmm, 8 for a broadcast qword, 32 for vpmovqd's half-width store), so a displacement
/// that is not a multiple of N takes the disp32 form.</item>
/// </list>
/// </remarks>
internal sealed class X86Assembler
{
    private readonly List<byte> _code = [];
    private readonly List<(int At, Label Target, int End)> _fixups = [];
    private readonly List<(int Offset, Func<string> Text)> _listing = [];

    public int Position => _code.Count;

    public void Bind(Label label)
    {
        if (label.Position >= 0) throw new InvalidOperationException("label bound twice");
        label.Position = _code.Count;
    }

    /// <summary>Resolves every jump and RIP-relative displacement and returns the code.</summary>
    public byte[] Build()
    {
        var bytes = _code.ToArray();
        foreach (var (at, target, end) in _fixups)
        {
            if (target.Position < 0) throw new InvalidOperationException("unbound label");
            BitConverter.TryWriteBytes(bytes.AsSpan(at, 4), target.Position - end);
        }
        return bytes;
    }

    /// <summary>The intended instructions, (offset, Intel syntax as objdump -M intel prints it), after <see cref="Build"/>.</summary>
    public IReadOnlyList<(int Offset, string Text)> Listing()
    {
        var lines = new List<(int, string)>();
        for (int i = 0; i < _listing.Count; i++)
        {
            // A RIP-relative displacement counts from the end of its instruction, i.e. the next one's offset.
            int end = i + 1 < _listing.Count ? _listing[i + 1].Offset : _codeEnd;
            string text = System.Text.RegularExpressions.Regex.Replace(_listing[i].Text(), "@(\\d+)@",
                t => Hex(int.Parse(t.Groups[1].Value, CultureInfo.InvariantCulture) - end));
            lines.Add((_listing[i].Offset, text));
        }
        return lines;
    }

    private int _codeEnd = -1;

    /// <summary>Marks the end of the instructions (data may follow).</summary>
    public void EndOfCode() => _codeEnd = Position;

    // ---- data ---------------------------------------------------------------------------------------------------

    /// <summary>Pads with int3 to a multiple of <paramref name="alignment"/> (data after the code).</summary>
    public void Align(int alignment)
    {
        while (_code.Count % alignment != 0) _code.Add(0xCC);
    }

    public void Data(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes) _code.Add(b);
    }

    // ---- general-purpose instructions (64-bit operands) ---------------------------------------------------------

    public void Push(Reg r) => Short(0x50, r, "push");
    public void Pop(Reg r) => Short(0x58, r, "pop");

    public void Ret() => Raw("ret", 0xC3);

    /// <summary>call r64 (FF /2) and push m64 (FF /6): used by the test harness that calls a kernel as C code would.</summary>
    public void Call(Reg r) => Rm(0xFF, 2, r, $"call {r.Name}");
    public void Push(Mem m) => Rm(0xFF, 6, m, () => $"push {Format(m, "QWORD")}");

    /// <summary>Clears the upper halves of all vector registers: avoids the AVX–SSE transition penalty in the caller.</summary>
    public void Vzeroupper() => Raw("vzeroupper", 0xC5, 0xF8, 0x77);

    public void Mov(Reg dst, Reg src) => Rm(0x89, src.Id, dst, $"mov {dst.Name},{src.Name}");
    public void Mov(Reg dst, Mem src) => Rm(0x8B, dst.Id, src, () => $"mov {dst.Name},{Format(src, "QWORD")}");
    public void Mov(Mem dst, Reg src) => Rm(0x89, src.Id, dst, () => $"mov {Format(dst, "QWORD")},{src.Name}");
    public void Add(Reg dst, Reg src) => Rm(0x01, src.Id, dst, $"add {dst.Name},{src.Name}");
    public void Sub(Reg dst, Reg src) => Rm(0x29, src.Id, dst, $"sub {dst.Name},{src.Name}");
    public void Cmp(Reg a, Reg b) => Rm(0x39, b.Id, a, $"cmp {a.Name},{b.Name}");
    public void Test(Reg a, Reg b) => Rm(0x85, b.Id, a, $"test {a.Name},{b.Name}");
    public void Lea(Reg dst, Mem src) => Rm(0x8D, dst.Id, src, () => $"lea {dst.Name},{Format(src, null)}");
    public void Imul(Reg dst, Reg src) => Rm(0xAF, dst.Id, src, $"imul {dst.Name},{src.Name}", twoByte: true);
    public void Cmovl(Reg dst, Reg src) => Rm(0x4C, dst.Id, src, $"cmovl {dst.Name},{src.Name}", twoByte: true);
    public void Dec(Reg r) => Rm(0xFF, 1, r, $"dec {r.Name}");
    public void Dec(Mem m) => Rm(0xFF, 1, m, () => $"dec {Format(m, "QWORD")}");

    /// <summary>movsxd r64, r32: an int argument arrives in the low half of its register, the high half undefined.</summary>
    public void Movsxd(Reg dst, Reg src32) => Rm(0x63, dst.Id, src32, $"movsxd {dst.Name},{src32.Name32}");
    public void Movsxd(Reg dst, Mem src) => Rm(0x63, dst.Id, src, () => $"movsxd {dst.Name},{Format(src, "DWORD")}");

    public void Add(Reg dst, int imm) => AluImm(0, dst, imm, "add");
    public void Sub(Reg dst, int imm) => AluImm(5, dst, imm, "sub");

    public void Mov(Reg dst, int imm)
    {
        int at = Position;
        Rex(true, 0, dst);
        Emit(0xC7, (byte)(0xC0 | (dst.Id & 7)));
        Imm32(imm);
        _listing.Add((at, () => $"mov {dst.Name},{Hex(imm)}"));
    }

    public void Shl(Reg r, byte count) => Shift(4, r, count, "shl");
    public void Shr(Reg r, byte count) => Shift(5, r, count, "shr");

    public void Jnz(Label target) => Jump([0x0F, 0x85], target, "jne");
    public void Jz(Label target) => Jump([0x0F, 0x84], target, "je");
    public void Jmp(Label target) => Jump([0xE9], target, "jmp");

    // ---- VEX (AVX2, ymm0–15) -------------------------------------------------------------------------------------

    public void Vmovdqu(Reg dst, Mem src) => Vex(2, 1, 0, 0x6F, dst.Id, 0, src, () => $"vmovdqu {dst.Name},{Format(src, Size(dst))}", L(dst));
    public void Vmovdqu(Mem dst, Reg src) => Vex(2, 1, 0, 0x7F, src.Id, 0, dst, () => $"vmovdqu {Format(dst, Size(src))},{src.Name}", L(src));
    public void Vpxor(Reg dst, Reg a, Reg b) => Vex3(0xEF, 1, dst, a, b, "vpxor");
    public void Vpaddb(Reg dst, Reg a, Reg b) => Vex3(0xFC, 1, dst, a, b, "vpaddb");
    public void Vpaddq(Reg dst, Reg a, Reg b) => Vex3(0xD4, 1, dst, a, b, "vpaddq");
    public void Vpsadbw(Reg dst, Reg a, Reg b) => Vex3(0xF6, 1, dst, a, b, "vpsadbw");
    /// <summary>vpshufb dst, table, indices: dst[i] = table[indices[i] &amp; 15] within each 128-bit lane.</summary>
    public void Vpshufb(Reg dst, Reg table, Reg indices) => Vex3(0x00, 2, dst, table, indices, "vpshufb");
    /// <summary>vpermd dst, indices, src: dst[i] = src[indices[i]] across the whole register.</summary>
    public void Vpermd(Reg dst, Reg indices, Reg src) => Vex3(0x36, 2, dst, indices, src, "vpermd");
    public void Vpbroadcastq(Reg dst, Mem src) => Vex(1, 2, 0, 0x59, dst.Id, 0, src, () => $"vpbroadcastq {dst.Name},{Format(src, "QWORD")}", L(dst));

    // ---- EVEX (AVX-512, zmm0–31) ---------------------------------------------------------------------------------

    public void Vmovdqu64(Reg dst, Mem src) => Evex(2, 1, 1, 0x6F, dst.Id, 0, Operand.Of(src), 64, () => $"vmovdqu64 {dst.Name},{Format(src, "ZMMWORD")}");
    public void Vpxorq(Reg dst, Reg a, Reg b) => Evex(1, 1, 1, 0xEF, dst.Id, a.Id, Operand.Of(b), 64, () => $"vpxorq {dst.Name},{a.Name},{b.Name}");
    public void Vpaddq512(Reg dst, Reg a, Reg b) => Evex(1, 1, 1, 0xD4, dst.Id, a.Id, Operand.Of(b), 64, () => $"vpaddq {dst.Name},{a.Name},{b.Name}");
    /// <summary>VPOPCNTQ (AVX512_VPOPCNTDQ): the bit count of each 64-bit lane; EVEX.512.66.0F38.W1 55 /r.</summary>
    public void Vpopcntq(Reg dst, Reg src) => Evex(1, 2, 1, 0x55, dst.Id, 0, Operand.Of(src), 64, () => $"vpopcntq {dst.Name},{src.Name}");
    public void Vpbroadcastq512(Reg dst, Mem src) => Evex(1, 2, 1, 0x59, dst.Id, 0, Operand.Of(src), 8, () => $"vpbroadcastq {dst.Name},{Format(src, "QWORD")}");
    /// <summary>vmovdqu32 m512, zmm: stores the register (EVEX.512.F3.0F.W0 7F /r).</summary>
    public void Vmovdqu32(Mem dst, Reg src) => Evex(2, 1, 0, 0x7F, src.Id, 0, Operand.Of(dst), 64, () => $"vmovdqu32 {Format(dst, "ZMMWORD")},{src.Name}");
    /// <summary>
    /// vpermt2d dst, index, table2: dst[i] = dword index[i] &amp; 31 of the 32 dwords of dst (0–15) and table2 (16–31);
    /// EVEX.512.66.0F38.W0 7E /r.
    /// </summary>
    public void Vpermt2d(Reg dst, Reg index, Reg table2) => Evex(1, 2, 0, 0x7E, dst.Id, index.Id, Operand.Of(table2), 64, () => $"vpermt2d {dst.Name},{index.Name},{table2.Name}");
    /// <summary>vpmovqd m256, zmm: narrows eight 64-bit lanes to 32 bits and stores them (EVEX.512.F3.0F38.W0 35 /r).</summary>
    public void Vpmovqd(Mem dst, Reg src) => Evex(2, 2, 0, 0x35, src.Id, 0, Operand.Of(dst), 32, () => $"vpmovqd {Format(dst, "YMMWORD")},{src.Name}");

    // ---- encoding -------------------------------------------------------------------------------------------------

    private readonly record struct Operand(Reg? Register, Mem Memory)
    {
        public static Operand Of(Reg r) => new(r, default);
        public static Operand Of(Mem m) => new(null, m);
        public int X => Register is { } r ? r.Id >> 4 & 1 : (Memory.Index?.Id ?? 0) >> 3 & 1;
        public int B => Register is { } r ? r.Id >> 3 & 1 : (Memory.Base?.Id ?? 0) >> 3 & 1;
    }

    private static int L(Reg r) => r.Kind == RegKind.Ymm ? 1 : 0;
    private static string Size(Reg r) => r.Kind == RegKind.Ymm ? "YMMWORD" : "XMMWORD";

    private void Emit(params byte[] bytes) => _code.AddRange(bytes);

    private void Imm32(int v)
    {
        Span<byte> b = stackalloc byte[4];
        BitConverter.TryWriteBytes(b, v);
        Data(b);
    }

    private void Raw(string text, params byte[] bytes)
    {
        _listing.Add((Position, () => text));
        Emit(bytes);
    }

    private void Short(byte opcode, Reg r, string mnemonic)
    {
        int at = Position;
        if (r.Id >= 8) Emit(0x41);
        Emit((byte)(opcode + (r.Id & 7)));
        _listing.Add((at, () => $"{mnemonic} {r.Name}"));
    }

    private void Rex(bool w, int reg, Reg rm) => Emit((byte)(0x40 | (w ? 8 : 0) | (reg >> 3 & 1) << 2 | (rm.Id >> 3 & 1)));

    private void Rm(byte opcode, int reg, Reg rm, string text, bool twoByte = false)
    {
        int at = Position;
        Rex(true, reg, rm);
        if (twoByte) Emit(0x0F);
        Emit(opcode, (byte)(0xC0 | (reg & 7) << 3 | (rm.Id & 7)));
        _listing.Add((at, () => text));
    }

    private void Rm(byte opcode, int reg, Mem m, Func<string> text)
    {
        int at = Position;
        Emit((byte)(0x48 | (reg >> 3 & 1) << 2 | ((m.Index?.Id ?? 0) >> 3 & 1) << 1 | ((m.Base?.Id ?? 0) >> 3 & 1)));
        Emit(opcode);
        ModRm(reg, m, 1);
        _listing.Add((at, text));
    }

    private void AluImm(int ext, Reg dst, int imm, string mnemonic)
    {
        int at = Position;
        Rex(true, 0, dst);
        if (imm is >= sbyte.MinValue and <= sbyte.MaxValue) Emit(0x83, (byte)(0xC0 | ext << 3 | (dst.Id & 7)), (byte)(sbyte)imm);
        else
        {
            Emit(0x81, (byte)(0xC0 | ext << 3 | (dst.Id & 7)));
            Imm32(imm);
        }
        _listing.Add((at, () => $"{mnemonic} {dst.Name},{Hex(imm)}"));
    }

    private void Shift(int ext, Reg r, byte count, string mnemonic)
    {
        int at = Position;
        Rex(true, 0, r);
        Emit(0xC1, (byte)(0xC0 | ext << 3 | (r.Id & 7)), count);
        _listing.Add((at, () => $"{mnemonic} {r.Name},{Hex(count)}"));
    }

    private void Jump(byte[] opcode, Label target, string mnemonic)
    {
        int at = Position;
        Emit(opcode);
        _fixups.Add((Position, target, Position + 4));
        Imm32(0);
        _listing.Add((at, () => $"{mnemonic} {Hex(target.Position)}"));
    }

    /// <summary>ModRM, SIB and displacement for a memory operand; n scales an 8-bit displacement (EVEX disp8·N, else 1).</summary>
    private void ModRm(int reg, Mem m, int n)
    {
        if (m.Rip is { } label)
        {
            Emit((byte)((reg & 7) << 3 | 5));
            _fixups.Add((Position, label, Position + 4));
            Imm32(0);
            return;
        }
        var b = m.Base ?? throw new ArgumentException("memory operand needs a base register");
        if (m.Index is { Id: 4 }) throw new ArgumentException("rsp cannot be an index");
        bool sib = m.Index is not null || (b.Id & 7) == 4;
        int mod = m.Disp == 0 && (b.Id & 7) != 5 ? 0 : m.Disp % n == 0 && m.Disp / n is >= sbyte.MinValue and <= sbyte.MaxValue ? 1 : 2;
        Emit((byte)(mod << 6 | (reg & 7) << 3 | (sib ? 4 : b.Id & 7)));
        if (sib)
        {
            int scaleBits = m.Scale switch { 1 => 0, 2 => 1, 4 => 2, 8 => 3, _ => throw new ArgumentException("scale must be 1, 2, 4 or 8") };
            Emit((byte)(scaleBits << 6 | ((m.Index?.Id ?? 4) & 7) << 3 | (b.Id & 7)));
        }
        if (mod == 1) Emit((byte)(sbyte)(m.Disp / n));
        else if (mod == 2) Imm32(m.Disp);
    }

    private void VexPrefix(int pp, int map, int w, int reg, int rmB, int vvvv, int l, int x = 0) =>
        Emit(0xC4, (byte)((~reg >> 3 & 1) << 7 | (~x & 1) << 6 | (~rmB >> 3 & 1) << 5 | map),
            (byte)(w << 7 | (~vvvv & 15) << 3 | l << 2 | pp));

    private void Vex3(byte opcode, int map, Reg dst, Reg a, Reg b, string mnemonic)
    {
        int at = Position;
        VexPrefix(1, map, 0, dst.Id, b.Id, a.Id, L(dst));
        Emit(opcode, (byte)(0xC0 | (dst.Id & 7) << 3 | (b.Id & 7)));
        _listing.Add((at, () => $"{mnemonic} {dst.Name},{a.Name},{b.Name}"));
    }

    private void Vex(int pp, int map, int w, byte opcode, int reg, int vvvv, Mem m, Func<string> text, int l)
    {
        int at = Position;
        VexPrefix(pp, map, w, reg, m.Base?.Id ?? 0, vvvv, l, (m.Index?.Id ?? 0) >> 3 & 1);
        Emit(opcode);
        ModRm(reg, m, 1);
        _listing.Add((at, text));
    }

    private void Evex(int pp, int map, int w, byte opcode, int reg, int vvvv, Operand rm, int n, Func<string> text)
    {
        int at = Position;
        Emit(0x62,
            (byte)((~reg >> 3 & 1) << 7 | (~rm.X & 1) << 6 | (~rm.B & 1) << 5 | (~reg >> 4 & 1) << 4 | map),
            (byte)(w << 7 | (~vvvv & 15) << 3 | 4 | pp),
            (byte)(2 << 5 | (~vvvv >> 4 & 1) << 3)); // z = 0, L'L = 512 bits, b = 0, no opmask
        Emit(opcode);
        if (rm.Register is { } r) Emit((byte)(0xC0 | (reg & 7) << 3 | (r.Id & 7)));
        else ModRm(reg, rm.Memory, n);
        _listing.Add((at, text));
    }

    // ---- listing (objdump -M intel spelling) ------------------------------------------------------------------------

    private static string Hex(int v) => v < 0 ? "-0x" + (-v).ToString("x", CultureInfo.InvariantCulture) : "0x" + v.ToString("x", CultureInfo.InvariantCulture);

    private string Format(Mem m, string? size)
    {
        string prefix = size is null ? "" : size + " PTR ";
        // The displacement depends on where the instruction ends: the label's position is kept as @pos@ and
        // turned into rip+disp by Listing().
        if (m.Rip is { } label) return $"{prefix}[rip+@{label.Position}@]";
        var b = m.Base!.Value;
        string s = b.Name + (m.Index is { } i ? $"+{i.Name}*{m.Scale}" : "");
        // objdump shows the displacement whenever the encoding has one (rbp/r13 as base force a disp8 of 0).
        if (m.Disp != 0 || (b.Id & 7) == 5) s += m.Disp < 0 ? Hex(m.Disp) : "+" + Hex(m.Disp);
        return $"{prefix}[{s}]";
    }
}
