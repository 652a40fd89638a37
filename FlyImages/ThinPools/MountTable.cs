using System.Globalization;
using System.Text;

namespace FlyImages.ThinPools;

/// <summary>One line of /proc/self/mountinfo.</summary>
internal sealed record MountEntry(int Major, int Minor, string MountPoint, string FileSystemType, string Source);

/// <summary>Reads /proc/self/mountinfo (mount points unescaped: \040 is a space).</summary>
internal static class MountTable
{
    public static IReadOnlyList<MountEntry> Read()
    {
        var entries = new List<MountEntry>();
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var parts = line.Split(' ');
            var dash = Array.IndexOf(parts, "-");
            if (parts.Length < 7 || dash < 6 || dash + 2 >= parts.Length)
            {
                continue;
            }

            var mm = parts[2].Split(':');
            if (mm.Length != 2 || !int.TryParse(mm[0], NumberStyles.None, CultureInfo.InvariantCulture, out var major)
                || !int.TryParse(mm[1], NumberStyles.None, CultureInfo.InvariantCulture, out var minor))
            {
                continue;
            }

            entries.Add(new MountEntry(major, minor, Unescape(parts[4]), parts[dash + 1], Unescape(parts[dash + 2])));
        }

        return entries;
    }

    /// <summary>Mounts of the block device <paramref name="major"/>:<paramref name="minor"/>.</summary>
    public static IReadOnlyList<MountEntry> OfDevice(int major, int minor) => Read().Where(e => e.Major == major && e.Minor == minor).ToList();

    /// <summary>Mount points at or below <paramref name="folder"/>.</summary>
    public static IReadOnlyList<string> Below(string folder)
    {
        var prefix = folder.TrimEnd('/') + "/";
        return Read().Select(e => e.MountPoint).Where(m => m == folder.TrimEnd('/') || m.StartsWith(prefix, StringComparison.Ordinal)).ToList();
    }

    public static bool IsMountPoint(string path) => Read().Any(e => e.MountPoint == path);

    private static string Unescape(string text)
    {
        if (!text.Contains('\\', StringComparison.Ordinal))
        {
            return text;
        }

        var bytes = new List<byte>(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\' && i + 3 < text.Length && IsOctal(text[i + 1]) && IsOctal(text[i + 2]) && IsOctal(text[i + 3]))
            {
                bytes.Add((byte)(((text[i + 1] - '0') << 6) | ((text[i + 2] - '0') << 3) | (text[i + 3] - '0')));
                i += 3;
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(text[i].ToString()));
            }
        }

        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';
}
