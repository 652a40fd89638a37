using FlyImages.State;
using P = FlyImages.Native.Libc.Pools;

namespace FlyImages.Content;

/// <summary>
/// Keeps blob deletion away from blobs in use. Fetches hold a SHARED advisory lock (flock) on
/// <c>blobs/locks/collect.lock</c> from the moment they look a blob up until the image that needs it is
/// recorded; deleting blobs takes the EXCLUSIVE lock, so it never runs while a blob is being looked up,
/// downloaded, renamed into place or recorded, and a fetch that starts meanwhile waits for it (and then
/// downloads what was deleted). Blobs being unpacked are protected by the install's lease instead (a
/// collector leaves blobs alone while another install runs).
/// </summary>
public sealed class ContentGuard : IDisposable
{
    private const int LockShared = 1;
    private int fd;

    private ContentGuard(int fd) => this.fd = fd;

    /// <summary>The lock file of the store at <paramref name="storeRoot"/>.</summary>
    public static string LockPath(string storeRoot) => Path.Combine(ContentPaths.BlobsRoot(storeRoot), "locks", "collect.lock");

    /// <summary>Takes the shared lock (fetching), waiting while a deletion holds the exclusive one.</summary>
    public static async Task<ContentGuard> SharedAsync(string storeRoot, CancellationToken cancellationToken)
    {
        var delay = 5;
        while (true)
        {
            var guard = TryTake(storeRoot, LockShared);
            if (guard is not null)
            {
                return guard;
            }

            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = Math.Min(delay * 2, 100);
        }
    }

    /// <summary>Takes the exclusive lock (deleting blobs) if it comes within <paramref name="wait"/>; null while fetches hold it.</summary>
    public static async Task<ContentGuard?> TryExclusiveAsync(string storeRoot, TimeSpan wait, CancellationToken cancellationToken)
    {
        var until = DateTime.UtcNow + wait;
        var delay = 5;
        while (true)
        {
            var guard = TryTake(storeRoot, P.LOCK_EX);
            if (guard is not null || DateTime.UtcNow >= until)
            {
                return guard;
            }

            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = Math.Min(delay * 2, 100);
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

    private static ContentGuard? TryTake(string storeRoot, int operation)
    {
        var path = LockPath(storeRoot);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var fd = P.Open(path, P.O_RDWR | Native.Libc.O_CLOEXEC | Native.Libc.O_CREAT, Convert.ToUInt32("600", 8));
        if (fd < 0)
        {
            throw new IOException($"The content lock '{path}' cannot be opened: {P.Describe(P.LastError)}.");
        }

        if (P.Flock(fd, operation | P.LOCK_NB) == 0)
        {
            return new ContentGuard(fd);
        }

        var errno = P.LastError;
        P.Close(fd);
        return errno is Native.Libc.EAGAIN or Native.Libc.EINTR ? null : throw new IOException($"The content lock '{path}' cannot be taken: {P.Describe(errno)}.");
    }
}
