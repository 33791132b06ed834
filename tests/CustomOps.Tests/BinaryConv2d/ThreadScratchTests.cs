using BiVM.CustomOps.BinaryConv2d;

namespace BiVM.CustomOps.Tests.BinaryConv2d;

/// <summary>
/// The per-thread buffers start at a 64-byte boundary (a 512-bit access then touches one cache line, not two) on every
/// thread and at every size they grow to, and hold the length asked for from there.
/// </summary>
public unsafe class ThreadScratchTests
{
    [Fact]
    public void Every_buffer_starts_at_a_cache_line_on_every_thread_and_size()
    {
        var failures = new List<string>();
        void Check(string where)
        {
            foreach (int length in new[] { 1, 7, 100, 4096, 70_001 })
            {
                Expect(where, "Patches", length, ThreadScratch.Patches(length));
                Expect(where, "Counts", length, ThreadScratch.Counts(length));
                Ascending(where, length, ThreadScratch.AscendingColumns(length));
                Expect(where, "Rows", length, ThreadScratch.Rows(length));
                Expect(where, "AddendRows", length, ThreadScratch.AddendRows(length));
                Expect(where, "OutputRows", length, ThreadScratch.OutputRows(length));
                Expect(where, "Planes", length, ThreadScratch.Planes(length));
                ulong* packed = ThreadScratch.TryTakePacked(length);
                try { Expect(where, "TryTakePacked", length, packed); }
                finally { ThreadScratch.ReturnPacked(); }
            }
        }
        void Expect<T>(string where, string name, int length, T* buffer) where T : unmanaged
        {
            if ((nint)buffer % 64 != 0) lock (failures) failures.Add($"{where}: {name}({length}) at {(nint)buffer % 64} bytes past a line");
            new Span<T>(buffer, length).Fill(default); // the whole length is there (a short buffer would corrupt the heap or fault)
        }
        // The ascending columns are shared by every later row of the thread: read, never overwritten here.
        void Ascending(string where, int length, int* columns)
        {
            if ((nint)columns % 64 != 0) lock (failures) failures.Add($"{where}: AscendingColumns({length}) at {(nint)columns % 64} bytes past a line");
            for (int x = 0; x < length; x++)
                if (columns[x] != x)
                {
                    lock (failures) failures.Add($"{where}: AscendingColumns({length})[{x}] = {columns[x]}");
                    return;
                }
        }
        Check("the test's thread");
        var thread = new Thread(() => Check("a new thread"));
        thread.Start();
        thread.Join();
        Parallel.For(0, 4, i => Check($"pool item {i}"));
        Assert.True(failures.Count == 0, string.Join("; ", failures.Take(5)));
    }

    [Fact]
    public void The_ascending_columns_hold_every_column_after_growing_and_shrinking()
    {
        // Growth (each size past the last buffer's room), then smaller requests served from the same buffer.
        foreach (int count in new[] { 3, 64, 65, 1000, 100_000, 10, 99_999, 100_001 })
        {
            int* columns = ThreadScratch.AscendingColumns(count);
            for (int x = 0; x < count; x++) Assert.True(columns[x] == x, $"AscendingColumns({count})[{x}] = {columns[x]}");
        }
    }
}
