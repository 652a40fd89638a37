using System.Management.Automation;
using FlyImages.Cmdlets.Infrastructure;
using FlyImages.State;
using FlyImages.ThinPools;

namespace FlyImages.Cmdlets;

/// <summary>
/// <para type="synopsis">Makes the store's thin pool, brings it back after a reboot, or adopts an existing devicemapper pool.</para>
/// <para type="description">With the DeviceMapper backend, a new pool is a loop-backed dm thin-pool on sparse data and
/// metadata files under the store (pools/&lt;name&gt;/), the same pool `losetup` and `dmsetup create ... thin-pool` would
/// make (FlyImages makes it through the device-mapper ioctls, with no dmsetup process). With the BlockFile backend (kernels without device-mapper), devices are sparse
/// image files on loop devices; where the store's filesystem cannot reflink (ext4) and mkfs.xfs is installed, they live
/// on the pool's own XFS filesystem with reflink, so layer chains and snapshots share blocks instead of being
/// copied.</para>
/// <para type="description">Running it again is safe: an existing pool is left alone; after a reboot its files
/// are re-attached, its table re-created and its devices re-activated. -Name with the name of a dm thin-pool the
/// store does not know adopts that pool unchanged (FlyImages only adds and deletes its own devices in it). The first
/// pool of a store becomes its default pool, the one Install-FlyImage and New-FlyThinSnapshot use. Creates the store
/// when there is none. Needs root. Outputs the pool's status.</para>
/// <para type="description">Errors: ThinPoolNameInvalid, ThinPoolSizeInvalid, ThinPoolBackendUnavailable (DeviceMapper asked
/// for where the kernel has none), ThinPoolConflict (the name is taken by something else), DeviceMapperFailed,
/// LoopDeviceFailed, FormatFailed, MountFailed, StoreUnavailable.</para>
/// </summary>
/// <example>
/// <code>Initialize-FlyThinPool -DataSize 20GB -Verbose</code>
/// <para>Makes the default pool 'flyimages' with 20 GB of (sparse) data space, devicemapper where the kernel has it,
/// else block files; -Verbose tells each step.</para>
/// </example>
/// <example>
/// <code>Initialize-FlyThinPool -Name pool -Backend DeviceMapper</code>
/// <para>Adopts the dm thin-pool named 'pool' that the challenge's setup script made: it is recorded, not changed.</para>
/// </example>
/// <example>
/// <code>Initialize-FlyThinPool</code>
/// <para>After a reboot: re-attaches the default pool's loop devices, re-creates its table and re-activates its devices
/// (snapshots included). Does nothing when the pool is already up.</para>
/// </example>
/// <example>
/// <code>Initialize-FlyThinPool -Name scratch -Backend BlockFile -ReflinkFilesystem:$false -Default -WhatIf</code>
/// <para>Shows what making a second, block-file pool in a plain folder and making it the default would do, without doing
/// it.</para>
/// </example>
/// <seealso cref="GetFlyThinPoolCommand"/>
/// <seealso cref="RemoveFlyThinPoolCommand"/>
/// <seealso cref="InstallFlyImageCommand"/>
[Cmdlet(VerbsData.Initialize, "FlyThinPool", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = DefaultSet)]
[OutputType(typeof(ThinPoolStatus))]
public sealed class InitializeFlyThinPoolCommand : FlyCmdlet
{
    public const string DefaultSet = "Default";

    /// <summary>
    /// The pool's name: 1-48 of letters, digits, '_', '.', '+', '-'; for DeviceMapper also the dm device name. Default:
    /// flyimages. The name of a dm thin-pool the store does not know adopts that pool.
    /// </summary>
    [Parameter(Position = 0, ParameterSetName = DefaultSet)]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = ThinPoolSpec.DefaultName;

    /// <summary>
    /// DeviceMapper, BlockFile, or Auto: DeviceMapper when the kernel has device-mapper, else BlockFile with a warning.
    /// Default: Auto. Applies to new pools.
    /// </summary>
    /// <remarks>A string, not the core's enum: an enum-typed field would make PowerShell load the core
    /// into the default load context while it scans this assembly, before the module isolates it.</remarks>
    [Parameter(ParameterSetName = DefaultSet)]
    [ValidateSet("Auto", "DeviceMapper", "BlockFile", IgnoreCase = true)]
    public string Backend { get; set; } = "Auto";

