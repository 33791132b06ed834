using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using BiVM.CustomOps.BinaryConv2d;
using BiVM.CustomOps.Cpu;
using BiVM.CustomOps.Tests.OnnxRuntime;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace BiVM.CustomOps.Tests.Cpu;

public sealed unsafe class HugePagesTests
{
    [Theory]
    [InlineData("7fc01a000000-7fc01c000000 rw-p 00000000 00:00 0 ", true)] // 32 MB anonymous: ORT's arena
    [InlineData("7fc01a000000-7fc01c000000 rw-p 00000000 00:00 0", true)]
    [InlineData("7fc01a000000-7fc01a100000 rw-p 00000000 00:00 0 ", false)] // 1 MB: no 2 MB page fits
    [InlineData("7fc01a000000-7fc01c000000 r--p 00000000 00:00 0 ", false)] // not writable
    [InlineData("7fc01a000000-7fc01c000000 rw-s 00000000 00:05 1234 /dev/zero (deleted)", false)] // shared
    [InlineData("7fc01a000000-7fc01c000000 rw-p 00000000 00:00 0          [heap]", false)] // named
    [InlineData("7fc01a000000-7fc01c000000 rw-p 00000000 00:00 0          [anon:.NET GC]", false)]
    [InlineData("7fc01a000000-7fc01c000000 rw-p 00012000 08:01 655 /usr/lib/x86_64-linux-gnu/libc.so.6", false)] // a file
    [InlineData("7f0000000000-7f0200000000 rw-p 00000000 00:00 0 ", false)] // 8 GB: a reservation, not a working set
    public void A_line_of_the_maps_file_is_eligible_only_for_a_private_writable_unnamed_anonymous_mapping_of_2_MB_to_4_GB(string line, bool eligible)
    {
        var mapping = HugePages.Parse(line);
        Assert.NotNull(mapping);
        Assert.Equal(eligible, mapping.Value.Eligible);
        Assert.True(mapping.Value.End > mapping.Value.Start);
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("7fc01c000000-7fc01a000000 rw-p 00000000 00:00 0")] // end before start
    [InlineData("zz-7fc01c000000 rw-p 00000000 00:00 0")]
    public void A_line_that_is_not_a_mapping_is_skipped(string line) => Assert.Null(HugePages.Parse(line));

    [Fact]
    public void An_unnamed_anonymous_mapping_advised_may_take_huge_pages()
    {
        if (!OperatingSystem.IsLinux()) return; // the advice is Linux's alone (nothing to check elsewhere)
        string mode = File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled");
        const int bytes = 16 << 20;
        byte* block = Map(bytes); // a mapping of its own (malloc may serve 16 MB from a heap an earlier test's advice split)
        try
        {
            long middle = (long)block + bytes / 2; // inside the 2 MB-aligned part (the advice splits the mapping there)
            var mapping = HugePages.Find(HugePages.ReadMaps(), middle);
            Assert.NotNull(mapping);
            Assert.True(mapping.Value.Eligible, $"a 16 MB anonymous mmap should be eligible, got {mapping}");
            Assert.False(Regex.IsMatch(Smaps(middle), @"THPeligible:\s+1") && mode.Contains("[madvise]"),
                "with THP on request only, the mapping was eligible before it was advised");
            var (advised, _) = HugePages.AdviseRange(mapping.Value.Start, mapping.Value.End);
            bool never = mode.Contains("[never]");
            Assert.Equal(!never, advised);
            // The kernel says whether the mapping may now hold huge pages; with THP "never" nothing may.
            Assert.Equal(!never, Regex.IsMatch(Smaps(middle), @"THPeligible:\s+1"));
        }
        finally
        {
            munmap((nint)block, bytes);
        }
    }

