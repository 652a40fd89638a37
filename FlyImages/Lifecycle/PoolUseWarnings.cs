using FlyImages.Model;
using FlyImages.ThinPools;

namespace FlyImages.Lifecycle;

/// <summary>
/// Warnings as a pool fills (LVM's dmeventd warns at 80/85/90/95 %): past 80, 90 and 95 % of data or metadata,
/// Get-FlyThinPool and Install-FlyImage say so, with what to do. A full thin pool fails writes.
/// </summary>
public static class PoolUseWarnings
{
    /// <summary>The levels (percent) a warning is given at.</summary>
    public static IReadOnlyList<double> Levels { get; } = [95, 90, 80];

    /// <summary>The warning for <paramref name="status"/>, or null below 80 % of both data and metadata.</summary>
    public static string? For(ThinPoolStatus status)
    {
        ArgumentNullException.ThrowIfNull(status);
        var parts = new List<string>();
        foreach (var (what, percent, used, total) in new[]
                 {
                     ("data", status.DataUsedPercent, status.DataUsedBytes, status.DataTotalBytes),
                     ("metadata", status.MetadataUsedPercent, status.MetadataUsedBytes, status.MetadataTotalBytes),
                 })
        {
            if (total > 0 && Levels.FirstOrDefault(l => percent > l) is var level and > 0)
            {
                parts.Add($"{what} is {percent:0.#}% used (over {level}%: {ByteSize.Format(used)} of {ByteSize.Format(total)})");
            }
        }

        return parts.Count == 0 ? null
            : $"Thin pool '{status.Name}': {string.Join("; ", parts)}. Remove images or snapshots you no longer need (Limit-FlyImageStore, Remove-FlyImage), or grow the pool: a full pool fails writes.";
    }
}