    /// <summary>
    /// Data size of a new pool in bytes (a sparse file; 16 MB at least): what its devices can use. A block-file
    /// pool on its own XFS holds the filesystem's room beyond it in a reserve file (XFS needs at least 300 MB);
    /// in a plain folder it bounds the blocks the device images allocate. Default: 10 GiB.
    /// </summary>
    [Parameter(ParameterSetName = DefaultSet)]
    [ValidateRange(ThinPoolSizing.MinDataSize, long.MaxValue)]
    public long DataSize { get; set; }

    /// <summary>
    /// Metadata size of a new devicemapper pool in bytes. Default: computed from the data and block sizes.
    /// </summary>
    [Parameter(ParameterSetName = DefaultSet)]
    [ValidateRange(ThinPoolSizing.MinMetadataSize, ThinPoolSizing.MaxMetadataSize)]
    public long MetadataSize { get; set; }

    /// <summary>
    /// Block size of a new pool in bytes: a multiple of 64 KiB from 64 KiB to 1 GiB. Default: 64 KiB (large blocks make
    /// small writes slow).
    /// </summary>
    [Parameter(ParameterSetName = DefaultSet)]
    [ValidateRange(ThinPoolSizing.MinBlockSize, ThinPoolSizing.MaxBlockSize)]
    public long BlockSize { get; set; }

    /// <summary>
    /// Refuse new devices (ThinPoolBelowFloor) when free data or metadata space falls below this percentage: 0 to 99.
    /// Default: 10.
    /// </summary>
    [Parameter(ParameterSetName = DefaultSet)]
    [ValidateRange(0.0, 99.0)]
    public double FreeSpaceFloorPercent { get; set; }

    /// <summary>
    /// BlockFile pools: keep the device images on the pool's own XFS filesystem (reflink) in one sparse
    /// file of -DataSize, so layer chains and snapshots share blocks instead of being copied. Left out:
    /// done when the store's filesystem cannot reflink (ext4) and mkfs.xfs (xfsprogs) is installed.
    /// -ReflinkFilesystem:$false keeps a plain folder. New pools only.
    /// </summary>
    [Parameter(ParameterSetName = DefaultSet)]
    public SwitchParameter ReflinkFilesystem { get; set; }

    /// <summary>
    /// Make this pool the store's default pool, the one Install-FlyImage and the snapshot cmdlets use without -Pool
    /// (the first pool of a store always is).
    /// </summary>
    [Parameter(ParameterSetName = DefaultSet)]
    public SwitchParameter Default { get; set; }

    protected override void ProcessRecord()
    {
        var storePath = ResolvedStorePath;
        if (FlyStore.OpenExisting(storePath) is null && !ShouldProcess(storePath, "Create the FlyImages store"))
        {
            return;
        }

        var spec = new ThinPoolSpec
        {
            Name = Name,
            Backend = Enum.Parse<ThinPoolBackendChoice>(Backend, ignoreCase: true),
            DataSize = Bound(nameof(DataSize)) ? DataSize : null,
            MetadataSize = Bound(nameof(MetadataSize)) ? MetadataSize : null,
            BlockSize = Bound(nameof(BlockSize)) ? BlockSize : null,
            FreeSpaceFloorPercent = Bound(nameof(FreeSpaceFloorPercent)) ? FreeSpaceFloorPercent : null,
            MakeDefault = Default.IsPresent,
            ReflinkFilesystem = Bound(nameof(ReflinkFilesystem)) ? ReflinkFilesystem.IsPresent : null,
        };
        try
        {
            var status = RunCore(async context =>
            {
                var store = FlyStore.Open(storePath);
                var pool = await new ThinPoolCatalog(store).InitializeAsync(spec, context).ConfigureAwait(false);
                return pool is null ? null : await pool.GetStatusAsync(context).ConfigureAwait(false);
            });
            if (status is not null)
            {
                WriteObject(status);
            }
        }
        catch (Exception e) when (e is not PipelineStoppedException && !(e is OperationCanceledException && StopToken.IsCancellationRequested))
        {
            ThrowFlyError(e, Name);
        }
    }

    private bool Bound(string parameter) => MyInvocation.BoundParameters.ContainsKey(parameter);
}
