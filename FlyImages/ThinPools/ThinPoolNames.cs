using System.Globalization;
using System.Text.RegularExpressions;
using FlyImages.Errors;

namespace FlyImages.ThinPools;

/// <summary>
/// Names and ids: pool names are short and plain (they appear in dm names and folders); device names
/// are the caller's keys and only ever live in the store; dm device names are built from the pool
/// name and the numeric id alone.
/// </summary>
public static partial class ThinPoolNames
{
    /// <summary>The largest id a thin device can have (24 bits).</summary>
    public const int MaxDeviceId = (1 << 24) - 1;

    public const int MaxDeviceNameLength = 512;

    /// <summary>Throws ThinPoolNameInvalid unless <paramref name="name"/> is 1-48 characters of [A-Za-z0-9_.+-], starting with a letter or digit.</summary>
    public static string ValidatePool(string? name)
    {
        if (name is null || !PoolPattern().IsMatch(name))
        {
            throw new FlyException(ErrorIds.ThinPoolNameInvalid, FlyErrorCategory.InvalidArgument,
                $"The pool name '{Printable(name)}' is not valid: use 1-48 characters of letters, digits, '_', '.', '+', '-', starting with a letter or digit.", name);
        }

        return name;
    }

    /// <summary>Throws ThinDeviceNameInvalid for empty, over-long or control-character names.</summary>
    public static string ValidateDevice(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxDeviceNameLength || name.Any(char.IsControl) || name.Trim().Length != name.Length)
        {
            throw new FlyException(ErrorIds.ThinDeviceNameInvalid, FlyErrorCategory.InvalidArgument,
                $"The device name '{Printable(name)}' is not valid: 1-{MaxDeviceNameLength} characters, no control characters, no leading or trailing spaces.", name);
        }

        return name;
    }

    /// <summary>The dm name of a thin device: <c>flyimages-&lt;pool&gt;-&lt;id&gt;</c>.</summary>
    public static string DmDeviceName(string pool, int deviceId)
    {
        ValidatePool(pool);
        if (deviceId is < 1 or > MaxDeviceId)
        {
            throw new ArgumentOutOfRangeException(nameof(deviceId), deviceId, "A thin device id is 1..2^24-1.");
        }

        return $"flyimages-{pool}-{deviceId.ToString(CultureInfo.InvariantCulture)}";
    }

    /// <summary>The id in a dm name of <paramref name="pool"/>'s devices, or null when the name is not one of them.</summary>
    public static int? ParseDmDeviceName(string pool, string dmName)
    {
        var prefix = $"flyimages-{pool}-";
        if (!dmName.StartsWith(prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var rest = dmName[prefix.Length..];
        return rest.Length is > 0 and <= 8 && rest.All(char.IsAsciiDigit) && rest[0] != '0'
            && int.TryParse(rest, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id <= MaxDeviceId ? id : null;
    }

    internal static string Printable(string? text)
    {
        if (text is null)
        {
            return "(null)";
        }

        var clipped = text.Length > 80 ? text[..80] + "..." : text;
        return string.Concat(clipped.Select(c => char.IsControl(c) ? $"\\x{(int)c:x2}" : c.ToString()));
    }

    [GeneratedRegex(@"\A[A-Za-z0-9][A-Za-z0-9_.+-]{0,47}\z")]
    private static partial Regex PoolPattern();
}
