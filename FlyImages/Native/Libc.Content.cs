using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace FlyImages.Native;

/// <summary>Durability calls of the content store.</summary>
internal static partial class Libc
{

    [LibraryImport(LibcName, SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport(LibcName, SetLastError = true)]
    private static partial int fdatasync(int fd);

    [LibraryImport(LibcName, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    private const uint SYNC_FILE_RANGE_WRITE = 2;

    [LibraryImport(LibcName, SetLastError = true)]
    private static partial int sync_file_range(int fd, long offset, long nbytes, uint flags);

    /// <summary>
    /// Starts writeback of a finished range (sync_file_range SYNC_FILE_RANGE_WRITE, asynchronous), so the final
    /// fsync has little left to do. Advisory: failures are ignored (fsync reports real errors).
    /// </summary>
    internal static void StartWriteback(SafeFileHandle handle, long offset, long length)
    {
        var added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            _ = sync_file_range((int)handle.DangerousGetHandle(), offset, length, SYNC_FILE_RANGE_WRITE);
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>fsync(2) (or fdatasync when <paramref name="dataOnly"/>) of an open file.</summary>
    internal static void Sync(SafeFileHandle handle, bool dataOnly = false)
    {
        var added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            var fd = (int)handle.DangerousGetHandle();
            if ((dataOnly ? fdatasync(fd) : fsync(fd)) != 0)
            {
                throw new IOException($"fsync failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    [LibraryImport(LibcName, EntryPoint = "fcntl", SetLastError = true)]
    private static partial int fcntl_dup(int fd, int cmd, int arg);

    private const int F_DUPFD_CLOEXEC = 1030;

    /// <summary>
    /// A second descriptor of an open file (F_DUPFD_CLOEXEC), for a reader that outlives the writer's handle; it
    /// takes no lock of its own (.NET's FileShare emulation would refuse a second open of a file opened FileShare.None).
    /// </summary>
    internal static SafeFileHandle Duplicate(SafeFileHandle handle)
    {
        var added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            var fd = fcntl_dup((int)handle.DangerousGetHandle(), F_DUPFD_CLOEXEC, 0);
            if (fd < 0)
            {
                throw new IOException($"fcntl(F_DUPFD_CLOEXEC) failed: errno {Marshal.GetLastPInvokeError()}");
            }

            return new SafeFileHandle(fd, ownsHandle: true);
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>fsync(2) of a directory, so a rename in it survives a crash.</summary>
    internal static void SyncDirectory(string path)
    {
        var fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
        {
            throw new IOException($"open '{path}' failed: errno {Marshal.GetLastPInvokeError()}");
        }

        try
        {
            if (fsync(fd) != 0)
            {
                throw new IOException($"fsync '{path}' failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }
        finally
        {
            close(fd);
        }
    }
}
