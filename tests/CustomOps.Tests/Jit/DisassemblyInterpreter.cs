using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Text.RegularExpressions;

namespace BiVM.CustomOps.Tests.Jit;

/// <summary>
/// Executes emitted code as objdump decodes it, instruction by instruction, with the architectural meaning of each
/// mnemonic written out here: a model CPU for the handful of instructions the kernels use. It lets a host without
/// AVX-512 run the VPOPCNTQ kernel's loops on real buffers (objdump's decoding of the bytes is independent of the
/// emitter; the semantics below are independent of both). Running the AVX2 kernel through it as well, against the
/// same scalar oracle the real CPU's run is checked with, tests the model itself.
/// </summary>
internal sealed unsafe partial class DisassemblyInterpreter
{
    private readonly Dictionary<long, (string Mnemonic, string[] Operands, long Next)> _code = [];
    private readonly long _codeBase;
    private readonly long[] _gpr = new long[16];
    private readonly ulong[][] _vec = Enumerable.Range(0, 32).Select(_ => new ulong[8]).ToArray();
    private bool _zero, _less;

    private static readonly string[] Gpr64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];
    private static readonly string[] Gpr32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"];

    [GeneratedRegex(@"^\s*([0-9a-f]+):\t[0-9a-f ]+\t(\S+)\s*(.*)$")]
    private static partial Regex Line();

    /// <param name="code">Pinned code (constants after it are read RIP-relative from here).</param>
    /// <param name="codeLength">Bytes of instructions to disassemble.</param>
    public DisassemblyInterpreter(byte* code, byte[] bytes, int codeLength)
    {
        _codeBase = (long)code;
        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(file, bytes.AsSpan(0, codeLength).ToArray());
            var start = new ProcessStartInfo("objdump") { RedirectStandardOutput = true };
            foreach (var arg in new[] { "-D", "-b", "binary", "-m", "i386:x86-64", "-M", "intel", file }) start.ArgumentList.Add(arg);
            using var p = Process.Start(start)!;
            var lines = p.StandardOutput.ReadToEnd().Split('\n').Select(l => Line().Match(l)).Where(m => m.Success).ToList();
            p.WaitForExit();
            for (int i = 0; i < lines.Count; i++)
            {
                long at = Convert.ToInt64(lines[i].Groups[1].Value, 16);
                long next = i + 1 < lines.Count ? Convert.ToInt64(lines[i + 1].Groups[1].Value, 16) : codeLength;
                string ops = lines[i].Groups[3].Value.Split('#')[0].Trim();
                _code[at] = (lines[i].Groups[2].Value, ops.Length == 0 ? [] : SplitOperands(ops), next);
            }
        }
        finally { File.Delete(file); }
    }

    private static string[] SplitOperands(string s) => s.Split(',').Select(o => o.Trim()).ToArray();

    /// <summary>Calls the code with System V integer arguments (the seventh and later on the stack); returns the instruction count.</summary>
    public long Call(params long[] args)
    {
        var stack = new long[4096];
        fixed (long* s = stack)
        {
            long* top = s + stack.Length - 16;
            int extra = Math.Max(0, args.Length - 6);
            for (int i = 0; i < extra; i++) top[1 + i] = args[6 + i]; // [rsp + 8], [rsp + 16], …
            top[0] = -1;                                           // return address: the sentinel that ends the run
            int[] order = [7, 6, 2, 1, 8, 9];                      // rdi, rsi, rdx, rcx, r8, r9
            for (int i = 0; i < Math.Min(6, args.Length); i++) _gpr[order[i]] = args[i];
            _gpr[4] = (long)top;
            return Run(0);
        }
    }

    private long Run(long pc)
    {
        long steps = 0;
        while (pc != -1)
        {
            if (!_code.TryGetValue(pc, out var ins)) throw new InvalidOperationException($"no instruction at {pc:x}");
            steps++;
            long next = ins.Next;
            var o = ins.Operands;
            switch (ins.Mnemonic)
            {
                case "push": _gpr[4] -= 8; *(long*)_gpr[4] = Read(o[0], next); break;
                case "pop": Write(o[0], *(long*)_gpr[4], next); _gpr[4] += 8; break;
                case "ret": next = *(long*)_gpr[4]; _gpr[4] += 8; break;
                case "mov": Write(o[0], Read(o[1], next), next); break;
                case "movsxd": Write(o[0], (int)Read(o[1], next), next); break;
                case "lea": Write(o[0], Address(o[1], next), next); break;
                case "add": Write(o[0], Read(o[0], next) + Read(o[1], next), next); break;
                case "sub": Write(o[0], Read(o[0], next) - Read(o[1], next), next); break;
                case "imul": Write(o[0], Read(o[0], next) * Read(o[1], next), next); break;
                case "shl": Write(o[0], Read(o[0], next) << (int)Read(o[1], next), next); break;
                case "shr": Write(o[0], (long)((ulong)Read(o[0], next) >> (int)Read(o[1], next)), next); break;
                case "dec": { long v = Read(o[0], next) - 1; Write(o[0], v, next); _zero = v == 0; break; }
                case "test": _zero = (Read(o[0], next) & Read(o[1], next)) == 0; break;
                case "cmp": { long a = Read(o[0], next), b = Read(o[1], next); _zero = a == b; _less = a < b; break; }
                case "cmovl": if (_less) Write(o[0], Read(o[1], next), next); break;
                case "jne": if (!_zero) next = Convert.ToInt64(o[0], 16); break;
                case "je": if (_zero) next = Convert.ToInt64(o[0], 16); break;
                case "jmp": next = Convert.ToInt64(o[0], 16); break;
                case "vzeroupper": foreach (var v in _vec) Array.Clear(v, 2, 6); break;
                default: Vector(ins.Mnemonic, o, next); break;
            }
            pc = next;
        }
        return steps;
    }

    // ---- vector instructions: lanes of 64 bits; an xmm/ymm write zeroes the rest of the zmm (VEX/EVEX rule) ----

    private void Vector(string mnemonic, string[] o, long next)
    {
        int lanes = Lanes(o[0]);
        ulong[] A(int i) => Source(o[i], lanes, next);
        ulong[] r = new ulong[8];
        switch (mnemonic)
        {
            case "vmovdqu" or "vmovdqu64" or "vmovdqu32":
                if (o[0].Contains('[')) { Store(o[0], Source(o[1], Lanes(o[1]), next), Lanes(o[1]), next); return; }
                r = A(1); break;
            case "vpbroadcastq": { ulong q = A(1)[0]; for (int i = 0; i < lanes; i++) r[i] = q; break; }
            case "vpxor" or "vpxorq": { var a = A(1); var b = A(2); for (int i = 0; i < lanes; i++) r[i] = a[i] ^ b[i]; break; }
            case "vpaddq": { var a = A(1); var b = A(2); for (int i = 0; i < lanes; i++) r[i] = a[i] + b[i]; break; }
            case "vpopcntq": { var a = A(1); for (int i = 0; i < lanes; i++) r[i] = (ulong)BitOperations.PopCount(a[i]); break; }
            case "vpaddb": r = Bytes(A(1), A(2), lanes, (x, y, _, _) => (byte)(x + y)); break;
            case "vpshufb":
                // Per 16-byte lane: index byte's bit 7 zeroes, else its low 4 bits pick a byte of the same lane.
                r = Bytes(A(1), A(2), lanes, (_, idx, i, table) => (idx & 0x80) != 0 ? (byte)0 : table[i / 16 * 16 + (idx & 15)]);
                break;
            case "vpsadbw":
            {
                var a = A(1); var b = A(2);
                for (int i = 0; i < lanes; i++)
                    for (int j = 0; j < 8; j++) r[i] += (ulong)Math.Abs((int)(byte)(a[i] >> (8 * j)) - (byte)(b[i] >> (8 * j)));
                break;
            }
            case "vpermd":
            {
                var idx = A(1); var src = A(2);
                uint Dword(ulong[] v, int k) => (uint)(v[k / 2] >> (32 * (k % 2)));
                for (int k = 0; k < 2 * lanes; k++) r[k / 2] |= (ulong)Dword(src, (int)(Dword(idx, k) & 7)) << (32 * (k % 2));
                break;
            }
            case "vpermt2d":
            {
                // Tables: the destination's dwords (0–15), then the third operand's (16–31); the index picks with its low 5 bits.
                var table1 = Source(o[0], 8, next); var idx = A(1); var table2 = A(2);
                uint Dword(ulong[] v, int k) => (uint)(v[k / 2] >> (32 * (k % 2)));
                for (int k = 0; k < 16; k++)
                {
                    int pick = (int)(Dword(idx, k) & 31);
                    r[k / 2] |= (ulong)(pick < 16 ? Dword(table1, pick) : Dword(table2, pick - 16)) << (32 * (k % 2));
                }
                break;
            }
            case "vpmovqd":
            {
                var a = Source(o[1], 8, next);
                var narrowed = new ulong[8];
                for (int k = 0; k < 8; k++) narrowed[k / 2] |= (ulong)(uint)a[k] << (32 * (k % 2));
                Store(o[0], narrowed, 4, next);
                return;
            }
            default: throw new NotSupportedException($"the model CPU has no '{mnemonic}'");
        }
        var dst = _vec[VectorIndex(o[0])];
        Array.Clear(dst);
        Array.Copy(r, dst, lanes);
    }

    private static ulong[] Bytes(ulong[] a, ulong[] b, int lanes, Func<byte, byte, int, byte[], byte> f)
    {
        var ab = new byte[64];
        var bb = new byte[64];
        Buffer.BlockCopy(a, 0, ab, 0, 64);
        Buffer.BlockCopy(b, 0, bb, 0, 64);
        var rb = new byte[64];
        for (int i = 0; i < 8 * lanes; i++) rb[i] = f(ab[i], bb[i], i, ab);
        var r = new ulong[8];
        Buffer.BlockCopy(rb, 0, r, 0, 64);
        return r;
    }

    private static int Lanes(string operand) =>
        operand.StartsWith("zmm", StringComparison.Ordinal) || operand.StartsWith("ZMMWORD", StringComparison.Ordinal) ? 8
        : operand.StartsWith("ymm", StringComparison.Ordinal) || operand.StartsWith("YMMWORD", StringComparison.Ordinal) ? 4
        : operand.StartsWith("xmm", StringComparison.Ordinal) || operand.StartsWith("XMMWORD", StringComparison.Ordinal) ? 2 : 1;

    private static int VectorIndex(string name) => int.Parse(name.AsSpan(3), CultureInfo.InvariantCulture);

    private ulong[] Source(string operand, int lanes, long next)
    {
        var r = new ulong[8];
        if (operand.Contains('['))
        {
            var p = (ulong*)Address(operand, next);
            for (int i = 0; i < Math.Max(1, operand.StartsWith("QWORD", StringComparison.Ordinal) ? 1 : lanes); i++) r[i] = p[i];
        }
        else Array.Copy(_vec[VectorIndex(operand)], r, 8);
        return r;
    }

    private void Store(string operand, ulong[] value, int lanes, long next)
    {
        var p = (ulong*)Address(operand, next);
        for (int i = 0; i < lanes; i++) p[i] = value[i];
    }

    // ---- general-purpose operands ------------------------------------------------------------------------------

    private long Read(string operand, long next)
    {
        if (operand.StartsWith("0x", StringComparison.Ordinal)) return Convert.ToInt64(operand, 16);
        int i = Array.IndexOf(Gpr64, operand);
        if (i >= 0) return _gpr[i];
        i = Array.IndexOf(Gpr32, operand);
        if (i >= 0) return (uint)_gpr[i];
        long address = Address(operand, next);
        return operand.StartsWith("DWORD", StringComparison.Ordinal) ? *(int*)address : *(long*)address;
    }

    private void Write(string operand, long value, long next)
    {
        int i = Array.IndexOf(Gpr64, operand);
        if (i >= 0) _gpr[i] = value;
        else *(long*)Address(operand, next) = value;
    }

    [GeneratedRegex(@"\[(\w+)(?:\+(\w+)\*(\d))?(?:([+-])0x([0-9a-f]+))?\]")]
    private static partial Regex MemoryOperand();

    private long Address(string operand, long next)
    {
        var m = MemoryOperand().Match(operand);
        if (!m.Success) throw new NotSupportedException($"operand '{operand}'");
        long address = m.Groups[1].Value == "rip" ? _codeBase + next : _gpr[Array.IndexOf(Gpr64, m.Groups[1].Value)];
        if (m.Groups[2].Success) address += _gpr[Array.IndexOf(Gpr64, m.Groups[2].Value)] * int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture);
        if (m.Groups[4].Success) address += (m.Groups[4].Value == "-" ? -1 : 1) * Convert.ToInt64(m.Groups[5].Value, 16);
        return address;
    }
}
