using FlyImages.Processes;
using FlyImages.ThinPools.BlockFile;

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
            // the error that made the file system unusable is the one to see, not a clean-up error after it
            _ = Release();
            throw;
        }
    }

    public string MountPoint { get; }

    /// <summary>The image file behind the device.</summary>
    internal string ImagePath => image;

    /// <summary>The loop device, until it is detached.</summary>
    internal string? Device => device;

    /// <summary>Undoes every step it can, each even when one before failed; then throws the first clean-up error.</summary>
    public void Dispose()
    {
        if (Release() is { } first)
        {
            throw new IOException($"cleaning up the test file system {MountPoint} failed: {first.Message}", first);
        }
    }

    /// <summary>Best effort: unmount, detach the device only while it still serves this image, delete; the first error.</summary>
    private Exception? Release()
    {
        Exception? first = null;
        void Step(Action action)
        {
            try
            {
                action();
            }
            catch (Exception e)
            {
                first ??= e;
            }
        }

        if (mounted)
        {
            Step(() => Run("umount", MountPoint));
            mounted = false;
        }

        if (device is not null)
        {
            // by backing file, as FlyImages detaches its own: a number freed by someone else may serve another test's
            // file by now, and that one is left alone
            Step(() =>
            {
                foreach (var loop in LoopDevices.FindByBackingFile(image))
                {
                    LoopDevices.DetachAsync(loop, CancellationToken.None).GetAwaiter().GetResult();
                }
            });
            device = null;
        }

        Step(() =>
        {
            if (Directory.Exists(MountPoint))
            {
                Directory.Delete(MountPoint);
            }
        });
        Step(() => File.Delete(image));
        return first;
    }

    private static string Run(string file, params string[] args) =>
        ProcessRunner.RunCheckedAsync(file, args, TimeSpan.FromMinutes(2)).GetAwaiter().GetResult().StandardOutput;
}
