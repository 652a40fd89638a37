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
                DetachIfStillUnder(loop.Split(':')[0]);
            }
        }
    }

    /// <summary>
    /// Detaches loop device <paramref name="name"/> only if, while held open exclusively, it still serves a file under
    /// this folder. By name alone (`losetup -d` of a name listed a moment ago) it may by then serve another test's file:
    /// ours can have been detached meanwhile and the free number taken by another attach (a test of another class
    /// running in parallel). The exclusive open keeps the device from being configured again until it is closed.
    /// </summary>
    private void DetachIfStillUnder(string name)
    {
        var fd = Open("/dev/" + name, O_RDONLY | O_EXCL | O_CLOEXEC);
        if (fd < 0)
        {
            return; // gone, or mounted or held: the unmounts of the next round may free it
        }

        try
        {
            var backing = System.IO.Path.Combine("/sys/block", name, "loop", "backing_file");
            if (File.Exists(backing) && File.ReadAllText(backing).Trim().StartsWith(Path + "/", StringComparison.Ordinal))
            {
                _ = Ioctl(fd, LOOP_CLR_FD, 0);
            }
        }
        catch (IOException)
        {
            // unbound while we looked: nothing to detach
        }
        finally
        {
            _ = Close(fd);
        }
    }

    private const int O_RDONLY = 0;
    private const int O_EXCL = 0x80;
    private const int O_CLOEXEC = 0x80000;
    private const ulong LOOP_CLR_FD = 0x4C01;

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static extern int Ioctl(int fd, ulong request, ulong argument);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int Close(int fd);

    [DllImport("libc", EntryPoint = "umount2", SetLastError = true)]
    private static extern int Umount2([MarshalAs(UnmanagedType.LPUTF8Str)] string target, int flags);
}
