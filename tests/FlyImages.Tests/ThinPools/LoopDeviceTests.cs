using FlyImages.TestSupport;
using FlyImages.ThinPools.BlockFile;
using Xunit;

namespace FlyImages.Tests.ThinPools;

/// <summary>Loop devices attached in process: direct I/O when asked for and the backing file's filesystem allows it, else buffered.</summary>
[Trait(Requirements.Category, Requirements.RootOnly)]
public sealed class LoopDeviceTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("flyimages-loop-").FullName;

    [SkippableTheory]
    [InlineData(true, "1")]
    [InlineData(false, "0")]
    public async Task AFileOnADiskFilesystemIsAttachedWithDirectIoWhenAskedFor(bool directIo, string shown)
    {
        Requirements.RequireLoopDevices();
        var file = Path.Combine(root, "disk.img");
        using (var stream = File.Create(file))
        {
            stream.SetLength(64L << 20);
        }

        var loop = await LoopDevices.FindOrAttachAsync(file, TimeSpan.FromSeconds(30), CancellationToken.None, directIo);
        try
        {
            Assert.Equal(shown, DirectIo(loop));
            await WriteAndReadBackAsync(loop);
        }
        finally
        {
            await LoopDevices.DetachAsync(loop, CancellationToken.None);
        }
    }

    [SkippableFact]
    public async Task AFileOnAFilesystemWithoutDirectIoIsAttachedBuffered()
    {
        Requirements.RequireLoopDevices();
        var ramfs = Path.Combine(root, "ramfs");
        Directory.CreateDirectory(ramfs);
        var mount = await FlyImages.Processes.ProcessRunner.RunAsync("mount", ["-t", "ramfs", "flyimages-test", ramfs], TimeSpan.FromSeconds(30));
        Skip.IfNot(mount.Succeeded, $"ramfs (a filesystem without O_DIRECT) cannot be mounted here: {mount.StandardError.Trim()}");
        try
        {
            var file = Path.Combine(ramfs, "ram.img");
            using (var stream = File.Create(file))
            {
                stream.SetLength(16L << 20);
            }

            var loop = await LoopDevices.FindOrAttachAsync(file, TimeSpan.FromSeconds(30), CancellationToken.None, directIo: true);
            try
            {
                Assert.Equal("0", DirectIo(loop));
                await WriteAndReadBackAsync(loop);
            }
            finally
            {
                await LoopDevices.DetachAsync(loop, CancellationToken.None);
            }
        }
        finally
        {
            await FlyImages.Processes.ProcessRunner.RunAsync("umount", [ramfs], TimeSpan.FromSeconds(30));
        }
    }

    public void Dispose() => Directory.Delete(root, recursive: true);

    private static string DirectIo(LoopDevice loop) => File.ReadAllText($"/sys/block/{loop.Name}/loop/dio").Trim();

    private static async Task WriteAndReadBackAsync(LoopDevice loop)
    {
        var block = new byte[1 << 20];
        Random.Shared.NextBytes(block);
        await using (var device = new FileStream(loop.Path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 0))
        {
            device.Position = 4096;
            await device.WriteAsync(block);
            device.Flush(flushToDisk: true);
        }

        var back = new byte[block.Length];
        await using (var device = new FileStream(loop.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 0))
        {
            device.Position = 4096;
            await device.ReadExactlyAsync(back);
        }

        Assert.Equal(block, back);
    }
}
