namespace FlyImages.Metrics;

/// <summary>A metrics file written for node_exporter's textfile collector.</summary>
public sealed record MetricsFile
{
    /// <summary>The file (in the collector's folder).</summary>
    public required string Path { get; init; }

    /// <summary>How many samples it holds.</summary>
    public int Samples { get; init; }

    /// <summary>Its size in bytes.</summary>
    public long Bytes { get; init; }

    /// <summary>The store the metrics describe.</summary>
    public required string StorePath { get; init; }

    /// <summary>The host that wrote it.</summary>
    public string ComputerName { get; init; } = Health.HostFacts.ComputerName;

    /// <summary>When it was written (UTC).</summary>
    public DateTimeOffset WrittenAt { get; init; } = DateTimeOffset.UtcNow;

    public override string ToString() => Path;
}
