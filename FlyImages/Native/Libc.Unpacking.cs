using System.Runtime.InteropServices;

namespace FlyImages.Native;

/// <summary>
/// The *at() system calls the layer unpacker uses: every path they take is one component (or a
/// path checked by openat2's RESOLVE_BENEATH) relative to a directory descriptor already proven to
/// be inside the destination. Paths are NUL-terminated byte strings (Linux names are bytes).
/// </summary>
internal static unsafe partial class Libc
{
    // AT_FDCWD, AT_SYMLINK_NOFOLLOW and the S_IF* type bits are in Libc.cs
    internal const int AT_REMOVEDIR = 0x200;

    internal const int O_NOCTTY = 0x100;
    internal const int O_NONBLOCK = 0x800;

    /// <summary>O_DIRECTORY differs between x86-64 (0200000) and arm64 (040000).</summary>
    internal static readonly int O_DIRECTORY = IsArm ? 0x4000 : 0x10000;

    /// <summary>O_NOFOLLOW differs between x86-64 (0400000) and arm64 (0100000).</summary>
    internal static readonly int O_NOFOLLOW = IsArm ? 0x8000 : 0x20000;

    internal const int EACCES = 13;
    internal const int EEXIST = 17;
    internal const int ENOTDIR = 20;
    internal const int EISDIR = 21;
    internal const int ENOSPC = 28;
    internal const int ERANGE = 34;
    internal const int ENAMETOOLONG = 36;
    internal const int ENOTEMPTY = 39;
    internal const int ELOOP = 40;
    internal const int E2BIG = 7;

    internal const ulong RESOLVE_NO_MAGICLINKS = 0x02;
    internal const ulong RESOLVE_NO_SYMLINKS = 0x04;
    internal const ulong RESOLVE_BENEATH = 0x08;

    /// <summary>UTIME_OMIT for utimensat/futimens.</summary>
    internal const long UTIME_OMIT = (1L << 30) - 2;

    internal const byte DT_UNKNOWN = 0;
    internal const byte DT_DIR = 4;

    private static bool IsArm => RuntimeInformation.ProcessArchitecture is Architecture.Arm64;

    private static long SysOpenat2 => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 or Architecture.Arm64 => 437,
        _ => -1,
    };

    [StructLayout(LayoutKind.Sequential)]
    internal struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport(LibcName, EntryPoint = "openat", SetLastError = true)]
    internal static partial int openat(int dirfd, byte* path, int flags, uint mode);

    [LibraryImport(LibcName, EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall_openat2(long number, long dirfd, byte* path, OpenHow* how, nuint size);

    /// <summary>openat2(2); returns -1 with errno ENOSYS where the architecture or kernel lacks it.</summary>
    internal static int openat2(int dirfd, byte* path, ref OpenHow how)
    {
        var number = SysOpenat2;
        if (number < 0)
        {
            Marshal.SetLastPInvokeError(ENOSYS);
            return -1;
        }

        fixed (OpenHow* h = &how)
        {
            return (int)syscall_openat2(number, dirfd, path, h, (nuint)sizeof(OpenHow));
        }
    }

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial nint write(int fd, byte* buffer, nint count);

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial int mkdirat(int dirfd, byte* path, uint mode);

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial int symlinkat(byte* target, int newdirfd, byte* linkpath);

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial int linkat(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, int flags);

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial int unlinkat(int dirfd, byte* path, int flags);

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial int mknodat(int dirfd, byte* path, uint mode, ulong dev);

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial int fchown(int fd, uint uid, uint gid);

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial int fchownat(int dirfd, byte* path, uint uid, uint gid, int flags);

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial int fchmod(int fd, uint mode);

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial int fchmodat(int dirfd, byte* path, uint mode, int flags);

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial int futimens(int fd, Timespec* times);

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial int utimensat(int dirfd, byte* path, Timespec* times, int flags);

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial int fsetxattr(int fd, byte* name, byte* value, nuint size, int flags);

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial int lsetxattr(byte* path, byte* name, byte* value, nuint size, int flags);

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial nint fdopendir(int fd);

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial nint readdir(nint dir);

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial int closedir(nint dir);

    [LibraryImport(LibcName, SetLastError = true)]
    internal static partial int dup(int fd);

    [LibraryImport(LibcName)]
    internal static partial nint strerror(int errnum);

    /// <summary>errno as text ("No such file or directory (ENOENT 2)").</summary>
    internal static string ErrnoText(int errno)
    {
        var text = Marshal.PtrToStringUTF8(strerror(errno)) ?? "error";
        return $"{text} (errno {errno})";
    }
}
