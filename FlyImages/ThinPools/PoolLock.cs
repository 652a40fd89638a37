using FlyImages.Errors;
using P = FlyImages.Native.Libc.Pools;

namespace FlyImages.ThinPools;

/// <summary>
/// An exclusive advisory lock (flock) on a pool, held across each write-ahead record, pool call and
/// confirmation. Processes and threads serialise on it, so reconciliation never mistakes another
/// process's step in progress for a half-made device.
/// </summary>
internal sealed class PoolLock : IDisposable
{
    private int fd;

    private PoolLock(int fd) => this.fd = fd;

    public static async Task<PoolLock> AcquireAsync(string lockPath, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(lockPath)!);
        var fd = P.Open(lockPath, P.O_RDWR | Native.Libc.O_CLOEXEC | Native.Libc.O_CREAT, Convert.ToUInt32("600", 8));
        if (fd < 0)
        {
            var errno = P.LastError;
            throw new FlyException(ErrorIds.ThinPoolUnavailable, FlyErrorCategory.ResourceUnavailable, $"The pool lock '{lockPath}' cannot be opened: {P.Describe(errno)}.", lockPath);
        }

        try
        {
            var delay = 5;
            while (P.Flock(fd, P.LOCK_EX | P.LOCK_NB) != 0)
            {
                var errno = P.LastError;
                if (errno != Native.Libc.EAGAIN && errno != Native.Libc.EINTR)
                {
                    throw new FlyException(ErrorIds.ThinPoolUnavailable, FlyErrorCategory.ResourceUnavailable, $"The pool lock '{lockPath}' cannot be taken: {P.Describe(errno)}.", lockPath);
                }

                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay = Math.Min(delay * 2, 100);
            }

            return new PoolLock(fd);
        }
        catch
        {
            P.Close(fd);
            throw;
        }
    }

    public void Dispose()
    {
        var held = Interlocked.Exchange(ref fd, -1);
        if (held >= 0)
        {
            P.Flock(held, P.LOCK_UN);
            P.Close(held);
        }
    }
}
