using FlyImages.Content;
using FlyImages.Errors;
using FlyImages.Images;
using FlyImages.Model;
using FlyImages.Operations;
using FlyImages.Sources;
using FlyImages.ThinPools;
using FlyImages.Unpacking;
using FlyImages.Workflows;

namespace FlyImages.Install;

/// <summary>
/// The real work of an install, for <see cref="InstallWorkflow"/>: blobs from the content store,
/// chain devices in a thin pool (the base by create-thin + mkfs, the others by snapshotting their
/// parent), layers applied by the unpacker onto the mounted device. Every step is idempotent.
/// </summary>
public sealed class ImageInstallSteps(IImageSource source, ContentStore content, IThinPool pool, InstallOptions options) : IInstallSteps
{
    /// <summary>Called with (key, bytes done, total) while a blob downloads.</summary>
    public Action<string, LayerProgress>? OnFetchProgress { get; init; }

    /// <summary>Called when a layer starts and ends being applied (key, depth, finished).</summary>
    public Action<ChainPlan, bool>? OnApply { get; init; }

    public async Task<Image> ResolveAsync(Image image, StepContext context)
    {
        // a fresh listing (Get-FlyImage's, piped) is reused: the ETag and size of every layer are checked when it is read
        var current = IsFresh(image) ? image
            : (await ImageCatalog.FindAsync(source, [image.Name], content.Store, context.Operation).ConfigureAwait(false)).FirstOrDefault(i => i.Name == image.Name)
                ?? throw ImageCatalog.NotFound(image.Name, source.Spec.Uri);
        if (!current.IsValid)
        {
            throw new FlyException(ErrorIds.ImageInvalid, FlyErrorCategory.InvalidData,
                $"The image '{current.Name}' in {source.Spec.Uri} is invalid: {string.Join("; ", current.Problems)}.", current.Name);
        }

        return current;
    }

    /// <summary>Whether <paramref name="image"/> was listed from this source within <see cref="InstallOptions.ListingReuse"/> (never with -Force).</summary>
    private bool IsFresh(Image image)
        => !options.Force && image.ListedAt is { } listedAt && image.Layers.Count > 0 && image.Source == source.Spec.Uri
            && DateTimeOffset.UtcNow - listedAt is var age && age >= TimeSpan.Zero && age <= options.ListingReuse;

    public Task<FetchedLayer> FetchAsync(Image image, Layer layer, StepContext context) => FetchAsync(image, layer, context, null);

    public async Task<FetchedLayer> FetchAsync(Image image, Layer layer, StepContext context, Action<IncomingBlob>? onIncoming)
    {
        // no blob deletion while the blob is looked up, downloaded and recorded (the install's lease covers the rest)
        using var guard = await ContentGuard.SharedAsync(content.Store.RootPath, context.CancellationToken).ConfigureAwait(false);
        var blob = await content.FetchLayerAsync(source, layer, context.Operation, context.CancellationToken,
            OnFetchProgress is null ? null : p => OnFetchProgress(layer.Key, p), force: options.Force, incoming: onIncoming).ConfigureAwait(false);
        return new FetchedLayer(blob.Digest, blob.Path);
    }

    public bool CanStage => options.StreamApply;

    public async Task<string> CreateChainDeviceAsync(ChainPlan chain, StepContext context)
    {
        var name = DeviceNames.Chain(chain.ChainId);
        await CreateDeviceAsync(name, chain.ParentDevice, chain, context.Operation).ConfigureAwait(false);
        return name;
    }

