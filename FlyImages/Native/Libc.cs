using System.Runtime.InteropServices;

namespace FlyImages.Native;

/// <summary>
/// libc entry points and constants shared by several areas (Linux, x86_64 and arm64 values).
/// Areas that need many more calls keep them in their own partial file (Libc.&lt;Area&gt;.cs); what two
/// areas need lives here, once.
/// </summary>
internal static unsafe partial class Libc
{
    internal const int AT_FDCWD = -100;
    internal const int AT_SYMLINK_NOFOLLOW = 0x100;

    internal const int O_RDONLY = 0;
    internal const int O_WRONLY = 1;
    internal const int O_CREAT = 0x40;
    internal const int O_EXCL = 0x80;
    internal const int O_CLOEXEC = 0x80000;

    internal const int EPERM = 1;
    internal const int ENOENT = 2;
    internal const int EINTR = 4;
    internal const int EAGAIN = 11;
    internal const int EXDEV = 18;
    internal const int EINVAL = 22;
    internal const int ENOSYS = 38;
    internal const int EOPNOTSUPP = 95;

    internal const uint S_IFMT = 0xF000;
    internal const uint S_IFSOCK = 0xC000;
    internal const uint S_IFLNK = 0xA000;
    internal const uint S_IFREG = 0x8000;
    internal const uint S_IFBLK = 0x6000;
    internal const uint S_IFDIR = 0x4000;
    internal const uint S_IFCHR = 0x2000;
    internal const uint S_IFIFO = 0x1000;

    internal const uint STATX_TYPE = 0x1;
    internal const uint STATX_MODE = 0x2;
    internal const uint STATX_BASIC_STATS = 0x7ff;

    private const string LibcName = "libc";

    [LibraryImport(LibcName)]
    internal static partial uint geteuid();

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial int getpid();

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial int close(int fd);

    /// <summary>statx(2) on a NUL-terminated path: its struct has the same layout on every architecture.</summary>
    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial int statx(int dirfd, byte* path, int flags, uint mask, Statx* buffer);

    /// <summary>statx(2) on a path string.</summary>
    [LibraryImport(LibcName, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int statx(int dirfd, string path, int flags, uint mask, out Statx buffer);

    /// <summary>The file type bits (S_IFMT) of <paramref name="path"/> without following a final symlink; null when it does not exist.</summary>
    internal static uint? FileType(string path)
        => statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_TYPE, out var st) == 0 ? st.Mode & S_IFMT : null;

    /// <summary>struct statx (256 bytes; the fields FlyImages reads).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    internal struct Statx
    {
        [FieldOffset(0)] public uint Mask;
        [FieldOffset(4)] public uint BlockSize;
        [FieldOffset(16)] public uint Nlink;
        [FieldOffset(20)] public uint Uid;
        [FieldOffset(24)] public uint Gid;
        [FieldOffset(28)] public ushort Mode;
        [FieldOffset(32)] public ulong Ino;
        [FieldOffset(40)] public ulong Size;
        [FieldOffset(48)] public ulong Blocks;
        [FieldOffset(112)] public long MtimeSec;
        [FieldOffset(120)] public uint MtimeNsec;
        [FieldOffset(128)] public uint RdevMajor;
        [FieldOffset(132)] public uint RdevMinor;
        [FieldOffset(136)] public uint DevMajor;
        [FieldOffset(140)] public uint DevMinor;
    }
}
