using System.Diagnostics;
using System.Text;
using FlyImages.Unpacking;
using Xunit;

namespace FlyImages.Tests.Unpacking;

/// <summary>OCI layer semantics: stacks of layers with whiteouts and opaque folders against an expected tree.</summary>
[Collection(UnpackingCollection.Name)]
public class OciSemanticsTests
{
    private static readonly byte[] Capability = Convert.FromHexString("0100000200200000000000000000000000000000");

    [Fact]
    public void ThreeLayerStackGivesTheExpectedTree()
    {
        using var box = new UnpackSandbox();
        var layer1 = new RawTar()
            .Dir("etc/").File("etc/passwd", "root:x:0:0\n").File("etc/old", "old").Dir("etc/olddir/").File("etc/olddir/x", "x")
            .Dir("usr/").Dir("usr/bin/").Entry("usr/bin/app", '0', Encoding.UTF8.GetBytes("app"), 0x9ED /* 4755 */)
            .Entry("usr/bin/tool", '0', Encoding.UTF8.GetBytes("tool"), 0x5ED /* 2755 */, gid: 50)
            .HardLink("usr/bin/app2", "usr/bin/app").Symlink("bin", "usr/bin")
            .Dir("usr/lib/").Dir("usr/lib/keep/").File("usr/lib/keep/lowerfile", "lower").File("usr/lib/gone", "gone")
            .Dir("tmp/", 0x3FF /* 1777 */).Dir("var/").Dir("var/cache/").File("var/cache/a", "a").Dir("var/cache/sub/").File("var/cache/sub/b", "b")
            .Dir("run/").Fifo("run/initctl", 0x180)
            .Dir("home/").Dir("home/u/", 0x1C0, 1000, 1000).File("home/u/f", "mine", 0x180, 1000, 1000)
            .End().ToArray();
        var layer2 = new RawTar()
            .File("etc/.wh.old", "").File("etc/.wh.olddir", "")
            .File("var/cache/new", "added before the marker")
            .File("var/cache/.wh..wh..opq", "")
            .File("var/cache/new2", "added after the marker")
            .File("etc/passwd", "root:x:0:0\nu:x:1000:1000\n")
            .Pax(("SCHILY.xattr.security.capability", Capability)).Entry("usr/bin/ping", '0', Encoding.UTF8.GetBytes("ping"), 0x1ED)
            .Pax(("SCHILY.xattr.user.note", Encoding.UTF8.GetBytes("hello"))).Dir("etc/noted/")
            .File("etc/same", "same layer").File("etc/.wh.same", "")
            .End().ToArray();
        var layer3 = new RawTar()
            .Dir("usr/lib/").File("usr/lib/.wh..wh..opq", "").Dir("usr/lib/keep/").File("usr/lib/keep/newfile", "new")
            .File(".wh.run", "")
            .End().ToArray();

        var r1 = box.Apply(layer1);
        var r2 = box.Apply(layer2);
        var r3 = box.Apply(layer3);

        var expected = string.Join("\n",
            "bin l 777 0:0 -> usr/bin",
            "etc d 755 0:0",
            "etc/noted d 755 0:0 user.note=68656C6C6F",
            "etc/passwd f 644 0:0 'root:x:0:0\nu:x:1000:1000\n'",
            "etc/same f 644 0:0 'same layer'",
            "home d 755 0:0",
            "home/u d 700 1000:1000",
            "home/u/f f 600 1000:1000 'mine'",
            "tmp d 1777 0:0",
            "usr d 755 0:0",
            "usr/bin d 755 0:0",
            "usr/bin/app f 4755 0:0 'app'",
            "usr/bin/app2 f 4755 0:0 'app'",
            "usr/bin/ping f 755 0:0 'ping' security.capability=" + Convert.ToHexString(Capability),
            "usr/bin/tool f 2755 0:50 'tool'",
            "usr/lib d 755 0:0",
            "usr/lib/keep d 755 0:0",
            "usr/lib/keep/newfile f 644 0:0 'new'",
            "var d 755 0:0",
            "var/cache d 755 0:0",
            "var/cache/new f 644 0:0 'added before the marker'",
            "var/cache/new2 f 644 0:0 'added after the marker'");
        Assert.Equal(expected, TreeSnapshot.Listing(box.Destination));

        Assert.Equal(1, r1.HardLinks);
        Assert.Equal(1, r1.Fifos);
        Assert.Equal(3, r2.WhiteoutsApplied);
        Assert.Equal(1, r2.OpaqueDirectories);
        Assert.Equal(6, r2.LowerEntriesRemoved); // etc/old, etc/olddir + x, var/cache/a, var/cache/sub + b
        Assert.Contains(r2.Skipped, s => s.Name == "etc/.wh.same");
        Assert.Equal(2, r2.XattrsApplied);
        Assert.Equal(1, r3.OpaqueDirectories);
        Assert.Equal(5, r3.LowerEntriesRemoved); // usr/lib/keep (listed after the marker: recreated) + lowerfile, usr/lib/gone, run + initctl
        var app = TreeSnapshot.Stat(box.PathOf("usr/bin/app"));
        Assert.Equal(2u, app.Nlink);
        Assert.Equal(app.Inode, TreeSnapshot.Stat(box.PathOf("usr/bin/app2")).Inode);
        box.AssertCanariesUnchanged();
    }

