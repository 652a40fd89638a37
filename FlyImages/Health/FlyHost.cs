using FlyImages.ThinPools;

namespace FlyImages.Health;

/// <summary>What a host is, as <c>Get-FlyHost</c> reads it: identity, kernel, store, pools and versions, with the time it was read.</summary>
public sealed record FlyHost
{
    /// <summary>The host name (/proc/sys/kernel/hostname): the same value every FlyImages output carries as ComputerName.</summary>
    public required string ComputerName { get; init; }

    /// <summary>/etc/machine-id (null when the host has none).</summary>
    public string? MachineId { get; init; }

    /// <summary>The kernel's boot id (/proc/sys/kernel/random/boot_id): changes at every boot.</summary>
    public required string BootId { get; init; }

    /// <summary>The kernel release (/proc/sys/kernel/osrelease).</summary>
    public required string KernelRelease { get; init; }

    /// <summary>Whether the kernel offers device-mapper (/proc/misc lists it).</summary>
    public bool DeviceMapperAvailable { get; init; }

    /// <summary>The kernel's device-mapper interface version ("4.48.0", dmsetup's "Driver version"); null when it has none or it cannot be asked (not root).</summary>
    public string? DeviceMapperVersion { get; init; }

    /// <summary>The store folder.</summary>
    public required string StorePath { get; init; }

    /// <summary>Whether the store's database exists (reading never creates one).</summary>
    public bool StoreExists { get; init; }

    /// <summary>The store's schema version (PRAGMA user_version); null when there is no store.</summary>
    public int? SchemaVersion { get; init; }

    /// <summary>The newest schema version this FlyImages knows.</summary>
    public int LatestSchemaVersion { get; init; }

    /// <summary>The store's thin pools and their use.</summary>
    public ThinPoolStatus[] Pools { get; init; } = [];

    /// <summary>The FlyImages module version.</summary>
    public string? ModuleVersion { get; init; }

    /// <summary>The PowerShell version the module runs in.</summary>
    public string? PowerShellVersion { get; init; }

    /// <summary>The .NET runtime version.</summary>
    public string RuntimeVersion { get; init; } = Environment.Version.ToString();

    /// <summary>When these facts were read (UTC).</summary>
    public required DateTimeOffset ReadAt { get; init; }

    public override string ToString() => ComputerName;
}
