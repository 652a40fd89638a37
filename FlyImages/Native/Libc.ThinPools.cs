using System.Runtime.InteropServices;

namespace FlyImages.Native;

/// <summary>
/// System calls of the thin pools (loop devices, freeze/thaw, reflink and sparse copies, mounts,
/// advisory locks). Kept in a nested class so their names never clash with other areas' calls.
/// </summary>
internal static partial class Libc
{
    internal static unsafe partial class Pools
    {
        internal const int O_RDWR = 2;

        internal const int ENXIO = 6;
        internal const int EBUSY = 16;
        internal const int ENODEV = 19;
        internal const int ENOTTY = 25;

        internal const int LOCK_EX = 2;
        internal const int LOCK_NB = 4;
        internal const int LOCK_UN = 8;

        internal const int SEEK_SET = 0;
        internal const int SEEK_DATA = 3;
        internal const int SEEK_HOLE = 4;

        /// <summary>_IOW(0x94, 9, int): clone a whole file (reflink).</summary>
        internal const ulong FICLONE = 0x40049409;

        /// <summary>_IOWR('X', 119, int) and _IOWR('X', 120, int): freeze / thaw a mounted filesystem.</summary>
        internal const ulong FIFREEZE = 0xC0045877;
        internal const ulong FITHAW = 0xC0045878;

        /// <summary>BLKFLSBUF (_IO(0x12, 97)): write back and drop a block device's buffer cache, so reads go to the device.</summary>
        internal const ulong BLKFLSBUF = 0x1261;

        /// <summary>BLKDISCARD (_IO(0x12, 119)): discard a byte range (argument: uint64[2] start, length) of a block device.</summary>
        internal const ulong BLKDISCARD = 0x1277;

        /// <summary>BLKGETSIZE64 (_IOR(0x12, 114, size_t)): a block device's size in bytes (argument: uint64*).</summary>
        internal const ulong BLKGETSIZE64 = 0x80081272;

        /// <summary>LOOP_CLR_FD: detach a loop device.</summary>
        internal const ulong LOOP_CLR_FD = 0x4C01;

        /// <summary>LOOP_CONFIGURE (Linux 5.8+): bind a backing file and set its status in one call.</summary>
        internal const ulong LOOP_CONFIGURE = 0x4C0A;

        /// <summary>LOOP_CTL_GET_FREE, on /dev/loop-control: the number of a free loop device (one is added when none is).</summary>
        internal const ulong LOOP_CTL_GET_FREE = 0x4C82;

        /// <summary>LO_FLAGS_READ_ONLY: the loop device is read-only (its backing file could only be opened so).</summary>
        internal const uint LO_FLAGS_READ_ONLY = 1;

        /// <summary>LO_FLAGS_DIRECT_IO: the loop device reads and writes its backing file with O_DIRECT (no second page cache).</summary>
        internal const uint LO_FLAGS_DIRECT_IO = 16;

        internal const int EROFS = 30;
        internal const int EACCES = 13;

        internal const ulong MS_RDONLY = 1;
        internal const ulong MS_NOSUID = 2;
        internal const ulong MS_NODEV = 4;
        internal const ulong MS_NOATIME = 1024;

        internal const ulong ST_RDONLY = 1;

