using System.Globalization;
using FlyImages.Operations;
using FlyImages.State;
using FlyImages.ThinPools;

namespace FlyImages.Health;

/// <summary>
/// No mount left below the store's mounts folder by a process that is gone, and no loop device of this store that nothing
/// explains: its backing file deleted, or a device image whose device the store records as missing or not active.
/// </summary>
public sealed class LeaksCheck : IStoreCheck
{
    public string Name => "Leaks";

    public Task<CheckOutcome> RunAsync(StoreCheckContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Store is not { } store)
        {
            return Task.FromResult(CheckOutcome.Skip("There is no store."));
        }

        var problems = new List<string>();
        var mountsRoot = Path.Combine(store.RootPath, "mounts") + Path.DirectorySeparatorChar;
        var mounts = MountTable.Read().Where(m => m.MountPoint.StartsWith(mountsRoot, StringComparison.Ordinal)).ToList();
        foreach (var mount in mounts)
        {
            if (OwnerGone(Path.GetFileName(mount.MountPoint)))
            {
                problems.Add($"mount {mount.MountPoint} was left by a process that is gone");
            }
        }

        var loops = LoopDevices(store.RootPath);
        foreach (var (loop, backing) in loops)
        {
            if (LoopProblem(store, backing) is { } problem)
            {
                problems.Add($"{loop} ({backing}) {problem}");
            }
        }

        var what = string.Create(CultureInfo.InvariantCulture, $"{mounts.Count} mounts and {loops.Count} loop devices of this store");
        return Task.FromResult(problems.Count == 0 ? CheckOutcome.Pass(what + ": none leaked") : CheckOutcome.Fail($"{what}: {Problems.Join(problems)}"));
    }

    /// <summary>A mount point name &lt;device&gt;-&lt;pid&gt;-&lt;start ticks&gt;-&lt;random&gt; whose process no longer runs.</summary>
    internal static bool OwnerGone(string name)
    {
        var parts = name.Split('-');
        return parts.Length == 4
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var device)
            && ThinPoolLayout.IsOrphanedMountPoint(name, device);
    }

    /// <summary>Attached loop devices (/sys/block/loop*/loop/backing_file) whose backing file is below <paramref name="root"/>.</summary>
    internal static List<(string Loop, string Backing)> LoopDevices(string root)
    {
        var found = new List<(string, string)>();
        var prefix = root.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        IEnumerable<string> blocks;
        try
        {
            blocks = Directory.EnumerateDirectories("/sys/block", "loop*").ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return found;
        }

        foreach (var block in blocks)
        {
            var backing = HostFacts.ReadFirstLine(Path.Combine(block, "loop", "backing_file"));
            if (backing is not null && backing.StartsWith(prefix, StringComparison.Ordinal))
            {
                found.Add(("/dev/" + Path.GetFileName(block), backing));
            }
        }

        return found;
    }

    private static string? LoopProblem(FlyStore store, string backing)
    {
        const string deleted = " (deleted)";
        if (backing.EndsWith(deleted, StringComparison.Ordinal))
        {
            return "backs onto a deleted file";
        }

        // pools/<pool>/data.img, metadata.img or the own-XFS image are the pool's own; pools/<pool>/devices/<id>.img a device's
        var relative = Path.GetRelativePath(store.RootPath, backing).Split(Path.DirectorySeparatorChar);
        if (relative is ["pools", _, _])
        {
            return null;
        }

        if (relative is ["pools", var pool, "devices", var file] && file.EndsWith(".img", StringComparison.Ordinal)
            && int.TryParse(file[..^4], NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            var state = store.Read((c, t) => c.Scalar<string>(t,
                "SELECT d.state FROM thin_devices d JOIN thin_pools p ON p.id = d.pool_id WHERE p.name = $p AND d.device_id = $id;", ("$p", pool), ("$id", id)));
            return state switch
            {
                null => "is attached but the store records no such device",
                nameof(ThinDeviceState.Deactivated) or nameof(ThinDeviceState.Created) => $"is attached but its device is {state}",
                _ => null,
            };
        }

        return "is a loop device of an unknown file of the store";
    }
}

/// <summary>The source answers a listing (optional: skipped unless a source is given).</summary>
public sealed class SourceCheck : IStoreCheck
{
    public string Name => "Source";

    public async Task<CheckOutcome> RunAsync(StoreCheckContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Options.Source is not { } options)
        {
            return CheckOutcome.Skip("No -Source given.");
        }

        try
        {
            using var source = Sources.ImageSourceFactory.Create(options, context.Operation);
            await foreach (var first in source.ListAsync(context.CancellationToken).ConfigureAwait(false))
            {
                return CheckOutcome.Pass($"{source.Spec.Uri} at {source.Location} answers a listing");
            }

            return CheckOutcome.Fail($"{source.Spec.Uri} at {source.Location} answers but lists no object");
        }
        catch (Errors.FlyException e)
        {
            return CheckOutcome.Fail($"{e.ErrorId}: {e.Message}");
        }
        catch (Exception e) when (e is IOException or System.Net.Http.HttpRequestException or UnauthorizedAccessException)
        {
            return CheckOutcome.Fail(e.Message);
        }
    }
}