    [Fact]
    public void FolderModesAndTimesAreAppliedAfterTheirContents()
    {
        using var box = new UnpackSandbox();
        var tar = new RawTar()
            .Dir("ro/", 0x16D /* 0555 */, mtime: 1_000_000_000).File("ro/f", "inside", mtime: 1_100_000_000)
            .Dir("ro/sub/", 0x1C0, mtime: 1_200_000_000).File("ro/sub/g", "deeper")
            .Symlink("ro/link", "f")
            .End().ToArray();
        box.Apply(tar);
        Assert.Equal(0x16Du, TreeSnapshot.Stat(box.PathOf("ro")).Mode & 0xFFF);
        Assert.Equal(1_000_000_000, TreeSnapshot.MtimeSeconds(box.PathOf("ro")));
        Assert.Equal(1_200_000_000, TreeSnapshot.MtimeSeconds(box.PathOf("ro/sub")));
        Assert.Equal(1_100_000_000, TreeSnapshot.MtimeSeconds(box.PathOf("ro/f")));
        Assert.Equal(1_600_000_000, TreeSnapshot.MtimeSeconds(box.PathOf("ro/link")));
    }

    [Fact]
    public void LaterDirectoryEntryUpdatesModeAndOwnerOfAnExistingFolder()
    {
        using var box = new UnpackSandbox();
        box.Apply(new RawTar().Dir("d/").File("d/keep", "k").End().ToArray());
        box.Apply(new RawTar().Dir("d/", 0x1E8 /* 0750 */, 7, 8).End().ToArray());
        Assert.Equal("d d 750 7:8\nd/keep f 644 0:0 'k'", TreeSnapshot.Listing(box.Destination));
    }

    [Theory]
    [InlineData("tar")]
    [InlineData("gzip")]
    [InlineData("zstd")]
    [InlineData("bzip2")]
    public void CompressedLayersAreDetectedFromTheirBytes(string kind)
    {
        using var box = new UnpackSandbox();
        var tar = new RawTar().Dir("a/").File("a/b", "content").Symlink("c", "a/b").End().ToArray();
        var bytes = kind switch
        {
            "gzip" => LayerBuilders.Gzip(tar),
            "zstd" => LayerBuilders.Zstd(tar),
            "bzip2" => LayerBuilders.Bzip2(tar),
            _ => tar,
        };
        var result = box.Apply(bytes);
        Assert.Equal(kind, result.Format.ToString().ToLowerInvariant());
        Assert.Equal("a d 755 0:0\na/b f 644 0:0 'content'\nc l 777 0:0 -> a/b", TreeSnapshot.Listing(box.Destination));
        Assert.Equal(bytes.Length, result.InputBytes);
    }

