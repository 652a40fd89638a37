namespace FlyImages.TestSupport;

/// <summary>What a test can find left behind under a folder: mounts and attached loop devices.</summary>
public static class Leaks
{
    /// <summary>Lines of /proc/self/mountinfo that name a path under <paramref name="root"/>.</summary>
    public static List<string> MountsUnder(string root)
        => File.ReadAllLines("/proc/self/mountinfo").Where(l => l.Contains(root, StringComparison.Ordinal)).ToList();

    /// <summary>Mount points strictly below <paramref name="root"/> (from /proc/self/mountinfo, \040 unescaped), deepest first.</summary>
    public static List<string> MountPointsBelow(string root)
        => File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')).Where(p => p.Length > 4)
            .Select(p => p[4].Replace("\\040", " ", StringComparison.Ordinal))
            .Where(m => m.StartsWith(root + "/", StringComparison.Ordinal)).OrderByDescending(m => m.Length).ToList();

    /// <summary>Attached loop devices whose backing file lies under <paramref name="root"/>, as "loopN: file".</summary>
    public static List<string> LoopDevicesUnder(string root)
    {
        var found = new List<string>();
        foreach (var dir in Directory.GetDirectories("/sys/block", "loop*"))
        {
            var backing = Path.Combine(dir, "loop", "backing_file");
            if (File.Exists(backing) && File.ReadAllText(backing).Trim() is var file && file.StartsWith(root, StringComparison.Ordinal))
            {
                found.Add($"{Path.GetFileName(dir)}: {file}");
            }
        }

        return found;
    }
}
