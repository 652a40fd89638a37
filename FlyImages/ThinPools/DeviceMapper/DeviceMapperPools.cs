using FlyImages.Errors;
using FlyImages.Model;
using FlyImages.Native;
using FlyImages.Operations;

namespace FlyImages.ThinPools.DeviceMapper;

/// <summary>
/// Makes devicemapper thin-pools on loop-backed sparse files under <c>pools/&lt;pool&gt;/</c>, or adopts
/// an existing dm thin-pool of the same name unchanged.
/// </summary>
internal sealed class DeviceMapperPools(ThinPoolOptions options) : IThinPoolBackend
{
    public ThinPoolBackend Backend => ThinPoolBackend.DeviceMapper;

    public IThinPoolDriver OpenDriver(ThinPoolRecord record, ThinPoolRepository repository) => new DeviceMapperDriver(record, options);

    public async Task<ThinPoolRecord?> CreateAsync(NewThinPool request, IOperationContext context)
    {
        var name = request.Name;
        var ct = context.CancellationToken;
        var dm = new DmControl(options.CommandTimeout);
        var table = await DeviceMapperDriver.ReadTableAsync(dm, name, ct).ConfigureAwait(false);
        if (table is not null)
        {
            if (!context.ShouldProcess($"thin pool '{name}'", "Adopt the existing devicemapper thin-pool (unchanged)"))
            {
                return null;
            }

            var adopted = await AdoptAsync(dm, name, table, request.Floor, ct).ConfigureAwait(false);
            context.WriteVerbose($"Adopted the devicemapper thin-pool '{name}' ({ByteSize.Format(adopted.DataSize)} data, {ByteSize.Format(adopted.BlockSize)} blocks) unchanged.");
            return adopted;
        }

        var metadataSize = ThinPoolSizing.ValidateMetadataSize(request.Spec.MetadataSize ?? ThinPoolSizing.MetadataSizeFor(request.DataSize, request.BlockSize));
        var folder = ThinPoolLayout.PoolDirectory(request.StoreRoot, name);
        if (!context.ShouldProcess($"thin pool '{name}'",
            $"Create a devicemapper thin-pool of {ByteSize.Format(request.DataSize)} data, {ByteSize.Format(metadataSize)} metadata, {ByteSize.Format(request.BlockSize)} blocks, backed by sparse files in '{folder}'"))
        {
            return null;
        }

        return await CreatePoolAsync(dm, request, metadataSize, ct).ConfigureAwait(false);
    }

    private static async Task<ThinPoolRecord> AdoptAsync(DmControl dm, string name, DmThinPoolTable table, double floor, CancellationToken ct)
    {
        var status = DmThinPoolStatus.Parse(DmTarget.Text(await dm.StatusAsync(name, ct).ConfigureAwait(false)));
        return new ThinPoolRecord
        {
            Name = name,
            Backend = ThinPoolBackend.DeviceMapper,
            DmName = name,
            BlockSize = table.BlockSectors * 512,
            DataSize = table.LengthSectors * 512,
            MetadataSize = status.MetadataTotalBlocks * DmThinPoolStatus.MetadataBlockSize,
            FreeSpaceFloorPercent = floor,
            Owned = false,
        };
    }

    private async Task<ThinPoolRecord> CreatePoolAsync(DmControl dm, NewThinPool request, long metadataSize, CancellationToken ct)
    {
        var (root, name) = (request.StoreRoot, request.Name);
        ThinPoolLayout.CreatePrivateDirectory(ThinPoolLayout.PoolDirectory(root, name));
        var dataFile = ThinPoolLayout.DataFile(root, name);
        var metadataFile = ThinPoolLayout.MetadataFile(root, name);
        if (File.Exists(dataFile) || File.Exists(metadataFile))
        {
            throw new FlyException(ErrorIds.ThinPoolConflict, FlyErrorCategory.ResourceExists,
                $"'{dataFile}' or '{metadataFile}' exists, but the store records no pool '{name}'; refusing to reuse or overwrite them.", name)
            {
                RecommendedAction = "Remove the files if they are not needed, or pick another -Name.",
            };
        }

        var record = new ThinPoolRecord
        {
            Name = name,
            Backend = ThinPoolBackend.DeviceMapper,
            DmName = name,
            DataPath = dataFile,
            MetadataPath = metadataFile,
            BlockSize = request.BlockSize,
            DataSize = request.DataSize,
            MetadataSize = metadataSize,
            FreeSpaceFloorPercent = request.Floor,
            Owned = true,
        };
        try
        {
            // sparse files: a new metadata device must read as zeros, which a new sparse file does
            foreach (var (file, size) in new[] { (metadataFile, metadataSize), (dataFile, request.DataSize) })
            {
                using var stream = ThinPoolLayout.CreateNewPrivateFile(file);
                stream.SetLength(size);
            }

            await DeviceMapperDriver.CreatePoolTableAsync(dm, name, dataFile, metadataFile, request.DataSize, request.BlockSize, options.CommandTimeout, ct).ConfigureAwait(false);
        }
        catch
        {
            await new DeviceMapperDriver(record, options).DestroyAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        return record;
    }
}