        [LibraryImport(LibcName, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int Open(string path, int flags, uint mode);

        [LibraryImport(LibcName, EntryPoint = "close", SetLastError = true)]
        internal static partial int Close(int fd);

        [LibraryImport(LibcName, EntryPoint = "ioctl", SetLastError = true)]
        internal static partial int Ioctl(int fd, ulong request, nint argument);

        [LibraryImport(LibcName, EntryPoint = "read", SetLastError = true)]
        internal static partial nint Read(int fd, byte* buffer, nint count);

        /// <summary>
        /// A small text file (sysfs, procfs) read with open/read/close and no managed stream: null when it
        /// does not exist or cannot be read. At most <paramref name="limit"/> bytes.
        /// </summary>
        internal static string? ReadSmallFile(string path, int limit = 4096)
        {
            var fd = Open(path, O_RDONLY | O_CLOEXEC, 0);
            if (fd < 0)
            {
                return null;
            }

            try
            {
                var buffer = new byte[limit];
                var length = 0;
                fixed (byte* start = buffer)
                {
                    while (length < limit)
                    {
                        var n = Read(fd, start + length, limit - length);
                        if (n < 0 && LastError == EINTR)
                        {
                            continue;
                        }

                        if (n < 0)
                        {
                            return null;
                        }

                        if (n == 0)
                        {
                            break;
                        }

                        length += (int)n;
                    }
                }

                return System.Text.Encoding.UTF8.GetString(buffer, 0, length);
            }
            finally
            {
                Close(fd);
            }
        }

        /// <summary>mknod(2) of a device node (glibc 2.33+ exports mknod itself).</summary>
        [LibraryImport(LibcName, EntryPoint = "mknod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int Mknod(string path, uint mode, ulong device);

        [LibraryImport(LibcName, EntryPoint = "flock", SetLastError = true)]
        internal static partial int Flock(int fd, int operation);

        [LibraryImport(LibcName, EntryPoint = "lseek", SetLastError = true)]
        internal static partial long Lseek(int fd, long offset, int whence);

        [LibraryImport(LibcName, EntryPoint = "copy_file_range", SetLastError = true)]
        internal static partial nint CopyFileRange(int fdIn, long* offIn, int fdOut, long* offOut, nuint length, uint flags);

        [LibraryImport(LibcName, EntryPoint = "ftruncate", SetLastError = true)]
        internal static partial int Ftruncate(int fd, long length);

        [LibraryImport(LibcName, EntryPoint = "fsync", SetLastError = true)]
        internal static partial int Fsync(int fd);

        [LibraryImport(LibcName, EntryPoint = "syncfs", SetLastError = true)]
        internal static partial int Syncfs(int fd);

        [LibraryImport(LibcName, EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int Mount(string source, string target, string fileSystemType, ulong flags, string? data);

        [LibraryImport(LibcName, EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int Umount2(string target, int flags);

        [LibraryImport(LibcName, EntryPoint = "statvfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int Statvfs(string path, out StatVfs buffer);

        [LibraryImport(LibcName, EntryPoint = "realpath", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial nint RealPathNative(string path, nint resolved);

        [LibraryImport(LibcName, EntryPoint = "free")]
        private static partial void Free(nint pointer);

        /// <summary>realpath(3): the canonical absolute path (symlinks resolved); null when it does not resolve.</summary>
        internal static string? RealPath(string path)
        {
            var p = RealPathNative(path, 0);
            if (p == 0)
            {
                return null;
            }

            try
            {
                return Marshal.PtrToStringUTF8(p);
            }
            finally
            {
                Free(p);
            }
        }

        [LibraryImport(LibcName, EntryPoint = "strerror")]
        private static partial nint StrError(int errno);

        internal static int LastError => Marshal.GetLastPInvokeError();

        /// <summary>The C library's text for an errno ("Device or resource busy").</summary>
        internal static string Describe(int errno) => Marshal.PtrToStringUTF8(StrError(errno)) ?? $"errno {errno}";

        /// <summary>The kernel's struct loop_info64 (linux/loop.h), 232 bytes.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct LoopInfo64
        {
            public ulong Device;
            public ulong Inode;
            public ulong RDevice;
            public ulong Offset;
            public ulong SizeLimit;
            public uint Number;
            public uint EncryptType;
            public uint EncryptKeySize;
            public uint Flags;
            public fixed byte FileName[64];
            public fixed byte CryptName[64];
            public fixed byte EncryptKey[32];
            public fixed ulong Init[2];
        }

        /// <summary>The kernel's struct loop_config (linux/loop.h), the argument of LOOP_CONFIGURE, 304 bytes.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct LoopConfig
        {
            public uint Fd;
            public uint BlockSize;
            public LoopInfo64 Info;
            public fixed ulong Reserved[8];
        }

        /// <summary>glibc's struct statvfs on 64-bit Linux.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct StatVfs
        {
            public ulong BlockSize;
            public ulong FragmentSize;
            public ulong Blocks;
            public ulong BlocksFree;
            public ulong BlocksAvailable;
            public ulong Files;
            public ulong FilesFree;
            public ulong FilesAvailable;
            public ulong FileSystemId;
            public ulong Flags;
            public ulong NameMax;
            public fixed int Spare[6];
        }
    }
}
