using System.Globalization;
using System.Runtime.InteropServices;
using Mapping = (long Start, long End, bool Anonymous, bool Eligible);

namespace BiVM.CustomOps.Cpu;

/// <summary>
/// Backs the memory that ONNX Runtime hands our kernels with transparent huge pages (2 MB) where Linux allows it only
/// on request (<c>/sys/kernel/mm/transparent_hugepage/enabled</c> = <c>madvise</c>, Debian's and Ubuntu's default).
/// </summary>
/// <remarks>
/// <para>Why: a frame's tensors live in ONNX Runtime's arena, a few anonymous mappings of tens of MB that our ops stream
/// through plane after plane, many planes at once (a 35-channel row packs from 35 planes 590 KB apart). With 4 KB pages
/// each page of each plane costs a TLB miss (Zen 4's L2 TLB covers 12 MB of them) and the hardware prefetchers stop at
/// every page's end; 2 MB pages cover the arena with a few dozen entries. Measured on Zen 4, one thread, processes with
/// and without alternated (docs/kernels.md, "huge pages for ONNX Runtime's arena"): BiVM 0.98–0.99 of the time per frame at 512×288, 0.95 at
/// 1920×1080 (downsample 0.27); FP32 RVM does not run our ops and is not advised (with glibc's own switch for every
/// allocation it ran no faster).</para>
/// <para>How: the first time a tensor's address falls in a mapping not yet seen, the mapping is looked up in
/// <c>/proc/self/maps</c>; if it is private, writable, anonymous and unnamed (the glibc <c>mmap</c> behind ONNX Runtime's
/// arena; not a file, not <c>[heap]</c> or <c>[stack]</c>) and between 2 MB and 4 GB, its 2 MB-aligned part is advised
/// <c>MADV_HUGEPAGE</c> (pages faulted later come as huge pages) and <c>MADV_COLLAPSE</c> (Linux 6.1 and later: the pages
/// already there are merged now, once, instead of by khugepaged over minutes). Either may be refused (an older kernel,
/// THP set to <c>never</c>, no free 2 MB page): then the memory stays as it was. A mapping remembered after it was
/// unmapped hides a new one at the same address, which then keeps its small pages. Nothing changes what is computed;
/// this is the only place the project asks for huge pages.</para>
/// <para>Not the managed heap: our kernels also meet the caller's own arrays (the frame a <c>VideoMatter</c> binds as the
/// model's input, the alpha and foreground it binds as outputs), which the .NET GC keeps in one reserved range that it
/// commits 4 MB (small objects) and 32 MB (large ones) at a time, each piece a mapping of its own where the kernel names
/// none. Advised, every new piece a frame's arrays landed in was collapsed there and then: 60–90 ms of copying (every
/// 18th frame of 300 distinct 512×288 frames; every frame for <c>Process</c>, which allocates its arrays), and the
/// GC's memory is not ours to change. So the run of adjacent anonymous mappings that holds a pinned array of ours (the
/// GC's reservation, committed or not) is left alone, and remembered whole: an address in it returns at once.</para>
/// </remarks>
public static unsafe class HugePages
{
    private const int MadvHugePage = 14, MadvCollapse = 25;
    private const long HugePage = 2L << 20;

    /// <summary>Mappings remembered (the newest): ORT's arena is a handful, and a lookup costs a read of /proc/self/maps.</summary>
    internal const int MaxMappings = 64;

    private static readonly bool s_enabled = OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable("BIVM_HUGE_PAGES") != "0";
    /// <summary>Set when /proc/self/maps cannot be read: then nothing is looked up again (each call would read it anew).</summary>
    private static bool s_unreadable;
    private static readonly object s_gate = new();
    /// <summary>[start, end) of every mapping looked up so far, advised or not (copy on write: read without the lock).</summary>
    private static (long Start, long End)[] s_seen = [];
    /// <summary>An object the GC keeps in place (the pinned object heap): its address tells where the managed heap is.</summary>
    private static readonly byte[] s_pinned = GC.AllocateUninitializedArray<byte>(1, pinned: true);

