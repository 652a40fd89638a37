using FlyImages.Content;
using FlyImages.Errors;
using FlyImages.Images;
using FlyImages.Model;
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
        var listed = await ImageCatalog.ListAsync(source, content.Store, context.Operation).ConfigureAwait(false);
        var current = listed.FirstOrDefault(i => i.Name == image.Name) ?? throw ImageCatalog.NotFound(image.Name, source.Spec.Uri);
        if (!current.IsValid)
        {
            throw new FlyException(ErrorIds.ImageInvalid, FlyErrorCategory.InvalidData,
                $"The image '{current.Name}' in {source.Spec.Uri} is invalid: {string.Join("; ", current.Problems)}.", current.Name);
        }

        return current;
    }

    public async Task<FetchedLayer> FetchAsync(Image image, Layer layer, StepContext context)
    {
        // no blob deletion while the blob is looked up, downloaded and recorded (the install's lease covers the rest)
        using var guard = await ContentGuard.SharedAsync(content.Store.RootPath, context.CancellationToken).ConfigureAwait(false);
        var blob = await content.FetchLayerAsync(source, layer, context.Operation, context.CancellationToken,
            OnFetchProgress is null ? null : p => OnFetchProgress(layer.Key, p), force: options.Force).ConfigureAwait(false);
        return new FetchedLayer(blob.Digest, blob.Path);
    }

    public async Task<string> CreateChainDeviceAsync(ChainPlan chain, StepContext context)
    {
        var name = DeviceNames.Chain(chain.ChainId);
        var cancel = context.CancellationToken;
        // a device left by a run that died before recording it is half-made: start again
        await pool.DeleteIfPresentAsync(name, cancel).ConfigureAwait(false);

        if (chain.ParentDevice is null)
        {
            await pool.CreateThinAsync(name, options.DeviceSize, cancel).ConfigureAwait(false);
            await pool.ActivateAsync(name, cancel).ConfigureAwait(false);
            await pool.FormatExt4Async(name, cancel).ConfigureAwait(false);
        }
        else
        {
            await pool.CreateSnapshotAsync(name, chain.ParentDevice, cancel).ConfigureAwait(false);
            await pool.ActivateAsync(name, cancel).ConfigureAwait(false);
        }

        return name;
    }

    public async Task ApplyLayerAsync(ChainPlan chain, string device, StepContext context)
    {
        var cancel = context.CancellationToken;
        if (context.Attempt > 1)
        {
            // a retried apply must not land on top of a half-applied one: make the device afresh
            await CreateChainDeviceAsync(chain, context).ConfigureAwait(false);
        }

        var blob = chain.BlobPath ?? content.TryGetBlob(chain.LayerDigest)?.Path
            ?? throw new FlyException(ErrorIds.WorkflowStepInvalid, FlyErrorCategory.InvalidOperation, $"The blob {chain.LayerDigest} of {chain} is not in the content store.", chain.ChainId);
        await pool.ActivateAsync(device, cancel).ConfigureAwait(false);
        OnApply?.Invoke(chain, false);
        await using (var mount = await pool.MountAsync(device, readOnly: false, cancel).ConfigureAwait(false))
        {
            var result = await LayerUnpacker.ApplyAsync(blob, mount.Path, options.Limits, context.Operation, cancel).ConfigureAwait(false);
            context.Operation.WriteVerbose($"{chain}: {result.Entries} entries, {ByteSize.Format(result.BytesWritten)} written, {result.WhiteoutsApplied} whiteouts, {result.Skipped.Count} skipped.");
            await mount.UnmountAsync(cancel).ConfigureAwait(false);
        }

        OnApply?.Invoke(chain, true);
    }

    /// <summary>A sealed chain is never written again; deactivating it frees its loop or dm device until a snapshot needs it.</summary>
    public Task SealChainAsync(ChainPlan chain, string device, StepContext context) => pool.DeactivateAsync(device, context.CancellationToken);

    public Task DiscardChainDeviceAsync(ChainPlan chain, string? device, StepContext context)
        => pool.DeleteIfPresentAsync(device ?? DeviceNames.Chain(chain.ChainId), context.CancellationToken);
}
