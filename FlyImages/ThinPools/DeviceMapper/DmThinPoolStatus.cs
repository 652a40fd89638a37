using System.Globalization;

namespace FlyImages.ThinPools.DeviceMapper;

/// <summary>
/// A parsed thin-pool status line: <c>&lt;start&gt; &lt;length&gt; thin-pool &lt;transaction id&gt;
/// &lt;used meta&gt;/&lt;total meta&gt; &lt;used data&gt;/&lt;total data&gt; &lt;held root&gt; rw|ro|out_of_data_space
/// [no_]discard_passdown error|queue_if_no_space needs_check|- [metadata low watermark]</c>, or
/// <c>Fail</c> / <c>Error</c>. Metadata blocks are 4 KiB; data blocks are the pool's block size.
/// </summary>
public sealed record DmThinPoolStatus(ThinPoolMode Mode, long TransactionId, long MetadataUsedBlocks, long MetadataTotalBlocks, long DataUsedBlocks, long DataTotalBlocks, string Line)
{
    public const long MetadataBlockSize = 4096;

    public static DmThinPoolStatus Parse(string output)
    {
        var line = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";
        var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var at = Array.IndexOf(f, "thin-pool");
        if (at < 0)
        {
            throw new FormatException($"Not a thin-pool status line: '{line}'.");
        }

        var rest = f[(at + 1)..];
        if (rest.Length == 0 || rest[0] is "Fail" or "Error")
        {
            return new DmThinPoolStatus(ThinPoolMode.Failed, 0, 0, 0, 0, 0, line);
        }

        if (rest.Length < 5)
        {
            throw new FormatException($"A thin-pool status line is too short: '{line}'.");
        }

        var transaction = long.Parse(rest[0], NumberStyles.None, CultureInfo.InvariantCulture);
        var (metaUsed, metaTotal) = Fraction(rest[1]);
        var (dataUsed, dataTotal) = Fraction(rest[2]);
        var mode = rest[4] switch
        {
            "rw" => ThinPoolMode.ReadWrite,
            "ro" => ThinPoolMode.ReadOnly,
            "out_of_data_space" => ThinPoolMode.OutOfDataSpace,
            _ => ThinPoolMode.Failed,
        };
        if (rest.Skip(5).Contains("needs_check"))
        {
            mode = ThinPoolMode.NeedsCheck;
        }

        return new DmThinPoolStatus(mode, transaction, metaUsed, metaTotal, dataUsed, dataTotal, line);
    }

    private static (long Used, long Total) Fraction(string text)
    {
        var parts = text.Split('/');
        if (parts.Length != 2)
        {
            throw new FormatException($"'{text}' is not used/total.");
        }

        return (long.Parse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture), long.Parse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture));
    }
}

/// <summary>
/// A parsed thin-pool table: <c>0 &lt;sectors&gt; thin-pool &lt;metadata dev&gt; &lt;data dev&gt; &lt;block sectors&gt;
/// &lt;low water&gt; [&lt;#features&gt; &lt;feature&gt;...]</c> (features: skip_block_zeroing, ignore_discard,
/// no_discard_passdown, read_only, error_if_no_space).
/// </summary>
public sealed record DmThinPoolTable(long LengthSectors, string MetadataDevice, string DataDevice, long BlockSectors, long LowWaterMark)
{
    /// <summary>The feature that makes a full pool fail writes instead of queueing them.</summary>
    public const string ErrorIfNoSpace = "error_if_no_space";

    /// <summary>The table's feature arguments.</summary>
    public IReadOnlyList<string> Features { get; init; } = [];

    /// <summary>Whether writes to the full pool fail at once (<see cref="ErrorIfNoSpace"/>) rather than queue.</summary>
    public bool ErrorsWhenFull => Features.Contains(ErrorIfNoSpace);

    public static DmThinPoolTable? TryParse(string output)
    {
        var line = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";
        var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (f.Length < 7 || f[2] != "thin-pool"
            || !long.TryParse(f[1], NumberStyles.None, CultureInfo.InvariantCulture, out var length)
            || !long.TryParse(f[5], NumberStyles.None, CultureInfo.InvariantCulture, out var block)
            || !long.TryParse(f[6], NumberStyles.None, CultureInfo.InvariantCulture, out var lowWater))
        {
            return null;
        }

        var features = f.Length > 7 && int.TryParse(f[7], NumberStyles.None, CultureInfo.InvariantCulture, out var count)
            ? f.Skip(8).Take(count).ToArray()
            : [];
        return new DmThinPoolTable(length, f[3], f[4], block, lowWater) { Features = features };
    }
}
