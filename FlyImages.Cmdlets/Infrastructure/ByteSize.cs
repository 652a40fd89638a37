using System.Globalization;

namespace FlyImages.Cmdlets.Infrastructure;

/// <summary>
/// Human units for byte counts (binary: KiB, MiB...), used by the format views. It lives in the cmdlet
/// assembly: PowerShell resolves type literals only in the default load context, and the core lives in
/// the module's own one.
/// </summary>
public static class ByteSize
{
    private static readonly string[] Units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

    public static string Format(long bytes)
    {
        if (bytes < 1024)
        {
            return bytes.ToString(CultureInfo.InvariantCulture) + " B";
        }

        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < Units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return value.ToString(value >= 100 ? "0" : value >= 10 ? "0.0" : "0.00", CultureInfo.InvariantCulture) + " " + Units[unit];
    }
}
