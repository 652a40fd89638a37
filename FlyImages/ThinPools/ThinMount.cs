using FlyImages.Errors;
using FlyImages.Operations;
using FlyImages.Resilience;
using P = FlyImages.Native.Libc.Pools;

namespace FlyImages.ThinPools;

/// <summary>
/// An ext4 filesystem of a pool device mounted on a private folder under the store (nosuid, nodev,
/// noatime). Unmount it with <see cref="UnmountAsync"/> (reported through that call's context); dispose
/// it to unmount in any case, also after a failure (silently, never cancelled). A busy mount is retried
/// a bounded number of times, then UnmountFailed. The folder is removed after the unmount. A mount keeps
/// no context: it reports through the context of the call at hand.
/// </summary>
public sealed class ThinMount : IAsyncDisposable
{
    private readonly ThinPoolOptions options;
    private int unmounted;

    private ThinMount(string path, string devicePath, bool readOnly, ThinPoolOptions options)
    {
        Path = path;
        DevicePath = devicePath;
        ReadOnly = readOnly;
        this.options = options;
    }

    /// <summary>The mount point.</summary>
    public string Path { get; }

    public string DevicePath { get; }

    public bool ReadOnly { get; }

    public bool IsMounted => Volatile.Read(ref unmounted) == 0;

    internal static Task<ThinMount> MountAsync(string devicePath, string folder, bool readOnly, ThinPoolOptions options, IOperationContext context)
    {
        context.CancellationToken.ThrowIfCancellationRequested();
        var flags = P.MS_NOSUID | P.MS_NODEV | P.MS_NOATIME | (readOnly ? P.MS_RDONLY : 0);
        if (P.Mount(devicePath, folder, "ext4", flags, null) != 0)
        {
            var errno = P.LastError;
            TryRemoveFolder(folder);
            throw new FlyException(ErrorIds.MountFailed, errno == P.EBUSY ? FlyErrorCategory.ResourceBusy : FlyErrorCategory.DeviceError,
                $"Mounting '{devicePath}' (ext4) on '{folder}' failed: {P.Describe(errno)}.", devicePath)
            {
                RecommendedAction = errno == Native.Libc.EINVAL ? "The device may hold no ext4 filesystem yet: format it first." : null,
            };
        }

        context.WriteVerbose($"Mounted '{devicePath}' on '{folder}'{(readOnly ? " read-only" : "")}.");
        return Task.FromResult(new ThinMount(folder, devicePath, readOnly, options));
    }

    /// <summary>A mount found in the mount table (left by a process that ended), so it can be unmounted.</summary>
    internal static ThinMount Adopt(string path, string devicePath, ThinPoolOptions options)
        => new(path, devicePath, readOnly: false, options);

    /// <summary>
    /// Unmounts (retrying EBUSY a bounded number of times) and removes the folder; reports and is cancelled
    /// through <paramref name="context"/>. Safe to call twice.
    /// </summary>
    public async Task UnmountAsync(IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (Volatile.Read(ref unmounted) != 0)
        {
            return;
        }

        var pipeline = RetryPolicies.Create(options.BusyAttempts, options.BusyDelay, e => e is FlyException { Category: FlyErrorCategory.ResourceBusy },
            (attempt, e, delay) => context.WriteVerbose($"'{Path}' is busy; unmount attempt {attempt} of {options.BusyAttempts} in {delay.TotalMilliseconds:0} ms."));
        await pipeline.ExecuteAsync(_ =>
        {
            if (P.Umount2(Path, 0) != 0)
            {
                var errno = P.LastError;
                if (errno is Native.Libc.EINVAL or Native.Libc.ENOENT)
                {
                    return default; // not mounted (any more)
                }

                throw new FlyException(ErrorIds.UnmountFailed, errno == P.EBUSY ? FlyErrorCategory.ResourceBusy : FlyErrorCategory.DeviceError,
                    $"Unmounting '{Path}' failed: {P.Describe(errno)}.", Path)
                {
                    RecommendedAction = errno == P.EBUSY ? "Close files and shells that use the folder, then unmount again." : null,
                };
            }

            return default;
        }, context.CancellationToken).ConfigureAwait(false);
        Volatile.Write(ref unmounted, 1);
        TryRemoveFolder(Path);
        context.WriteVerbose($"Unmounted '{Path}'.");
    }

    /// <summary>Unmounts; never cancelled (a mount must not outlive its owner).</summary>
    public ValueTask DisposeAsync() => new(UnmountAsync(NullOperationContext.Instance));

    /// <summary>Removes an empty mount folder; one that is not empty (or is mounted) stays.</summary>
    internal static void TryRemoveFolder(string folder)
    {
        try
        {
            Directory.Delete(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
