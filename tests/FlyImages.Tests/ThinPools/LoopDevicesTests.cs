using System.Runtime.CompilerServices;
using FlyImages.TestSupport;
using FlyImages.ThinPools.BlockFile;
using Xunit;
using P = FlyImages.Native.Libc.Pools;

namespace FlyImages.Tests.ThinPools;

/// <summary>
/// Loop devices attached in process (LOOP_CTL_GET_FREE + LOOP_CONFIGURE), on real loop devices: direct I/O when asked
/// for and the backing file's filesystem allows it, else buffered.
/// </summary>
public sealed class LoopDevicesTests : IDisposable
{
    private readonly string root = Path.Combine(Path.GetTempPath(), "flyimages-loop-" + Guid.NewGuid().ToString("N")[..8]);

    public LoopDevicesTests() => Directory.CreateDirectory(root);

    [Fact]
    public void The_ioctl_structures_have_the_kernels_sizes()
    {
        Assert.Equal(232, Unsafe.SizeOf<P.LoopInfo64>());
        Assert.Equal(304, Unsafe.SizeOf<P.LoopConfig>());
    }

    [SkippableFact]
    public async Task A_file_is_attached_once_and_found_again_by_its_backing_file()
    {
        Requirements.RequireLoopDevices();
        var file = NewFile("a.img", 8 << 20);

        var first = await LoopDevices.FindOrAttachAsync(file, TimeSpan.FromSeconds(30), CancellationToken.None);
        var again = await LoopDevices.FindOrAttachAsync(file, TimeSpan.FromSeconds(30), CancellationToken.None);

        Assert.Equal(first, again);
        Assert.Equal(file, first.BackingFile);
        Assert.Single(LoopDevices.FindByBackingFile(file));
        Assert.Equal(8L << 20, long.Parse(Sysfs(first.Name, "size"), System.Globalization.CultureInfo.InvariantCulture) * 512);
        Assert.Equal("0", Sysfs(first.Name, "ro"));

        await LoopDevices.DetachAsync(first, CancellationToken.None);
        Assert.Empty(LoopDevices.FindByBackingFile(file));
    }

    [SkippableFact]
    public async Task Many_files_attached_at_once_each_get_their_own_device()
    {
        Requirements.RequireLoopDevices();
        var files = Enumerable.Range(0, 8).Select(i => NewFile($"m{i}.img", 1 << 20)).ToArray();

        var loops = await Task.WhenAll(files.Select(f => Task.Run(() => LoopDevices.FindOrAttachAsync(f, TimeSpan.FromSeconds(30), CancellationToken.None))));

        Assert.Equal(files.Length, loops.Select(l => l.Name).Distinct().Count());
        Assert.Equal(files, loops.Select(l => l.BackingFile));
    }

    [SkippableFact]
    public async Task The_same_file_attached_from_many_threads_ends_with_one_device()
    {
        Requirements.RequireLoopDevices();
        var file = NewFile("same.img", 1 << 20);

        var loops = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => LoopDevices.FindOrAttachAsync(file, TimeSpan.FromSeconds(30), CancellationToken.None))));

        var kept = Assert.Single(LoopDevices.FindByBackingFile(file));
        Assert.All(loops, l => Assert.Equal(kept.Name, l.Name));
    }

    [SkippableTheory]
    [InlineData(true, "1")]
    [InlineData(false, "0")]
    public async Task A_file_on_a_disk_filesystem_is_attached_with_direct_io_when_asked_for(bool directIo, string shown)
    {
        Requirements.RequireLoopDevices();
        var file = NewFile("disk.img", 64 << 20);

        var loop = await LoopDevices.FindOrAttachAsync(file, TimeSpan.FromSeconds(30), CancellationToken.None, directIo);

        Assert.Equal(shown, Sysfs(loop.Name, "loop/dio"));
        await WriteAndReadBackAsync(loop);
        await LoopDevices.DetachAsync(loop, CancellationToken.None);
    }

    [SkippableFact]
    public async Task A_file_on_a_filesystem_without_direct_io_is_attached_buffered()
    {
        Requirements.RequireLoopDevices();
        var ramfs = Path.Combine(root, "ramfs");
        Directory.CreateDirectory(ramfs);
        var mount = await FlyImages.Processes.ProcessRunner.RunAsync("mount", ["-t", "ramfs", "flyimages-test", ramfs], TimeSpan.FromSeconds(30));
        Skip.IfNot(mount.Succeeded, $"ramfs (a filesystem without O_DIRECT) cannot be mounted here: {mount.StandardError.Trim()}");
        try
        {
            var file = NewFile("ramfs/ram.img", 16 << 20);
            var loop = await LoopDevices.FindOrAttachAsync(file, TimeSpan.FromSeconds(30), CancellationToken.None, directIo: true);
            try
            {
                Assert.Equal("0", Sysfs(loop.Name, "loop/dio"));
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

    /// <summary>An attribute of a block device in sysfs (<c>/sys/block/NAME/ATTRIBUTE</c>), trimmed.</summary>
    internal static string Sysfs(string name, string attribute) => File.ReadAllText($"/sys/block/{name}/{attribute}").Trim();

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

    private string NewFile(string name, long size)
    {
        var path = Path.Combine(root, name);
        using (var stream = File.Create(path))
        {
            stream.SetLength(size);
        }

        return path;
    }

    public void Dispose()
    {
        foreach (var loop in LoopDevices.List().Where(l => l.BackingFile.StartsWith(root + "/", StringComparison.Ordinal)))
        {
            try
            {
                LoopDevices.DetachAsync(loop, CancellationToken.None).GetAwaiter().GetResult();
            }
            catch (FlyImages.Errors.FlyException)
            {
                // reported by the test that left it
            }
        }

        Directory.Delete(root, recursive: true);
    }
}
