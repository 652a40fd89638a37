using FlyImages.Unpacking;
using Xunit;

namespace FlyImages.Tests.Unpacking;

public class SmokeTests
{
    [Fact]
    public void AppliesSimpleLayer()
    {
        using var box = new UnpackSandbox();
        var tar = new RawTar().Dir("etc/").File("etc/hello", "hi\n", 0x1ED).Symlink("etc/link", "/etc/hello").HardLink("etc/hard", "etc/hello").Fifo("run/fifo").CharDevice("dev/null").End();
        var result = box.Apply(tar.ToArray());
        Assert.Equal(6, result.Entries);
        Assert.Equal("hi\n", File.ReadAllText(box.PathOf("etc/hello")));
        Assert.Equal(1, result.DevicesSkipped);
        box.AssertCanariesUnchanged();
    }
}
