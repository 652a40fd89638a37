using FlyImages.Operations;

namespace FlyImages.Health;

/// <summary>Facts about this host read from /proc and /etc: one place, so every output names the host the same way.</summary>
public static class HostFacts
{
    /// <summary>The host name every output carries as ComputerName (the kernel's hostname, as leases record it).</summary>
    public static string ComputerName => ProcessIdentity.Current.Host;

    /// <summary>/etc/machine-id, else /var/lib/dbus/machine-id; null when neither exists.</summary>
    public static string? MachineId()
        => ReadFirstLine("/etc/machine-id") is { Length: > 0 } id ? id : ReadFirstLine("/var/lib/dbus/machine-id") is { Length: > 0 } dbus ? dbus : null;

    /// <summary>The kernel release, else the OS description.</summary>
    public static string KernelRelease() => ReadFirstLine("/proc/sys/kernel/osrelease") ?? Environment.OSVersion.VersionString;

    /// <summary>The first line of a small text file, trimmed; null when it cannot be read. Reads at most 4 KiB.</summary>
    internal static string? ReadFirstLine(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.None);
            var buffer = new byte[4096];
            var read = stream.Read(buffer, 0, buffer.Length);
            var text = System.Text.Encoding.UTF8.GetString(buffer, 0, read);
            var line = text.Split('\n')[0].Trim();
            return line.Any(char.IsControl) ? null : line;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
