using FlyImages.TestSupport;
using FlyImages.ThinPools.BlockFile;
using Xunit;

namespace FlyImages.Tests.ThinPools;

/// <summary>
/// The test folders' teardown (TempDirectory) detaches what a failed test left attached under the folder, and nothing
/// else: it checks a device's backing file while holding the device open exclusively, not by a name listed earlier
/// (which another test's attach may have taken meanwhile, as one CI run showed).
/// </summary>
public sealed class TempDirectoryTeardownTests
{
    [SkippableFact]
    public async Task A_test_folder_detaches_the_loop_devices_of_its_own_files_and_leaves_others_attached()
    {
        Requirements.RequireLoopDevices();
        using var other = new TempDirectory("flyimages-keep");
        var keptFile = NewFile(other.Combine("kept.img"));
        var kept = await LoopDevices.FindOrAttachAsync(keptFile, TimeSpan.FromSeconds(30), CancellationToken.None);
        try
        {
            var folder = new TempDirectory("flyimages-teardown");
            var file = NewFile(folder.Combine("left.img"));
            var left = await LoopDevices.FindOrAttachAsync(file, TimeSpan.FromSeconds(30), CancellationToken.None);

            folder.Dispose();

            Assert.False(Directory.Exists(folder.Path));
            Assert.DoesNotContain(LoopDevices.List(), l => l.Name == left.Name && l.BackingFile == file);
            Assert.Equal([kept], LoopDevices.FindByBackingFile(keptFile));
        }
        finally
        {
            await LoopDevices.DetachAsync(kept, CancellationToken.None);
        }
    }

    private static string NewFile(string path)
    {
        using var stream = new FileStream(path, FileMode.CreateNew);
        stream.SetLength(4 << 20);
        return path;
    }
}
