using FlyImages.Errors;
using Microsoft.Win32.SafeHandles;
using P = FlyImages.Native.Libc.Pools;

namespace FlyImages.ThinPools.BlockFile;

/// <summary>How a block-file snapshot was copied.</summary>
internal enum CopyMethod
{
    /// <summary>FICLONE: the filesystem shares the extents (btrfs, XFS with reflink, bcachefs...).</summary>
    Reflink,

    /// <summary>Data segments (SEEK_DATA/SEEK_HOLE) copied in the kernel with copy_file_range; holes stay holes.</summary>
    CopyFileRange,

    /// <summary>Data segments copied through a buffer; zero blocks skipped so holes stay holes.</summary>
    ReadWrite,
}

/// <summary>Snapshots of block files: a reflink where the filesystem supports it, else a sparse-aware copy.</summary>
internal static unsafe class SparseCopy
{
    private const int BufferSize = 1 << 20;
    private const long Chunk = 64L << 20;

    /// <summary>Copies <paramref name="source"/> into the new, empty file <paramref name="destination"/> (already open for writing).</summary>
    public static CopyMethod Copy(SafeFileHandle source, SafeFileHandle destination, long size, CancellationToken cancellationToken)
    {
        var src = Fd(source);
        var dst = Fd(destination);
        if (P.Ioctl(dst, P.FICLONE, src) == 0)
        {
            return CopyMethod.Reflink;
        }

        var cloneErrno = P.LastError;
        if (cloneErrno is not (Native.Libc.EOPNOTSUPP or Native.Libc.EXDEV or Native.Libc.EINVAL or P.ENOTTY or Native.Libc.ENOSYS or Native.Libc.EPERM))
        {
            throw Failed($"FICLONE failed: {P.Describe(cloneErrno)}");
        }

        if (P.Ftruncate(dst, size) != 0)
        {
            throw Failed($"ftruncate failed: {P.Describe(P.LastError)}");
        }

        var method = CopyMethod.CopyFileRange;
        var buffer = (byte[]?)null;
        long position = 0;
        while (position < size)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var dataStart = P.Lseek(src, position, P.SEEK_DATA);
            if (dataStart < 0)
            {
                var errno = P.LastError;
                if (errno == P.ENXIO)
                {
                    break; // only a hole is left
                }

                if (errno == Native.Libc.EINVAL && position == 0)
                {
                    dataStart = 0; // no SEEK_DATA support: copy everything, zero blocks skipped
                }
                else
                {
                    throw Failed($"SEEK_DATA failed: {P.Describe(errno)}");
                }
            }

            var dataEnd = P.Lseek(src, dataStart, P.SEEK_HOLE);
            if (dataEnd < 0)
            {
                dataEnd = size;
            }

            dataEnd = Math.Min(dataEnd, size);
            var offset = dataStart;
            while (offset < dataEnd)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var length = Math.Min(Chunk, dataEnd - offset);
                if (method == CopyMethod.CopyFileRange)
                {
                    long inOff = offset, outOff = offset;
                    var copied = P.CopyFileRange(src, &inOff, dst, &outOff, (nuint)length, 0);
                    if (copied > 0)
                    {
                        offset += copied;
                        continue;
                    }

                    var errno = P.LastError;
                    if (copied == 0)
                    {
                        throw Failed($"copy_file_range stopped at {offset} of {size} bytes (the source shrank?)");
                    }

                    if (errno is not (Native.Libc.ENOSYS or Native.Libc.EXDEV or Native.Libc.EINVAL or Native.Libc.EOPNOTSUPP))
                    {
                        throw Failed($"copy_file_range failed: {P.Describe(errno)}");
                    }

                    method = CopyMethod.ReadWrite;
                }

                buffer ??= new byte[BufferSize];
                var n = RandomAccess.Read(source, buffer.AsSpan(0, (int)Math.Min(BufferSize, dataEnd - offset)), offset);
                if (n <= 0)
                {
                    throw Failed($"reading stopped at {offset} of {size} bytes");
                }

                if (buffer.AsSpan(0, n).ContainsAnyExcept((byte)0))
                {
                    RandomAccess.Write(destination, buffer.AsSpan(0, n), offset);
                }

                offset += n;
            }

            position = dataEnd;
        }

        return method;
    }

    private static int Fd(SafeFileHandle handle) => (int)handle.DangerousGetHandle();

    private static FlyException Failed(string why) => new(ErrorIds.ThinDeviceCopyFailed, FlyErrorCategory.WriteError, $"The snapshot copy failed: {why}.");
}
