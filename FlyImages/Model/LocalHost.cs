namespace FlyImages.Model;

/// <summary>
/// This host's name as every output object carries it (<c>ComputerName</c>, PowerShell's convention), so results
/// gathered from many hosts stay unambiguous, also after remoting deserializes them. The kernel's host name
/// (<c>/proc/sys/kernel/hostname</c>, as <c>hostname</c> prints it), else .NET's machine name.
/// </summary>
public static class LocalHost
{
    private static readonly Lazy<string> Name = new(Read);

    /// <summary>The host name, read once per process.</summary>
    public static string ComputerName => Name.Value;

    private static string Read()
    {
        try
        {
            var name = File.ReadAllText("/proc/sys/kernel/hostname").Trim();
            if (name.Length > 0 && !name.Any(char.IsControl))
            {
                return name;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        return Environment.MachineName;
    }
}