    [Fact]
    public void A_mapping_once_looked_up_is_remembered_until_forgotten()
    {
        if (!OperatingSystem.IsLinux()) return;
        const int bytes = 16 << 20;
        byte* block = Map(bytes);
        try
        {
            HugePages.Forget(block, bytes);
            Assert.False(HugePages.Seen(block + 100));
            HugePages.Advise(block + bytes / 2);
            Assert.True(HugePages.Seen(block + 100)); // the whole mapping, not the address alone: the next tensor in it is not looked up
            HugePages.Forget(block, bytes);
            Assert.False(HugePages.Seen(block + 100));
        }
        finally
        {
            munmap((nint)block, bytes);
        }
    }

    [Fact]
    public void A_tensor_our_kernel_reads_has_its_mapping_looked_up()
    {
        if (!OperatingSystem.IsLinux()) return;
        var c = new ConvCase(BinaryConv2dParams.Square(1, 64, 48, 48, 16, 3), 5);
        using var session = OneNodeModels.Session(OneNodeModels.Custom(c));
        // X in a native block of its own, away from the managed heap (an address another test may have had: forgotten first).
        const int bytes = 16 << 20;
        float* x = (float*)Map(bytes);
        try
        {
            c.X.CopyTo(new Span<float>(x, c.X.Length));
            HugePages.Forget(x, bytes);
            Assert.False(HugePages.Seen(x));
            using var input = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float,
                OneNodeModels.XShape(c).Select(d => (long)d).ToArray(), (nint)x, c.X.Length * sizeof(float));
            using var outputs = session.Run(new RunOptions(), ["X"], [input], session.OutputNames);
            Assert.True(HugePages.Seen(x), "the kernel read X without its mapping being looked up (OrtApi.GetTensorMutableData)");
        }
        finally
        {
            munmap((nint)x, bytes);
        }
    }

    [Fact]
    public void The_managed_heap_is_the_run_of_adjacent_anonymous_mappings_that_holds_a_managed_address()
    {
        string[] maps =
        [
            "7f0000000000-7f0000200000 rw-p 00000000 00:00 0 ",                           // not adjacent: another mapping
            "7f0000400000-7f0000600000 rw-p 00000000 00:00 0 ",                           // the reservation's first piece, committed
            "7f0000600000-7f0002600000 ---p 00000000 00:00 0 ",                           // reserved
            "7f0002600000-7f0004600000 rw-p 00000000 00:00 0 ",                           // a large object's 32 MB
            "7f0004600000-7f0104600000 ---p 00000000 00:00 0 ",                           // the rest of the reservation
            "7f0104600000-7f0104800000 r-xp 00000000 08:01 655 /usr/lib/x86_64-linux-gnu/libc.so.6", // a file ends the run
            "7f0104800000-7f0104a00000 rw-p 00000000 00:00 0 ",
        ];
        Assert.Equal((0x7f0000400000L, 0x7f0104600000L), HugePages.ManagedRange(maps, 0x7f0003000000));
        Assert.Equal((0x7f0000000000L, 0x7f0000200000L), HugePages.ManagedRange(maps, 0x7f0000000010)); // a mapping alone is its own run
        Assert.Null(HugePages.ManagedRange(maps, 0x7f0000300000)); // in no mapping
    }

    [Fact]
    public void A_lookup_remembers_the_managed_heap_whole_unadvised_and_any_other_address_by_its_own_mapping()
    {
        string[] maps =
        [
            "7f0000000000-7f0000200000 rw-p 00000000 00:00 0 ",                           // ORT's arena, say
            "7f0000400000-7f0000600000 rw-p 00000000 00:00 0 ",                           // the managed heap's run ...
            "7f0000600000-7f0002600000 ---p 00000000 00:00 0 ",
            "7f0002600000-7f0004600000 rw-p 00000000 00:00 0 ",                           // ... with a large object's 32 MB in it
        ];
        const long managed = 0x7f0000500000;
        // An address in the run: the whole run, not advised, so no other address in it is looked up again.
        Assert.Equal((0x7f0000400000L, 0x7f0004600000L, false), HugePages.Lookup(maps, 0x7f0003000000, managed));
        Assert.Equal((0x7f0000000000L, 0x7f0000200000L, true), HugePages.Lookup(maps, 0x7f0000100000, managed));
        // The run as these maps show it: once the block before it touches it, the block is the run's too.
        string[] touching = ["7f0000200000-7f0000400000 rw-p 00000000 00:00 0 ", .. maps[1..]];
        Assert.Equal((0x7f0000200000L, 0x7f0004600000L, false), HugePages.Lookup(touching, 0x7f0000300000, managed));
        Assert.Equal((0x7f0000300000L, 0x7f0000301000L, false), HugePages.Lookup(maps, 0x7f0000300123, managed)); // in no mapping
    }

    [Fact]
    public void An_array_of_the_managed_heap_that_our_kernel_reads_is_not_advised()
    {
        if (!OperatingSystem.IsLinux()) return;
        var c = new ConvCase(BinaryConv2dParams.Square(1, 64, 48, 48, 16, 3), 5);
        using var session = OneNodeModels.Session(OneNodeModels.Custom(c));
        // X inside a large array (32 MB: a large-object region of its own, as a caller's frame buffers are), then read
        // by the kernel through ONNX Runtime: the GC's mapping must neither be advised nor be collapsed under it.
        var array = new float[8 << 20];
        c.X.CopyTo(array, 4 << 20);
        fixed (float* x = &array[4 << 20])
        {
            using var input = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float,
                OneNodeModels.XShape(c).Select(d => (long)d).ToArray(), (nint)x, c.X.Length * sizeof(float));
            using var outputs = session.Run(new RunOptions(), ["X"], [input], session.OutputNames);
            Assert.True(HugePages.InManagedHeap(HugePages.ReadMaps(), (long)x), "the managed heap holding X was not recognized as such");
            Assert.True(HugePages.Seen(x), "the kernel read X without its mapping being looked up");
            Assert.DoesNotMatch(@"VmFlags:[^\n]*\bhg\b", Smaps((long)x));
        }
    }

    /// <summary>
    /// A private anonymous mapping of <paramref name="bytes"/>, readable and writable, as glibc makes for ORT's arena
    /// chunks, away from every other mapping: Linux places a mapping without a hint right below the lowest one, which
    /// may be the managed heap's run, and a block touching that run counts as the GC's (then another test's kernel,
    /// looking up a managed array at the same moment, would remember the run and the block with it).
    /// </summary>
    private static byte* Map(int bytes)
    {
        const int read = 1, write = 2, privateMap = 0x02, anonymous = 0x20;
        long hint = 0x6000_0000_0000; // 96 TB: between the program's heap (near 0x55…) and the shared libraries and mappings (near 0x7f…)
        nint at = mmap((nint)hint, (nuint)bytes, read | write, privateMap | anonymous, -1, 0);
        Assert.True(at != -1, $"mmap failed: errno {Marshal.GetLastPInvokeError()}");
        Assert.False(HugePages.InManagedHeap(HugePages.ReadMaps(), at),
            $"the test's block at {at:x} touches the managed heap's mappings (the hint {hint:x} was not taken)");
        return (byte*)at;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern nint mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [DllImport("libc", SetLastError = true)]
    private static extern int munmap(nint address, nuint length);

    /// <summary>The /proc/self/smaps block of the mapping that holds <paramref name="address"/>.</summary>
    private static string Smaps(long address)
    {
        var blocks = Regex.Split(File.ReadAllText("/proc/self/smaps"), @"(?m)^(?=[0-9a-f]+-[0-9a-f]+ )");
        foreach (var block in blocks)
            if (block.Length > 0 && HugePages.Parse(block.Split('\n')[0]) is { } m && address >= m.Start && address < m.End) return block;
        Assert.Fail($"no mapping in /proc/self/smaps holds {address:x}");
        return "";
    }
}
