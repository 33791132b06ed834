using System.Runtime.InteropServices;

namespace BiVM.CustomOps.Jit;

/// <summary>
/// Pages holding emitted machine code, W^X: mapped read-write, filled, then switched to read-execute with
/// <c>mprotect</c> before anything can call into them; never writable and executable at once. The handle unmaps
/// them (<c>munmap</c>) when disposed or finalized. Linux x86-64 only (libc's mmap constants below are Linux's).
/// </summary>
internal sealed unsafe partial class ExecutableMemory : SafeHandle
{
    private const int ProtRead = 1, ProtWrite = 2, ProtExec = 4;
    private const int MapPrivate = 0x02, MapAnonymous = 0x20;

    private readonly nuint _length;

    private ExecutableMemory(nint address, nuint length) : base(-1, ownsHandle: true)
    {
        SetHandle(address);
        _length = length;
    }

    public static bool IsSupported => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;

    public override bool IsInvalid => handle == -1 || handle == 0;

    /// <summary>Entry point (the first byte of the code).</summary>
    public void* Pointer => (void*)handle;

    public int Length => (int)_length;

    /// <summary>Maps fresh pages, copies <paramref name="code"/> into them and makes them read-execute.</summary>
    public static ExecutableMemory Create(ReadOnlySpan<byte> code)
    {
        if (!IsSupported) throw new PlatformNotSupportedException("run-time code needs Linux on x86-64");
        if (code.IsEmpty) throw new ArgumentException("no code", nameof(code));
        nuint length = (nuint)code.Length;
        nint address = Mmap(0, length, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (address == -1) throw new OutOfMemoryException($"mmap of {length} bytes failed (errno {Marshal.GetLastPInvokeError()})");
        var memory = new ExecutableMemory(address, length);
        code.CopyTo(new Span<byte>((void*)address, code.Length));
        if (Mprotect(address, length, ProtRead | ProtExec) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            memory.Dispose();
            throw new UnauthorizedAccessException($"mprotect to read+execute failed (errno {errno}); the system forbids run-time code");
        }
        return memory;
    }

    /// <summary>True once munmap has returned success for these pages.</summary>
    public bool Unmapped { get; private set; }

    protected override bool ReleaseHandle() => Unmapped = Munmap(handle, _length) == 0;

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    private static partial int Mprotect(nint address, nuint length, int protection);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int Munmap(nint address, nuint length);
}
