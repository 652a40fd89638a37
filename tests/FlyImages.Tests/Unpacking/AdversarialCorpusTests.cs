using System.Text;
using FlyImages.Errors;
using FlyImages.Unpacking;
using Xunit;

namespace FlyImages.Tests.Unpacking;

/// <summary>
/// The adversarial corpus: each case is a hostile layer (or stack of layers) built here byte by
/// byte, applied to a fresh destination with a canary tree beside it and another under an absolute
/// path the archive aims at. Every case asserts the exact outcome (rejected with which id, or
/// contained with which result) and that both canaries are byte-for-byte unchanged. Each case runs
/// twice: with openat2 resolution and with the per-component O_NOFOLLOW walk of older kernels.
/// </summary>
[Collection(UnpackingCollection.Name)]
public class AdversarialCorpusTests
{
    /// <summary>An attack: the layers to apply in order (all but the last must apply), then the expected id (null: applied) and checks.</summary>
    private sealed record Attack(Func<UnpackSandbox, byte[][]> Layers, string? ExpectedId, Action<UnpackSandbox, LayerApplyResult?>? Check = null, UnpackLimits? Limits = null);

    private static readonly Dictionary<string, Attack> Attacks = new()
    {
        ["dotdot-file"] = new(b => [Tar().File("../canary/secret", "pwned").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["dotdot-in-middle"] = new(b => [Tar().File("a/../../canary/secret", "pwned").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["dotdot-dir"] = new(b => [Tar().Dir("../canary/sub/").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["absolute-name"] = new(b => [Tar().File(b.AbsoluteCanary + "/secret", "pwned").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["absolute-dir"] = new(b => [Tar().Dir(b.AbsoluteCanary + "/new/").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["pax-path-traversal"] = new(b => [Tar().Pax(("path", "../canary/secret")).File("innocent", "pwned").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["pax-path-absolute"] = new(b => [Tar().Pax(("path", b.AbsoluteCanary + "/secret")).File("innocent", "pwned").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["gnu-longname-traversal"] = new(b => [Tar().GnuLong('L', "../" + new string('a', 120) + "/../canary/secret").File("innocent", "pwned").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["gnu-longlink-hardlink-outside"] = new(b => [Tar().GnuLong('K', "../canary/" + new string('b', 120)).HardLink("h", "innocent").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["pax-linkpath-hardlink-outside"] = new(b => [Tar().Pax(("linkpath", "../canary/secret")).HardLink("h", "innocent").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["symlink-then-write-through"] = new(b => [Tar().Symlink("evil", "../canary").File("evil/secret", "pwned").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["absolute-symlink-then-write-through"] = new(b => [Tar().Symlink("evil", b.AbsoluteCanary).File("evil/secret", "pwned").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["symlink-then-mkdir-through"] = new(b => [Tar().Symlink("evil", b.AbsoluteCanary).Dir("evil/newdir/").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["symlink-then-symlink-through"] = new(b => [Tar().Symlink("evil", "../canary").Symlink("evil/sub", "/").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["lower-layer-symlink-parent"] = new(b => [Tar().Symlink("etc", b.AbsoluteCanary).End().ToArray(), Tar().File("etc/secret", "pwned").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["lower-layer-symlink-deep-parent"] = new(b => [Tar().Dir("usr/").Symlink("usr/lib", "../../canary").End().ToArray(), Tar().File("usr/lib/sub/file", "pwned").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["symlink-chain"] = new(b => [Tar().Symlink("a", "b").Symlink("b", "c").Symlink("c", "../canary").File("a/secret", "pwned").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["symlink-loop"] = new(b => [Tar().Symlink("a", "b").Symlink("b", "a").File("a/x", "pwned").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["symlink-replaced-by-file"] = new(b => [Tar().Symlink("x", "../canary/secret").File("x", "contained").End().ToArray()], null,
            (b, r) => { Assert.Equal("contained", File.ReadAllText(b.PathOf("x"))); Assert.StartsWith("f ", TreeSnapshot.Describe(b.PathOf("x"))); }),
        ["absolute-symlink-replaced-by-file"] = new(b => [Tar().Symlink("x", b.AbsoluteCanary + "/secret").End().ToArray(), Tar().File("x", "contained").End().ToArray()], null,
            (b, r) => Assert.Equal("contained", File.ReadAllText(b.PathOf("x")))),
        ["symlink-target-stored-not-followed"] = new(b => [Tar().Symlink("bin/sh", b.AbsoluteCanary + "/secret").Symlink("up", "../../../..").End().ToArray()], null,
            (b, r) => { Assert.Equal(b.AbsoluteCanary + "/secret", new FileInfo(b.PathOf("bin/sh")).LinkTarget); Assert.Equal(2, r!.Symlinks); }),
        ["hardlink-dotdot"] = new(b => [Tar().HardLink("h", "../canary/secret").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["hardlink-absolute"] = new(b => [Tar().HardLink("h", b.AbsoluteCanary + "/secret").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["hardlink-through-symlink"] = new(b => [Tar().Symlink("s", "../canary").HardLink("h", "s/secret").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["hardlink-to-symlink-outside"] = new(b => [Tar().Symlink("s", b.AbsoluteCanary + "/secret").HardLink("h", "s").End().ToArray()], ErrorIds.LayerRejectedLink),
        ["hardlink-to-directory"] = new(b => [Tar().Dir("d/").HardLink("h", "d").End().ToArray()], ErrorIds.LayerRejectedLink),
        ["hardlink-to-missing"] = new(b => [Tar().HardLink("h", "nothing-here").End().ToArray()], ErrorIds.LayerRejectedLink),
        ["hardlink-to-fifo"] = new(b => [Tar().Fifo("p").HardLink("h", "p").End().ToArray()], ErrorIds.LayerRejectedLink),
        ["hardlink-then-file-does-not-write-through"] = new(b => [Tar().File("f", "original").HardLink("h", "f").File("h", "replaced").End().ToArray()], null,
            (b, r) => { Assert.Equal("original", File.ReadAllText(b.PathOf("f"))); Assert.Equal("replaced", File.ReadAllText(b.PathOf("h"))); }),
        ["whiteout-dotdot"] = new(b => [Tar().File(".wh...", "").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["whiteout-dot"] = new(b => [Tar().File("a/.wh..", "").End().ToArray()], ErrorIds.LayerRejectedName),
        ["whiteout-parent-dotdot"] = new(b => [Tar().File("../canary/.wh.secret", "").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["whiteout-empty-name"] = new(b => [Tar().File(".wh.", "").End().ToArray()], ErrorIds.LayerRejectedName),
        ["whiteout-through-symlink"] = new(b => [Tar().Symlink("s", "../canary").File("s/.wh.secret", "").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["whiteout-through-lower-symlink"] = new(b => [Tar().Symlink("s", b.AbsoluteCanary).End().ToArray(), Tar().File("s/.wh.sub", "").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["opaque-through-symlink"] = new(b => [Tar().Symlink("s", b.AbsoluteCanary).End().ToArray(), Tar().File("s/.wh..wh..opq", "").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["whiteout-of-symlink-removes-link-only"] = new(b => [Tar().Symlink("s", b.AbsoluteCanary).End().ToArray(), Tar().File(".wh.s", "").End().ToArray()], null,
            (b, r) => { Assert.False(TreeSnapshot.Exists(b.PathOf("s"))); Assert.Equal(1, r!.LowerEntriesRemoved); }),
        ["whiteout-name-as-folder"] = new(b => [Tar().File(".wh.x/y", "z").End().ToArray()], ErrorIds.LayerRejectedName),
        ["devices-skipped"] = new(b => [Tar().CharDevice("dev/null").BlockDevice("dev/sda").End().ToArray()], null,
            (b, r) => { Assert.Equal(2, r!.DevicesSkipped); Assert.False(TreeSnapshot.Exists(b.PathOf("dev/null"))); Assert.False(TreeSnapshot.Exists(b.PathOf("dev/sda"))); }),
        ["device-inside-symlinked-folder"] = new(b => [Tar().Symlink("s", "../canary").CharDevice("s/null").BlockDevice("s/sda").End().ToArray()], null,
            (b, r) => { Assert.Equal(2, r!.DevicesSkipped); Assert.Equal(2, r.SkippedCount); }),
        ["fifo-then-file"] = new(b => [Tar().Fifo("p").File("p", "not blocked").End().ToArray()], null,
            (b, r) => Assert.Equal("not blocked", File.ReadAllText(b.PathOf("p")))),
        ["lower-fifo-then-file"] = new(b => [Tar().Fifo("p").End().ToArray(), Tar().File("p", "not blocked").End().ToArray()], null,
            (b, r) => Assert.Equal("not blocked", File.ReadAllText(b.PathOf("p")))),
        ["type-changes-file-dir-symlink"] = new(b => [Tar().File("x", "file").Dir("x/").File("x/y", "child").Symlink("x", "../canary").End().ToArray()], null,
            (b, r) => Assert.Equal("../canary", new FileInfo(b.PathOf("x")).LinkTarget)),
        ["type-changes-then-write-through"] = new(b => [Tar().Dir("x/").Symlink("x", "../canary").File("x/secret", "pwned").End().ToArray()], ErrorIds.LayerRejectedTraversal),
        ["lower-symlink-replaced-by-dir"] = new(b => [Tar().Symlink("d", "../canary").End().ToArray(), Tar().Dir("d/").File("d/secret", "contained").End().ToArray()], null,
            (b, r) => { Assert.StartsWith("d ", TreeSnapshot.Describe(b.PathOf("d"))); Assert.Equal("contained", File.ReadAllText(b.PathOf("d/secret"))); }),
        ["parent-is-a-file"] = new(b => [Tar().File("f", "x").File("f/child", "y").End().ToArray()], ErrorIds.LayerRejectedConflict),
        ["nul-in-pax-name"] = new(b => [Tar().Pax(("path", Encoding.UTF8.GetBytes("ok\0/../../canary/secret"))).File("innocent", "x").End().ToArray()], ErrorIds.LayerRejectedName),
        ["control-characters-contained"] = new(b => [Tar().File("a\nb\u0001c\u007f", "odd").End().ToArray()], null,
            (b, r) => Assert.Equal("odd", File.ReadAllText(b.PathOf("a\nb\u0001c\u007f")))),
        ["non-utf8-name-contained"] = new(b => [Tar().Entry("x", '0', Encoding.UTF8.GetBytes("raw"), rawName: [0xff, 0xfe, (byte)'n']).End().ToArray()], null,
            (b, r) => Assert.Equal(1, r!.Files)),
        ["deep-path-4000"] = new(b => [Tar().Pax(("path", string.Join("/", Enumerable.Repeat("d", 2000)))).File("x", "deep").End().ToArray()], ErrorIds.LayerRejectedLimit),
        ["deep-dirs-4000"] = new(b => [DeepDirs(4000)], ErrorIds.LayerRejectedLimit),
        ["long-component"] = new(b => [Tar().Pax(("path", new string('n', 300))).File("x", "y").End().ToArray()], ErrorIds.LayerRejectedName),
        ["path-too-long"] = new(b => [Tar().Pax(("path", string.Join("/", Enumerable.Repeat(new string('p', 200), 30)))).File("x", "y").End().ToArray()], ErrorIds.LayerRejectedLimit),
        ["huge-declared-size-short-data"] = new(b => [Tar().Entry("big", '0', Encoding.UTF8.GetBytes("short"), size: 1L << 30).ToArray()], ErrorIds.LayerTruncated),
        ["huge-declared-size-over-limit"] = new(b => [Tar().Entry("big", '0', null, mutate: h => { Array.Clear(h, 124, 12); h[124] = 0x80; h[130] = 0x10; }).End().ToArray()], ErrorIds.LayerRejectedLimit),
        ["pax-size-lies"] = new(b => [Tar().Pax(("size", "999999")).File("f", "tiny").End().ToArray()], ErrorIds.LayerTruncated),
        ["gzip-bomb"] = new(b => [LayerBuilders.ZeroFileLayer(256L << 20, s => new System.IO.Compression.GZipStream(s, System.IO.Compression.CompressionLevel.SmallestSize, leaveOpen: true))],
            ErrorIds.LayerRejectedLimit, Limits: new UnpackLimits { CompressionRatioGraceBytes = 8 << 20 }),
        ["zstd-bomb"] = new(b => [LayerBuilders.ZeroFileLayer(256L << 20, s => new ZstdSharp.CompressionStream(s, 19, leaveOpen: true))],
            ErrorIds.LayerRejectedLimit, Limits: new UnpackLimits { CompressionRatioGraceBytes = 8 << 20 }),
        ["total-bytes-limit"] = new(b => [Tar().File("a", new byte[3000]).File("b", new byte[3000]).End().ToArray()], ErrorIds.LayerRejectedLimit,
            Limits: new UnpackLimits { MaxTotalBytes = 5000 }),
        ["single-file-limit"] = new(b => [Tar().File("a", new byte[3000]).End().ToArray()], ErrorIds.LayerRejectedLimit, Limits: new UnpackLimits { MaxFileSize = 2999 }),
        ["entry-count-limit"] = new(b => [Many(50)], ErrorIds.LayerRejectedLimit, Limits: new UnpackLimits { MaxEntries = 40 }),
        ["xattr-count-limit"] = new(b => [Tar().Pax(Enumerable.Range(0, 200).Select(i => ($"SCHILY.xattr.user.a{i}", Encoding.UTF8.GetBytes("v"))).ToArray()).File("f", "x").End().ToArray()], ErrorIds.LayerRejectedLimit),
        ["xattr-size-limit"] = new(b => [Tar().Pax(("SCHILY.xattr.user.big", new byte[70_000])).File("f", "x").End().ToArray()], ErrorIds.LayerRejectedLimit),
        ["extended-header-limit"] = new(b => [Tar().Entry("PaxHeaders/x", 'x', null, size: 100L << 20, writeData: false).ToArray()], ErrorIds.LayerRejectedLimit),
        ["truncated-mid-data"] = new(b => [Tar().File("f", new byte[4096]).End().ToArray()[..2048]], ErrorIds.LayerTruncated),
        ["truncated-mid-header"] = new(b => [Tar().File("f", "x").File("g", "y").End().ToArray()[..1300]], ErrorIds.LayerTruncated),
        ["no-end-marker"] = new(b => [Tar().File("f", "x").ToArray()], ErrorIds.LayerTruncated),
        ["truncated-gzip"] = new(b => [LayerBuilders.Gzip(Tar().File("f", new byte[100_000]).End().ToArray())[..200]], ErrorIds.LayerTruncated),
        ["corrupt-gzip"] = new(b => [CorruptMiddle(LayerBuilders.Gzip(Many(200)))], ErrorIds.LayerFormatInvalid),
        ["empty-input"] = new(b => [[]], ErrorIds.LayerEmpty),
        ["garbage"] = new(b => [Enumerable.Range(0, 4096).Select(i => (byte)((i * 7919) ^ (i >> 3))).ToArray()], ErrorIds.LayerFormatUnsupported),
        ["bad-checksum-second-header"] = new(b => [Tar().File("f", "x").Entry("g", '0', Encoding.UTF8.GetBytes("y"), badChecksum: true).End().ToArray()], ErrorIds.LayerFormatInvalid),
        ["invalid-octal"] = new(b => [Tar().Entry("f", '0', null, mutate: h => h[100] = (byte)'9').End().ToArray()], ErrorIds.LayerFormatInvalid),
        ["hidden-entry-after-end-block"] = new(b => [Tar().File("f", "x").Raw(new byte[512]).File("hidden", "y").End().ToArray()], ErrorIds.LayerFormatInvalid),
        ["malformed-pax-record"] = new(b => [Tar().Entry("PaxHeaders/x", 'x', Encoding.UTF8.GetBytes("999 path=x\n")).File("f", "x").End().ToArray()], ErrorIds.LayerFormatInvalid),
        ["gnu-sparse"] = new(b => [Tar().Entry("s", 'S', null).End().ToArray()], ErrorIds.LayerFormatUnsupported),
        ["docker-save-archive"] = new(b => [Tar().Dir("blobs/").Dir("blobs/sha256/").File("blobs/sha256/" + new string('a', 64), "x").File("index.json", "{}").File("manifest.json", "[]").File("oci-layout", "{}").End().ToArray()], ErrorIds.LayerFormatUnsupported),
        ["legacy-docker-save-archive"] = new(b => [Tar().Dir(new string('b', 64) + "/").File(new string('b', 64) + "/layer.tar", "x").File("manifest.json", "[]").End().ToArray()], ErrorIds.LayerFormatUnsupported),
        ["zip-file"] = new(b => [[.. "PK\x03\x04"u8, .. new byte[600]]], ErrorIds.LayerFormatUnsupported, (b, r) => { }),
        ["json-manifest"] = new(b => [Encoding.UTF8.GetBytes("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}" + new string(' ', 600))], ErrorIds.LayerFormatUnsupported),
        ["gzip-inside-gzip"] = new(b => [LayerBuilders.Gzip(LayerBuilders.Gzip(Tar().File("f", "x").End().ToArray()))], ErrorIds.LayerFormatUnsupported),
        ["root-entry-as-symlink"] = new(b => [Tar().Symlink("./", "../canary").End().ToArray()], ErrorIds.LayerRejectedName),
        ["symlink-empty-target"] = new(b => [Tar().Symlink("s", "").End().ToArray()], ErrorIds.LayerRejectedName),
        ["overlayfs-xattrs-not-applied"] = new(b => [Tar().Pax(("SCHILY.xattr.trusted.overlay.redirect", "/etc"u8.ToArray()), ("SCHILY.xattr.user.ok", "1"u8.ToArray())).Dir("d/").End().ToArray()], null,
            (b, r) => { Assert.Equal(1, r!.SkippedCount); Assert.Equal(["user.ok"], TreeSnapshot.Xattrs(b.PathOf("d")).Keys.ToArray()); }),
        ["uid-out-of-range"] = new(b => [Tar().Pax(("uid", "4294967295")).File("f", "x").End().ToArray()], ErrorIds.LayerFormatInvalid),
    };

    public static TheoryData<string, bool> Cases()
    {
        var data = new TheoryData<string, bool>();
        foreach (var name in Attacks.Keys)
        {
            data.Add(name, false);
            data.Add(name, true);
        }

        return data;
    }

    [Fact]
    public void CorpusHasAtLeastThirtyDistinctAttacks() => Assert.True(Attacks.Count >= 30, $"{Attacks.Count} attacks");

    [Theory]
    [MemberData(nameof(Cases))]
    public void AttackIsRejectedOrContained(string name, bool componentWalk)
    {
        var attack = Attacks[name];
        using var box = new UnpackSandbox();
        var previous = RootedTree.ForceComponentWalk;
        RootedTree.ForceComponentWalk = componentWalk;
        try
        {
            var layers = attack.Layers(box);
            for (var i = 0; i < layers.Length - 1; i++)
            {
                box.Apply(layers[i]);
            }

            if (attack.ExpectedId is { } id)
            {
                var e = box.Reject(layers[^1], id, attack.Limits);
                Assert.False(string.IsNullOrWhiteSpace(e.Message));
                attack.Check?.Invoke(box, null);
            }
            else
            {
                var result = box.Apply(layers[^1], attack.Limits);
                attack.Check?.Invoke(box, result);
            }

            box.AssertCanariesUnchanged();
        }
        finally
        {
            RootedTree.ForceComponentWalk = previous;
        }
    }

    [Fact]
    public void RejectionMessageNamesTheEntryAndTheRule()
    {
        using var box = new UnpackSandbox();
        var e = box.Reject(Tar().Symlink("evil", "../canary").File("evil/secret", "pwned").End().ToArray(), ErrorIds.LayerRejectedTraversal);
        Assert.Contains("evil/secret", e.Message);
        Assert.Contains("symlink", e.Message);
        Assert.Equal(FlyErrorCategory.SecurityError, e.Category);

        var limit = box.Reject(Tar().File("a", new byte[10]).End().ToArray(), ErrorIds.LayerRejectedLimit, new UnpackLimits { MaxFileSize = 5 });
        Assert.Contains("single file size limit", limit.Message);
        Assert.Equal(FlyErrorCategory.LimitsExceeded, limit.Category);

        var docker = box.Reject(Tar().Dir("blobs/").Dir("blobs/sha256/").End().ToArray(), ErrorIds.LayerFormatUnsupported);
        Assert.Contains("docker save", docker.Message);
    }

    private static RawTar Tar() => new();

    private static byte[] Many(int count)
    {
        var tar = Tar();
        for (var i = 0; i < count; i++)
        {
            tar.File($"f{i}", $"file {i}\n");
        }

        return tar.End().ToArray();
    }

    private static byte[] DeepDirs(int depth)
    {
        var tar = Tar();
        var path = new StringBuilder();
        for (var i = 0; i < depth; i++)
        {
            path.Append("d/");
            if (path.Length > 4000)
            {
                break;
            }

            tar.Pax(("path", path.ToString())).Dir("x/");
        }

        return tar.End().ToArray();
    }

    private static byte[] CorruptMiddle(byte[] data)
    {
        var copy = (byte[])data.Clone();
        for (var i = copy.Length / 3; i < copy.Length / 3 + 64; i++)
        {
            copy[i] ^= 0x5A;
        }

        return copy;
    }
}

[CollectionDefinition(Name)]
public class UnpackingCollection
{
    public const string Name = "Unpacking (serial: RootedTree.ForceComponentWalk is static)";
}
