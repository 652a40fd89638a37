using FlyImages.Errors;
using FlyImages.Model;
using FlyImages.Operations;

namespace FlyImages.ThinPools.BlockFile;

/// <summary>
/// Makes block-file pools: device images in <c>pools/&lt;pool&gt;/devices</c>, on the pool's own XFS
/// filesystem (reflink) when the store's filesystem cannot reflink and XFS is at hand, else in a
/// plain folder (see <see cref="ThinPoolSpec.ReflinkFilesystem"/>).
/// </summary>
internal sealed class BlockFilePools(ThinPoolOptions options) : IThinPoolBackend
{
    public ThinPoolBackend Backend => ThinPoolBackend.BlockFile;

    public IThinPoolDriver OpenDriver(ThinPoolRecord record, ThinPoolRepository repository)
        => new BlockFileDriver(record, options, () => repository.TransactionId(record.Name));

    public async Task<ThinPoolRecord?> CreateAsync(NewThinPool request, IOperationContext context)
    {
        var (root, name, dataSize) = (request.StoreRoot, request.Name, request.DataSize);
        var devices = ThinPoolLayout.DevicesDirectory(root, name);
        // probed once: a FICLONE between two scratch files in the store
        var hostReflinks = new Lazy<bool>(() => PoolFilesystem.SupportsReflink(root));
        var image = WantsOwnFilesystem(request.Spec.ReflinkFilesystem, hostReflinks, context) ? ThinPoolLayout.DataFile(root, name) : null;
        if (!context.ShouldProcess($"thin pool '{name}'", image is null
            ? $"Create a block-file thin pool of {ByteSize.Format(dataSize)} in '{devices}'"
            : $"Create a block-file thin pool of {ByteSize.Format(dataSize)} on its own XFS filesystem (reflink) in the sparse file '{image}', mounted on '{devices}'"))
        {
            return null;
        }

        long overhead = 0;
        if (image is not null)
        {
            try
            {
                (overhead, dataSize) = await PoolSizeReport.OwnFilesystemAsync(name, dataSize, context,
                    () => CreateFilesystemAsync(root, name, image, dataSize, devices, context.CancellationToken)).ConfigureAwait(false);
            }
            catch (FlyException e) when (request.Spec.ReflinkFilesystem is null && e.ErrorId != ErrorIds.ThinPoolConflict)
            {
                context.WriteWarning($"Pool '{name}': its own reflink filesystem could not be made ({e.Message}); keeping the device images in a plain folder, where snapshots are copies.");
                image = null;
            }
        }

        var record = new ThinPoolRecord
        {
            Name = name,
            Backend = ThinPoolBackend.BlockFile,
            DataPath = ThinPoolLayout.CreatePrivateDirectory(devices),
            FilesystemImage = image,
            BlockSize = request.BlockSize,
            DataSize = dataSize,
            MetadataSize = overhead,
            FreeSpaceFloorPercent = request.Floor,
            Owned = true,
        };
        if (image is null && !hostReflinks.Value)
        {
            context.WriteVerbose($"The filesystem holding '{devices}' cannot reflink: snapshots of pool '{name}' are sparse copies. A pool on its own reflink filesystem (-ReflinkFilesystem; needs mkfs.xfs) shares blocks instead.");
        }
        else if (image is not null)
        {
            context.WriteVerbose($"Pool '{name}' keeps its device images on its own XFS filesystem (reflink) in '{image}', mounted on '{record.DataPath}'.");
        }

        return record;
    }

    /// <summary>Whether a new block-file pool gets its own reflink filesystem (see <see cref="ThinPoolSpec.ReflinkFilesystem"/>).</summary>
    private static bool WantsOwnFilesystem(bool? asked, Lazy<bool> hostReflinks, IOperationContext context)
    {
        if (asked is { } explicitly)
        {
            return explicitly;
        }

        if (hostReflinks.Value)
        {
            return false; // the store's filesystem shares blocks itself
        }

        if (PoolFilesystem.Unavailable() is { } why)
        {
            context.WriteVerbose($"The store's filesystem cannot reflink, and a pool filesystem of its own is not possible here: {why}.");
            return false;
        }

        return true;
    }

    private async Task<(long Overhead, long Capacity)> CreateFilesystemAsync(string root, string name, string image, long dataSize, string devices, CancellationToken ct)
    {
        ThinPoolLayout.CreatePrivateDirectory(ThinPoolLayout.PoolDirectory(root, name));
        if (File.Exists(image) || (Directory.Exists(devices) && Directory.EnumerateFileSystemEntries(devices).Any()))
        {
            throw new FlyException(ErrorIds.ThinPoolConflict, FlyErrorCategory.ResourceExists,
                $"'{image}' or files in '{devices}' exist, but the store records no pool '{name}'; refusing to reuse or overwrite them.", name)
            {
                RecommendedAction = "Remove the files if they are not needed, or pick another -Name.",
            };
        }

        try
        {
            return await PoolFilesystem.CreateAsync(image, dataSize, devices, options.CommandTimeout, ct).ConfigureAwait(false);
        }
        catch
        {
            await PoolFilesystem.UnmountAsync(image, devices, CancellationToken.None).ConfigureAwait(false);
            File.Delete(image);
            throw;
        }
    }
}
