using System.Globalization;
using FlyImages.Operations;
using FlyImages.State;
using FlyImages.ThinPools;
using FlyImages.ThinPools.BlockFile;

namespace FlyImages.Health;

/// <summary>
/// No mount left below the store's mounts folder by a process that is gone, and no loop device of this store that nothing
/// explains: its backing file deleted, or a device image whose device the store records as missing or not active.
/// </summary>
public sealed class LeaksCheck : StoreCheck
{
    public override string Name => "Leaks";

    protected override Task<CheckOutcome> RunAsync(StoreCheckContext context, FlyStore store)
    {
        // the pools' own finder of mount points left by processes that are gone (a collection releases them): those still mounted leak
        var problems = OrphanedMounts.Find(store.RootPath).Where(m => m.Mounted).Select(m => $"mount {m.Path} was left by a process that is gone").ToList();
        var mounts = MountTable.Below(Path.Combine(store.RootPath, "mounts"));
        var prefix = store.RootPath.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        var loops = LoopDevices.List().Where(l => l.BackingFile.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        foreach (var loop in loops)
        {
            if (LoopProblem(store, loop.BackingFile) is { } problem)
            {
                problems.Add($"{loop.Path} ({loop.BackingFile}) {problem}");
            }
        }

        var what = string.Create(CultureInfo.InvariantCulture, $"{mounts.Count} mounts and {loops.Count} loop devices of this store");
        return Task.FromResult(problems.Count == 0 ? CheckOutcome.Pass(what + ": none leaked") : CheckOutcome.Fail($"{what}: {Problems.Join(problems)}"));
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
