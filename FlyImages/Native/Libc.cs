using System.Runtime.InteropServices;

namespace FlyImages.Native;

/// <summary>
/// libc entry points shared by several areas. Areas that need many more calls keep them in their own
/// partial file (Libc.&lt;Area&gt;.cs) so each concern has one place.
/// </summary>
internal static partial class Libc
{
    internal const int AT_FDCWD = -100;
    internal const int AT_SYMLINK_NOFOLLOW = 0x100;
    internal const uint STATX_BASIC_STATS = 0x7ff;

    internal const uint S_IFMT = 0xF000;
    internal const uint S_IFREG = 0x8000;
    internal const uint S_IFDIR = 0x4000;
    internal const uint S_IFLNK = 0xA000;
    internal const uint S_IFIFO = 0x1000;
    internal const uint S_IFCHR = 0x2000;
    internal const uint S_IFBLK = 0x6000;
    internal const uint S_IFSOCK = 0xC000;

    private const string LibcName = "libc";

    [LibraryImport(LibcName)]
    internal static partial uint geteuid();

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial int getpid();

    /// <summary>statx(2): its struct has the same layout on every architecture.</summary>
    [LibraryImport(LibcName, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int statx(int dirfd, string path, int flags, uint mask, out StatX buffer);

    /// <summary>The file type bits (S_IFMT) of <paramref name="path"/> without following a final symlink; null when it does not exist.</summary>
    internal static uint? FileType(string path)
        => statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, out var st) == 0 ? st.Mode & S_IFMT : null;

    [StructLayout(LayoutKind.Explicit, Size = 256)]
    internal struct StatX
    {
        [FieldOffset(0)] public uint Mask;
        [FieldOffset(4)] public uint BlockSize;
        [FieldOffset(16)] public uint NLink;
        [FieldOffset(20)] public uint Uid;
        [FieldOffset(24)] public uint Gid;
        [FieldOffset(28)] public ushort ModeBits;
        [FieldOffset(32)] public ulong Ino;
        [FieldOffset(40)] public ulong Size;
        [FieldOffset(48)] public ulong Blocks;
        [FieldOffset(112)] public long MtimeSec;
        [FieldOffset(120)] public uint MtimeNsec;
        [FieldOffset(128)] public uint RdevMajor;
        [FieldOffset(132)] public uint RdevMinor;
        [FieldOffset(136)] public uint DevMajor;
        [FieldOffset(140)] public uint DevMinor;

        public readonly uint Mode => ModeBits;
    }
}
