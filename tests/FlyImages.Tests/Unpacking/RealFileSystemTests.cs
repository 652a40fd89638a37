using System.Diagnostics;
using FlyImages.TestSupport;
using FlyImages.Unpacking;
using Xunit;

namespace FlyImages.Tests.Unpacking;

/// <summary>The unpacker onto a real ext4 file system on a loop device (root only).</summary>
[Collection(UnpackingCollection.Name)]
[Trait(Requirements.Category, Requirements.RootOnly)]
public class RealFileSystemTests
{
    private static readonly byte[] Capability = Convert.FromHexString("0100000200200000000000000000000000000000");

    [SkippableFact]
    public void StackAndAttacksOnExt4()
    {
        Requirements.RequireLoopDevices();
        using var fs = new LoopExt4(128L << 20);
        var dest = Path.Combine(fs.MountPoint, "rootfs");
        var canary = Path.Combine(fs.MountPoint, "canary");
        Directory.CreateDirectory(canary);
        File.WriteAllText(Path.Combine(canary, "secret"), "canary");
        var canaryBefore = TreeSnapshot.Take(canary);

        LayerUnpacker.Apply(new MemoryStream(new RawTar()
            .Dir("usr/").Dir("usr/bin/").Entry("usr/bin/su", '0', "su"u8.ToArray(), 0x9ED).Symlink("bin", "usr/bin")
            .Symlink("escape", "../canary").Fifo("run/fifo").Dir("var/lib/").File("var/lib/lower", "l")
            .End().ToArray()), dest);
        var result = LayerUnpacker.Apply(new MemoryStream(LayerBuilders.Gzip(new RawTar()
            .Pax(("SCHILY.xattr.security.capability", Capability)).Entry("usr/bin/ping", '0', "ping"u8.ToArray(), 0x1ED)
            .File("var/lib/.wh..wh..opq", "").File("var/lib/upper", "u").File("run/fifo", "file now")
            .End().ToArray())), dest);

        Assert.Equal(1, result.XattrsApplied);
        Assert.Empty(result.Warnings);
        Assert.Equal(string.Join("\n",
            "bin l 777 0:0 -> usr/bin",
            "escape l 777 0:0 -> ../canary",
            "run d 755 0:0",
            "run/fifo f 644 0:0 'file now'",
            "usr d 755 0:0",
            "usr/bin d 755 0:0",
            "usr/bin/ping f 755 0:0 'ping' security.capability=" + Convert.ToHexString(Capability),
            "usr/bin/su f 4755 0:0 'su'",
            "var d 755 0:0",
            "var/lib d 755 0:0",
            "var/lib/upper f 644 0:0 'u'"), TreeSnapshot.Listing(dest));

        var e = Assert.Throws<FlyImages.Errors.FlyException>(() => LayerUnpacker.Apply(new MemoryStream(new RawTar().File("escape/secret", "pwned").End().ToArray()), dest));
        Assert.Equal(FlyImages.Errors.ErrorIds.LayerRejectedTraversal, e.ErrorId);
        Assert.Equal(canaryBefore, TreeSnapshot.Take(canary));
    }

    [SkippableFact]
    public void MatchesGnuTarOnExt4()
    {
        Requirements.RequireLoopDevices();
        Skip.IfNot(File.Exists("/usr/bin/tar") && Directory.Exists("/usr/share/doc"), "needs GNU tar and /usr/share/doc");
        using var ours = new LoopExt4(256L << 20);
        using var theirs = new LoopExt4(256L << 20);
        var archive = Path.Combine(Path.GetTempPath(), $"flyimages-real-{Guid.NewGuid():N}.tar");
        try
        {
            Run("/usr/bin/tar", "--xattrs", "--format=pax", "-cf", archive, "-C", "/", "usr/share/doc", "usr/share/common-licenses");
            Run("/usr/bin/tar", "--same-owner", "-p", "--xattrs", "-xf", archive, "-C", theirs.MountPoint);
            LayerUnpacker.Apply(archive, ours.MountPoint);

            // usr and usr/share are not in the archive: both tools create them on the fly, at different times
            foreach (var folder in new[] { "usr/share/doc", "usr/share/common-licenses" })
            {
                Assert.Equal(TreeSnapshot.Take(Path.Combine(theirs.MountPoint, folder)), TreeSnapshot.Take(Path.Combine(ours.MountPoint, folder)));
            }
        }
        finally
        {
            File.Delete(archive);
        }
    }

    private static void Run(string file, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true })!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{file} failed: {error}");
    }
}
