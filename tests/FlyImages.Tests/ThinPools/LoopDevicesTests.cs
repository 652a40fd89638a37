using System.Runtime.CompilerServices;
using FlyImages.TestSupport;
using FlyImages.ThinPools.BlockFile;
using Xunit;
using P = FlyImages.Native.Libc.Pools;

namespace FlyImages.Tests.ThinPools;

/// <summary>Loop devices attached in process (LOOP_CTL_GET_FREE + LOOP_CONFIGURE), on real loop devices.</summary>
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
        Assert.Equal(8L << 20, long.Parse(File.ReadAllText($"/sys/block/{first.Name}/size").Trim(), System.Globalization.CultureInfo.InvariantCulture) * 512);
        Assert.Equal("0", File.ReadAllText($"/sys/block/{first.Name}/ro").Trim());

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
