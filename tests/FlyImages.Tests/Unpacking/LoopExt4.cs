using FlyImages.Processes;

namespace FlyImages.Tests.Unpacking;

/// <summary>A fresh ext4 file system on a loop device, mounted under a random folder; all undone on dispose.</summary>
internal sealed class LoopExt4 : IDisposable
{
    private readonly string image;
    private string? device;
    private bool mounted;

    public LoopExt4(long sizeBytes)
    {
        var id = Guid.NewGuid().ToString("N")[..12];
        image = Path.Combine(Path.GetTempPath(), $"flyimages-ext4-{id}.img");
        MountPoint = Path.Combine(Path.GetTempPath(), $"flyimages-ext4-{id}");
        try
        {
            using (var file = new FileStream(image, FileMode.CreateNew))
            {
                file.SetLength(sizeBytes);
            }

            Run("mkfs.ext4", "-q", "-F", "-E", "nodiscard,lazy_itable_init=0,lazy_journal_init=0", image);
            device = Run("losetup", "--find", "--show", image).Trim();
            Directory.CreateDirectory(MountPoint);
            Run("mount", "-t", "ext4", device, MountPoint);
            mounted = true;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string MountPoint { get; }

    public void Dispose()
    {
        if (mounted)
        {
            Run("umount", MountPoint);
            mounted = false;
        }

        if (device is not null)
        {
            Run("losetup", "-d", device);
            device = null;
        }

        if (Directory.Exists(MountPoint))
        {
            Directory.Delete(MountPoint);
        }

        File.Delete(image);
    }

    private static string Run(string file, params string[] args) =>
        ProcessRunner.RunCheckedAsync(file, args, TimeSpan.FromMinutes(2)).GetAwaiter().GetResult().StandardOutput;
}
