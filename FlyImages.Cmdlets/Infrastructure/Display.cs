using System.Globalization;
using System.Management.Automation;
using FlyImages.Model;

namespace FlyImages.Cmdlets.Infrastructure;

/// <summary>
/// What the format views (*.Format.ps1xml) call. It lives in the cmdlet assembly because PowerShell
/// resolves type literals only in the default load context, and the core lives in the module's own
/// one (see <see cref="DependencyIsolation"/>): views use <c>[FlyImages.Cmdlets.Infrastructure.Display]::Bytes(...)</c>.
/// Every helper also takes what remoting's deserializer makes of a value (a string, a property bag).
/// </summary>
public static class Display
{
    /// <summary>A byte count in human units (KiB, MiB...).</summary>
    public static string Bytes(long bytes) => ByteSize.Format(bytes);

    /// <summary>A point in time as <c>MM-dd HH:mm:ss</c> UTC (the year is in Format-List); accepts DateTimeOffset, DateTime or their deserialized forms.</summary>
    public static string Time(object? value)
    {
        var utc = Utc(value);
        return utc is null ? value?.ToString() ?? "" : utc.Value.ToString("MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
    }

    /// <summary>A digest shortened to <c>sha256:</c> and 12 hex digits (enough to tell blobs apart in a table).</summary>
    public static string ShortDigest(string? digest)
        => string.IsNullOrEmpty(digest) ? "" : digest.Length <= 19 ? digest : digest[..19];

    private static DateTime? Utc(object? value)
    {
        switch (value)
        {
            case PSObject wrapped when wrapped.BaseObject is not PSCustomObject:
                return wrapped.BaseObject is string or DateTime or DateTimeOffset ? Utc(wrapped.BaseObject) : Utc(wrapped.Properties["UtcDateTime"]?.Value);
            case PSObject bag:
                return Utc(bag.Properties["UtcDateTime"]?.Value);
            case DateTimeOffset offset:
                return offset.UtcDateTime;
            case DateTime time:
                return time.Kind == DateTimeKind.Unspecified ? time : time.ToUniversalTime();
            case string text when DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed):
                return parsed.UtcDateTime;
            default:
                return null;
        }
    }
}