    /// <summary>Makes device <paramref name="name"/>: create-thin + mkfs, or a snapshot of <paramref name="parentDevice"/>.</summary>
    private async Task CreateDeviceAsync(string name, string? parentDevice, ChainPlan chain, IOperationContext operation)
    {
        // a device left by a run that died before recording it is half-made: start again
        await pool.DeleteIfPresentAsync(name, operation).ConfigureAwait(false);

        try
        {
            if (parentDevice is null)
            {
                await pool.CreateThinAsync(name, options.DeviceSize, operation).ConfigureAwait(false);
                await pool.ActivateAsync(name, operation).ConfigureAwait(false);
                await pool.FormatExt4Async(name, operation).ConfigureAwait(false);
            }
            else
            {
                await pool.CreateSnapshotAsync(name, parentDevice, operation).ConfigureAwait(false);
                await pool.ActivateAsync(name, operation).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // a pool below its floor or out of space says PoolFull, like a layer that does not fit
            var explained = await new ChainWriteGuard(pool).ExplainAsync(chain, e).ConfigureAwait(false);
            if (!ReferenceEquals(explained, e))
            {
                throw explained;
            }

            throw;
        }
    }

    public async Task ApplyLayerAsync(ChainPlan chain, string device, StepContext context)
    {
        var operation = context.Operation;
        if (context.Attempt > 1)
        {
            // a retried apply must not land on top of a half-applied one: make the device afresh
            await CreateChainDeviceAsync(chain, context).ConfigureAwait(false);
        }

        var blob = chain.BlobPath ?? content.TryGetBlob(chain.LayerDigest)?.Path
            ?? throw new FlyException(ErrorIds.WorkflowStepInvalid, FlyErrorCategory.InvalidOperation, $"The blob {chain.LayerDigest} of {chain} is not in the content store.", chain.ChainId);

        // refuse early: a layer larger than the pool's room is never written (a compressed one is stopped
        // as soon as its files pass the room); what cannot be known ahead is caught by the checks after it
        var guard = new ChainWriteGuard(pool);
        var room = await guard.RoomAsync(chain, operation).ConfigureAwait(false);
        if (options.RefuseEarly && ChainWriteGuard.PlainTarSize(blob) is { } size && size > room)
        {
            throw await guard.RefusedAsync(chain, size, room, beforeWriting: true, null, operation).ConfigureAwait(false);
        }

        await ApplyOntoAsync(chain, device, guard, room, (path, limits, ct) => LayerUnpacker.ApplyAsync(blob, path, limits, operation, ct), context).ConfigureAwait(false);
    }

    public async Task StageLayerAsync(StagedLayer stage, IncomingBlob incoming, StepContext context)
    {
        ArgumentNullException.ThrowIfNull(stage);
        ArgumentNullException.ThrowIfNull(incoming);
        var operation = context.Operation;
        // what the pool's messages name until the blob's digest is known
        var chain = new ChainPlan(stage.Device, null, stage.Depth, $"'{stage.LayerKey}' (downloading)", null, stage.ParentDevice);
        await CreateDeviceAsync(stage.Device, stage.ParentDevice, chain, operation).ConfigureAwait(false);
        var guard = new ChainWriteGuard(pool);
        var room = await guard.RoomAsync(chain, operation).ConfigureAwait(false);
        await ApplyOntoAsync(chain, stage.Device, guard, room, async (path, limits, ct) =>
        {
            await using var bytes = incoming.OpenRead(ct);
            return await LayerUnpacker.ApplyAsync(bytes, path, limits, operation, ct).ConfigureAwait(false);
        }, context).ConfigureAwait(false);
    }

    public async Task<string> AdoptStagedAsync(ChainPlan chain, string stagedDevice, StepContext context)
    {
        var name = DeviceNames.Chain(chain.ChainId);
        // a device a dead run left under the chain's name is half-made
        await pool.DeleteIfPresentAsync(name, context.Operation).ConfigureAwait(false);
        await pool.RenameAsync(stagedDevice, name, context.Operation).ConfigureAwait(false);
        return name;
    }

    public Task DiscardStagedAsync(string stagedDevice, StepContext context) => pool.DeleteIfPresentAsync(stagedDevice, context.Operation);

    /// <summary>
    /// Applies a layer onto <paramref name="device"/> with <paramref name="apply"/> (given the mount point, the limits and the
    /// cancellation), then proves its bytes reached the device: flushed with no file system error, cleanly unmounted, the pool not out of space.
    /// </summary>
    private async Task ApplyOntoAsync(ChainPlan chain, string device, ChainWriteGuard guard, long room,
        Func<string, UnpackLimits?, CancellationToken, Task<LayerApplyResult>> apply, StepContext context)
    {
        var operation = context.Operation;
        var limits = options.RefuseEarly ? (options.Limits ?? UnpackLimits.Default) with { DestinationRoomBytes = room } : options.Limits;
        var devicePath = await pool.ActivateAsync(device, operation).ConfigureAwait(false);
        OnApply?.Invoke(chain, false);
        try
        {
            await using (var mount = await pool.MountAsync(device, readOnly: false, operation).ConfigureAwait(false))
            {
                LayerApplyResult result;
                try
                {
                    result = await apply(mount.Path, limits, context.CancellationToken).ConfigureAwait(false);
                }
                catch (FlyException e) when (e.ErrorId == ErrorIds.DestinationFull)
                {
                    throw await guard.RefusedAsync(chain, room + 1, room, beforeWriting: false, e, operation).ConfigureAwait(false);
                }

                operation.WriteVerbose($"{chain}: {result.Entries} entries, {ByteSize.Format(result.BytesWritten)} written, {result.WhiteoutsApplied} whiteouts, {result.Skipped.Count} skipped.");

                // nothing is sealed unless its bytes are on the device: flush, no filesystem errors, a clean unmount
                if (Ext4Health.FlushMounted(mount.Path, mount.DevicePath) is { } unflushed)
                {
                    throw guard.WriteFailed(chain, unflushed);
                }

                await mount.UnmountAsync(operation).ConfigureAwait(false);
            }

            if (Ext4Health.CheckUnmounted(devicePath) is { } damaged)
            {
                throw guard.WriteFailed(chain, damaged);
            }

            await guard.CheckAfterAsync(chain, operation).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var explained = await guard.ExplainAsync(chain, e).ConfigureAwait(false);
            if (!ReferenceEquals(explained, e))
            {
                throw explained;
            }

            throw;
        }

        OnApply?.Invoke(chain, true);
    }

    /// <summary>A sealed chain is never written again; deactivating it frees its loop or dm device until a snapshot needs it.</summary>
    public Task SealChainAsync(ChainPlan chain, string device, StepContext context) => pool.DeactivateAsync(device, context.Operation);

    public Task DiscardChainDeviceAsync(ChainPlan chain, string? device, StepContext context)
        => pool.DeleteIfPresentAsync(device ?? DeviceNames.Chain(chain.ChainId), context.Operation);
}
