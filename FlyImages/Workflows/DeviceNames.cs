namespace FlyImages.Workflows;

/// <summary>Names of FlyImages' devices inside a pool (they live only in SQLite; dm names carry ids).</summary>
public static class DeviceNames
{
    /// <summary>The device of a layer chain.</summary>
    public static string Chain(string chainId) => "chain:" + chainId;

    /// <summary>The device of a snapshot (by its record id: names are the user's and may repeat across images).</summary>
    public static string Snapshot(long snapshotId) => "snapshot:" + snapshotId.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
