using System.Diagnostics;
using System.Runtime.InteropServices;

namespace FlyImages.TestSupport;

/// <summary>
/// A folder with a random name, deleted on dispose. Whatever a test left mounted or attached under it
/// (a pool's own filesystem, a chain mount of a failed test) is unmounted and detached first, so
/// the delete never runs into a mounted filesystem and nothing outlives the test run.
/// </summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string? prefix = null)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix ?? "flyimages-test"}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public override string ToString() => Path;

    public void Dispose()
    {
        try
        {
            TearDownMountsAndLoops();
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // a busy mount or file left by a failed test: leave it for inspection
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private void TearDownMountsAndLoops()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/proc/self/mountinfo"))
        {
            return;
        }

        // devices' loops and chain mounts first, then the filesystems holding their files: repeat while it helps
        for (var round = 0; round < 3; round++)
        {
            var mounts = Leaks.MountPointsBelow(Path);
            var loops = Leaks.LoopDevicesUnder(Path);
            if (mounts.Count == 0 && loops.Count == 0)
            {
                return;
            }

            foreach (var mount in mounts)
            {
                _ = Umount2(mount, 0);
            }

            foreach (var loop in loops)
            {
                using var losetup = Process.Start(new ProcessStartInfo("losetup", ["-d", "/dev/" + loop.Split(':')[0]]) { RedirectStandardError = true, RedirectStandardOutput = true });
                losetup?.WaitForExit(10_000);
            }
        }
    }

    [DllImport("libc", EntryPoint = "umount2", SetLastError = true)]
    private static extern int Umount2([MarshalAs(UnmanagedType.LPUTF8Str)] string target, int flags);
}
