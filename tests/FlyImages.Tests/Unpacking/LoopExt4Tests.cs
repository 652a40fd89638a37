using FlyImages.Processes;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Tests.Unpacking;

/// <summary>The test helper's own clean-up, which once hid a test's error and left its image in /tmp.</summary>
[Collection(UnpackingCollection.Name)]
[Trait(Requirements.Category, Requirements.RootOnly)]
public sealed class LoopExt4Tests
{
    [SkippableFact]
    public async Task A_file_system_whose_device_is_already_gone_is_still_cleaned_up_and_the_first_error_is_reported()
    {
        Requirements.RequireLoopDevices();
        var fs = new LoopExt4(64L << 20);
        var device = fs.Device!;

        // as a failed test can leave it: unmounted and detached behind the helper's back
        await ProcessRunner.RunCheckedAsync("umount", [fs.MountPoint], TimeSpan.FromMinutes(1));
        await ProcessRunner.RunCheckedAsync("losetup", ["-d", device], TimeSpan.FromMinutes(1));

        var error = Assert.Throws<IOException>(fs.Dispose);

        Assert.Contains("umount", error.InnerException!.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(fs.MountPoint));
        Assert.False(File.Exists(fs.ImagePath));
    }
}