    [Theory]
    [InlineData(1024)]
    [InlineData(10240)]
    public void DockerEmptyLayerIsAccepted(int zeros)
    {
        using var box = new UnpackSandbox();
        var result = box.Apply(new byte[zeros]);
        Assert.Equal(0, result.Entries);
        Assert.Empty(Directory.EnumerateFileSystemEntries(box.Destination));
    }

    [Fact]
    public void LongNamesFromGnuPaxAndUstarPrefix()
    {
        using var box = new UnpackSandbox();
        var longDir = string.Join("/", Enumerable.Repeat("directory-with-a-long-name", 5));
        var tar = new RawTar()
            .GnuLong('L', longDir + "/gnu-file").File("truncated-gnu-name", "gnu")
            .Pax(("path", longDir + "/pax-file"), ("mtime", "1234567890.5")).File("truncated-pax-name", "pax")
            .File(longDir + "/ustar-file", "ustar")
            .GnuLong('K', longDir + "/gnu-file").Symlink("long-link", "ignored")
            .End().ToArray();
        box.Apply(tar);
        Assert.Equal("gnu", File.ReadAllText(box.PathOf(longDir + "/gnu-file")));
        Assert.Equal("pax", File.ReadAllText(box.PathOf(longDir + "/pax-file")));
        Assert.Equal("ustar", File.ReadAllText(box.PathOf(longDir + "/ustar-file")));
        Assert.Equal(longDir + "/gnu-file", new FileInfo(box.PathOf("long-link")).LinkTarget);
        Assert.Equal(1_234_567_890, TreeSnapshot.MtimeSeconds(box.PathOf(longDir + "/pax-file")));
    }

    [Fact]
    public void WhiteoutsOnlyHideLowerLayers()
    {
        using var box = new UnpackSandbox();
        box.Apply(new RawTar().Dir("d/").File("d/lower", "l").End().ToArray());
        var result = box.Apply(new RawTar().File("d/upper", "u").File("d/.wh.upper", "").File("d/.wh.lower", "").File("d/.wh.absent", "").End().ToArray());
        Assert.Equal("d d 755 0:0\nd/upper f 644 0:0 'u'", TreeSnapshot.Listing(box.Destination));
        Assert.Equal(3, result.WhiteoutsApplied);
        Assert.Equal(1, result.LowerEntriesRemoved);
    }

    [Fact]
    public void OpaqueRootKeepsOnlyThisLayer()
    {
        using var box = new UnpackSandbox();
        box.Apply(new RawTar().Dir("a/").File("a/x", "x").File("b", "b").End().ToArray());
        box.Apply(new RawTar().File("c", "c").File(".wh..wh..opq", "").Dir("a/").File("a/y", "y").End().ToArray());
        Assert.Equal("a d 755 0:0\na/y f 644 0:0 'y'\nc f 644 0:0 'c'", TreeSnapshot.Listing(box.Destination));
    }

    [Fact]
    public void MatchesGnuTarOnARealTree()
    {
        Skip.IfNot(File.Exists("/usr/bin/tar"), "GNU tar is not installed");
        using var box = new UnpackSandbox();
        var source = "/usr/share/doc";
        Skip.IfNot(Directory.Exists(source), "no /usr/share/doc to archive");
        var archive = Path.Combine(box.Root, "real.tar");
        Run("/usr/bin/tar", "--xattrs", "--format=pax", "-cf", archive, "-C", "/", "usr/share/doc", "usr/share/common-licenses");
        var gnu = Path.Combine(box.Root, "gnu");
        Directory.CreateDirectory(gnu);
        Run("/usr/bin/tar", "--same-owner", "-p", "--xattrs", "-xf", archive, "-C", gnu);
        var result = LayerUnpacker.Apply(archive, box.Destination);
        Assert.True(result.Entries > 100);

        // folders the archive does not list (usr, usr/share) are created on the fly by both: their times differ
        var ours = TreeSnapshot.Take(box.PathOf("usr/share/doc"));
        var theirs = TreeSnapshot.Take(Path.Combine(gnu, "usr/share/doc"));
        Assert.Equal(theirs, ours);
        File.Delete(archive);
        Directory.Delete(gnu, recursive: true);
    }

    private static void Run(string file, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true })!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{file} failed: {error}");
    }
}
