namespace FlyImages.Unpacking;

/// <summary>The container format detected from a layer's bytes.</summary>
public enum LayerFormat
{
    Tar,
    Gzip,
    Zstd,
    Bzip2,
}

/// <summary>An entry the unpacker did not create, and why (devices, unknown types, same-layer whiteouts...).</summary>
public sealed record SkippedEntry(string Name, string Reason)
{
    /// <summary>The host this object describes (see <see cref="Model.LocalHost"/>).</summary>
    public string ComputerName { get; init; } = Model.LocalHost.ComputerName;

    public override string ToString() => $"{Name}: {Reason}";
}

/// <summary>What applying one layer did. Returned only when the whole layer was applied.</summary>
public sealed class LayerApplyResult
{
    /// <summary>The layer file, or null when applied from a stream.</summary>
    public string? Path { get; init; }

    /// <summary>The folder the layer was applied onto.</summary>
    public required string Destination { get; init; }

    public LayerFormat Format { get; init; }

    /// <summary>Archive entries seen (extended headers not counted).</summary>
    public long Entries { get; init; }

    public long Files { get; init; }

    public long Directories { get; init; }

    public long Symlinks { get; init; }

    public long HardLinks { get; init; }

    public long Fifos { get; init; }

    /// <summary>Bytes of file content written.</summary>
    public long BytesWritten { get; init; }

    /// <summary>Bytes read from the layer (compressed size for compressed layers).</summary>
    public long InputBytes { get; init; }

    /// <summary>Whiteout entries (.wh.NAME) processed.</summary>
    public long WhiteoutsApplied { get; init; }

    /// <summary>Opaque-folder markers (.wh..wh..opq) processed.</summary>
    public long OpaqueDirectories { get; init; }

    /// <summary>Lower-layer entries removed by whiteouts and opaque folders.</summary>
    public long LowerEntriesRemoved { get; init; }

    /// <summary>Extended attributes set.</summary>
    public long XattrsApplied { get; init; }

    /// <summary>Character and block devices not created.</summary>
    public long DevicesSkipped { get; init; }

    /// <summary>All entries not created, devices included.</summary>
    public long SkippedCount { get; init; }

    private readonly IReadOnlyList<SkippedEntry> skipped = [];
    private readonly IReadOnlyList<string> warnings = [];

    /// <summary>The first skipped entries with their reasons (see <see cref="UnpackLimits.MaxSkippedListed"/>); an array.</summary>
    public IReadOnlyList<SkippedEntry> Skipped
    {
        get => skipped;
        init => skipped = value is null ? [] : value.ToArray();
    }

    /// <summary>Problems that did not reject the layer (e.g. an xattr the file system refused); an array.</summary>
    public IReadOnlyList<string> Warnings
    {
        get => warnings;
        init => warnings = value is null ? [] : value.ToArray();
    }

    /// <summary>Whether owners were applied (only when running as root).</summary>
    public bool OwnershipApplied { get; init; }

    public TimeSpan Duration { get; init; }

    /// <summary>The host this object describes (see <see cref="Model.LocalHost"/>).</summary>
    public string ComputerName { get; init; } = Model.LocalHost.ComputerName;
}
