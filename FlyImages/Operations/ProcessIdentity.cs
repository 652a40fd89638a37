using System.Globalization;

namespace FlyImages.Operations;

/// <summary>
/// Who a process is, in a way that survives pid reuse: host name, the kernel's boot id, the pid and
/// the process start time (field 22 of /proc/&lt;pid&gt;/stat, clock ticks since boot).
/// </summary>
public sealed record ProcessIdentity(string Host, string BootId, int Pid, long StartTicks)
{
    private static readonly Lazy<ProcessIdentity> CurrentIdentity = new(() =>
    {
        var pid = Environment.ProcessId;
        return new ProcessIdentity(HostName(), BootIdOfThisBoot(), pid, StartTicksOf(pid) ?? 0);
    });

    /// <summary>This process.</summary>
    public static ProcessIdentity Current => CurrentIdentity.Value;

    public override string ToString() => $"pid {Pid} on {Host}";

    /// <summary>
    /// Whether a process recorded on this host as <paramref name="owner"/> is certainly gone: the host
    /// rebooted, no such pid, a zombie, or the pid now belongs to a process started at another time.
    /// An owner on another host is never judged dead here (only its lease's expiry frees it).
    /// </summary>
    public static bool IsDeadOnThisHost(ProcessIdentity owner)
    {
        ArgumentNullException.ThrowIfNull(owner);
        var self = Current;
        if (!string.Equals(owner.Host, self.Host, StringComparison.Ordinal))
        {
            return false;
        }

        if (!string.Equals(owner.BootId, self.BootId, StringComparison.Ordinal))
        {
            return true;
        }

        return StartTicksOf(owner.Pid) is not { } ticks || ticks != owner.StartTicks;
    }

    /// <summary>The start time of <paramref name="pid"/> in clock ticks since boot; null when it does not run (or is a zombie).</summary>
    public static long? StartTicksOf(int pid)
    {
        if (pid <= 0)
        {
            return null;
        }

        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // "pid (comm) state ppid ..." — comm may hold spaces and parentheses: split after the last ')'
        var close = text.LastIndexOf(')');
        if (close < 0)
        {
            return null;
        }

        var fields = text[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // fields[0] is field 3 (state); starttime is field 22
        if (fields.Length < 20 || fields[0] is "Z" or "X" or "x")
        {
            return null;
        }

        return long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) ? ticks : null;
    }

    private static string HostName() => Model.LocalHost.ComputerName;

    private static string BootIdOfThisBoot()
    {
        try
        {
            return File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "unknown";
        }
    }
}