    /// <summary>
    /// Asks for huge pages under <paramref name="address"/>'s mapping, once per mapping (see the remarks): a scan of a
    /// short array when the mapping was seen before. No effect off Linux, or with the environment variable
    /// <c>BIVM_HUGE_PAGES=0</c> (to measure without).
    /// </summary>
    internal static void Advise(void* address)
    {
        if (!s_enabled || s_unreadable || address == null || Seen(address)) return;
        lock (s_gate)
        {
            if (s_unreadable || Seen(address)) return;
            string[] maps;
            try { maps = ReadMaps(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                s_unreadable = true;
                return;
            }
            var (start, end, eligible) = Lookup(maps, (long)address, ManagedAddress);
            // The newest MaxMappings (a process that makes many sessions unmaps old arenas; their ranges go first).
            s_seen = [.. s_seen.Skip(s_seen.Length + 1 - MaxMappings), (start, end)];
            if (eligible) AdviseRange(start, end);
        }
    }

    /// <summary>Reads of /proc/self/maps at most, waiting for two in a row to agree (<see cref="ReadMaps"/>).</summary>
    internal const int MapsReads = 4;

    /// <summary>
    /// The lines of /proc/self/maps, read until two reads in a row agree (at most <see cref="MapsReads"/>, then the last).
    /// Linux writes the file a page of text at a time and lets the address space change between pages, so one read
    /// taken while other threads map, unmap or split mappings (ONNX Runtime's arenas, the GC committing its regions) can
    /// leave a mapping out: a hole in the managed heap's run would make part of it look like a mapping of its own, to be
    /// advised. Most likely what failed the tests' managed-heap check once in eight runs of the CustomOps suite on
    /// 2026-12-06 (a 32 MB array not found in the run; never alone, only beside the other tests' threads).
    /// </summary>
    internal static string[] ReadMaps()
    {
        string[] maps = File.ReadAllLines("/proc/self/maps");
        for (int read = 1; read < MapsReads; read++)
        {
            string[] again = File.ReadAllLines("/proc/self/maps");
            if (again.AsSpan().SequenceEqual(maps)) return again;
            maps = again;
        }
        return maps;
    }

    /// <summary>
    /// What a lookup of <paramref name="address"/> remembers, and whether it is advised: the managed heap's whole run
    /// (<see cref="ManagedRange"/> of <paramref name="managedAddress"/>, found anew from these maps: the run a
    /// lookup found earlier may have held a mapping since unmapped), never advised; else the mapping that holds the
    /// address; else (it should not happen) a page of its own, so that the address is not looked up again.
    /// </summary>
    internal static (long Start, long End, bool Eligible) Lookup(string[] maps, long address, long managedAddress)
    {
        var mappings = Mappings(maps);
        if (ManagedRange(mappings, managedAddress) is { } heap && Holds(heap, address)) return (heap.Start, heap.End, false);
        if (Find(mappings, address) is { } m) return (m.Start, m.End, m.Eligible);
        return (address & ~4095L, (address & ~4095L) + 4096, false);
    }

    /// <summary>Whether <paramref name="address"/> lies in the managed heap as <paramref name="maps"/> (the lines of /proc/self/maps) show it now (tests: where their blocks and arrays lie).</summary>
    internal static bool InManagedHeap(string[] maps, long address) => ManagedRange(maps, ManagedAddress) is { } heap && Holds(heap, address);

    private static bool Holds((long Start, long End) range, long address) => address >= range.Start && address < range.End;

    /// <summary>An address the GC owns and keeps in place: <see cref="s_pinned"/>'s, in the pinned object heap.</summary>
    private static long ManagedAddress
    {
        get
        {
            fixed (byte* pinned = s_pinned) return (long)pinned;
        }
    }

    /// <summary>
    /// The managed heap as /proc/self/maps shows it: the run of adjacent anonymous mappings (committed or reserved,
    /// named or not) that holds <paramref name="managedAddress"/>, an address the GC owns. With regions (the GC's only
    /// mode on 64-bit Linux since .NET 7) that run is its whole reservation; an anonymous mapping that happens to touch
    /// the reservation joins the run and goes unadvised. Null where no mapping holds the address.
    /// </summary>
    internal static (long Start, long End)? ManagedRange(string[] maps, long managedAddress) => ManagedRange(Mappings(maps), managedAddress);

    private static (long Start, long End)? ManagedRange(Mapping[] mappings, long managedAddress)
    {
        int at = Array.FindIndex(mappings, m => managedAddress >= m.Start && managedAddress < m.End);
        if (at < 0) return null;
        int first = at, last = at;
        while (first > 0 && mappings[first - 1].Anonymous && mappings[first - 1].End == mappings[first].Start) first--;
        while (last + 1 < mappings.Length && mappings[last + 1].Anonymous && mappings[last + 1].Start == mappings[last].End) last++;
        return (mappings[first].Start, mappings[last].End);
    }

    /// <summary>
    /// What this process gets (<c>bivm info</c>): Linux's transparent huge page mode, and whether our ops ask for them.
    /// </summary>
    public static string Describe()
    {
        if (!OperatingSystem.IsLinux()) return "4 KB pages (huge pages are asked for on Linux only)";
        string mode;
        try { mode = File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return "transparent huge pages unknown (no /sys/kernel/mm/transparent_hugepage)"; }
        if (mode.Contains("[never]")) return "transparent huge pages off in this kernel ([never]): 4 KB pages";
        if (mode.Contains("[always]")) return "transparent huge pages [always]: ONNX Runtime's arena gets them without asking";
        return s_enabled
            ? "transparent huge pages on request ([madvise]): asked for ONNX Runtime's arena as our ops meet it (BIVM_HUGE_PAGES=0: not asked)"
            : "transparent huge pages on request ([madvise]): not asked (BIVM_HUGE_PAGES=0)";
    }

    /// <summary>Forgets the mappings remembered that overlap [<paramref name="start"/>, + <paramref name="length"/>) (tests: a block at an address an earlier block had).</summary>
    internal static void Forget(void* start, long length)
    {
        long from = (long)start, to = from + length;
        lock (s_gate) s_seen = s_seen.Where(m => m.End <= from || m.Start >= to).ToArray();
    }

    /// <summary>Whether <paramref name="address"/> lies in a mapping already looked up.</summary>
    internal static bool Seen(void* address)
    {
        long at = (long)address;
        foreach (var (start, end) in s_seen)
            if (at >= start && at < end) return true;
        return false;
    }

    /// <summary>
    /// <c>MADV_HUGEPAGE</c> then <c>MADV_COLLAPSE</c> on the 2 MB-aligned part of [<paramref name="start"/>,
    /// <paramref name="end"/>): whether the kernel accepted each.
    /// </summary>
    internal static (bool Advised, bool Collapsed) AdviseRange(long start, long end)
    {
        long first = (start + HugePage - 1) & ~(HugePage - 1), last = end & ~(HugePage - 1);
        if (last <= first || madvise((nint)first, (nuint)(last - first), MadvHugePage) != 0) return (false, false);
        return (true, madvise((nint)first, (nuint)(last - first), MadvCollapse) == 0);
    }

    /// <summary>The mapping among <paramref name="maps"/> (the lines of /proc/self/maps) that holds <paramref name="address"/>, and whether it may be advised; null if none does.</summary>
    internal static Mapping? Find(string[] maps, long address) => Find(Mappings(maps), address);

    private static Mapping? Find(Mapping[] mappings, long address)
    {
        foreach (var m in mappings)
            if (address >= m.Start && address < m.End) return m;
        return null;
    }

    /// <summary>The lines of /proc/self/maps parsed once (<see cref="Parse"/>), in their order; lines that do not parse left out.</summary>
    private static Mapping[] Mappings(string[] maps) =>
        maps.Select(Parse).OfType<Mapping>().ToArray();

    /// <summary>
    /// One line of /proc/self/maps (<c>start-end perms offset dev inode [path]</c>): its range, whether it is anonymous
    /// (no file; a name such as <c>[heap]</c> or <c>[anon:…]</c> allowed), and whether it may be advised: a private,
    /// readable and writable, anonymous mapping without a name, of 2 MB to 4 GB.
    /// </summary>
    internal static Mapping? Parse(string line)
    {
        var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 5) return null;
        var range = fields[0].Split('-');
        if (range.Length != 2
            || !long.TryParse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out long start)
            || !long.TryParse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out long end) || end <= start)
            return null;
        string name = fields.Length < 6 ? "" : fields[5].Trim();
        bool anonymous = fields[4] == "0" && (name.Length == 0 || name.StartsWith('['));
        long length = end - start;
        return (start, end, anonymous, anonymous && name.Length == 0 && fields[1] == "rw-p" && length >= HugePage && length <= 4L << 30);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int madvise(nint address, nuint length, int advice);
}
