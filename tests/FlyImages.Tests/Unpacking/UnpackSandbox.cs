using FlyImages.Errors;
using FlyImages.Unpacking;
using Xunit;

namespace FlyImages.Tests.Unpacking;

/// <summary>
/// A random folder under /tmp holding "dest" (where layers go) and "canary" beside it, plus a
/// canary under an absolute path archives can aim at (/tmp/flyimages-canary-RANDOM). Both canaries
/// are snapshotted at start; <see cref="AssertCanariesUnchanged"/> compares them byte for byte.
/// </summary>
internal sealed class UnpackSandbox : IDisposable
{
    private readonly string canaryBefore;
    private readonly string absoluteBefore;

    public UnpackSandbox()
    {
        var id = Guid.NewGuid().ToString("N")[..12];
        Root = Path.Combine(Path.GetTempPath(), "flyimages-unpack-" + id);
        Destination = Path.Combine(Root, "dest");
        Canary = Path.Combine(Root, "canary");
        AbsoluteCanary = Path.Combine(Path.GetTempPath(), "flyimages-canary-" + id);
        Directory.CreateDirectory(Destination);
        foreach (var canary in new[] { Canary, AbsoluteCanary })
        {
            Directory.CreateDirectory(Path.Combine(canary, "sub"));
            File.WriteAllText(Path.Combine(canary, "secret"), "canary secret\n");
            File.WriteAllText(Path.Combine(canary, "sub", "file"), "canary file\n");
            TreeSnapshot.Chmod(Path.Combine(canary, "secret"), 0x180);
        }

        canaryBefore = TreeSnapshot.Take(Canary);
        absoluteBefore = TreeSnapshot.Take(AbsoluteCanary);
    }

    public string Root { get; }

    public string Destination { get; }

    /// <summary>The canary beside the destination (reached with "../canary").</summary>
    public string Canary { get; }

    /// <summary>The canary under an absolute path (no leading slash when used in an archive: <see cref="AbsoluteNoSlash"/>).</summary>
    public string AbsoluteCanary { get; }

    public string AbsoluteNoSlash => AbsoluteCanary.TrimStart('/');

    public LayerApplyResult Apply(byte[] layer, UnpackLimits? limits = null) =>
        LayerUnpacker.Apply(new MemoryStream(layer, writable: false), Destination, limits);

    /// <summary>Applies and expects a rejection with <paramref name="errorId"/>; returns the exception.</summary>
    public FlyException Reject(byte[] layer, string errorId, UnpackLimits? limits = null)
    {
        var e = Assert.Throws<FlyException>(() => Apply(layer, limits));
        Assert.True(errorId == e.ErrorId, $"expected {errorId}, got {e.ErrorId}: {e.Message}");
        return e;
    }

    public string PathOf(string relative) => Path.Combine(Destination, relative);

    public void AssertCanariesUnchanged()
    {
        Assert.Equal(canaryBefore, TreeSnapshot.Take(Canary));
        Assert.Equal(absoluteBefore, TreeSnapshot.Take(AbsoluteCanary));

        // nothing appeared next to them either
        Assert.Equal("canary,dest", string.Join(",", Directory.EnumerateFileSystemEntries(Root).Select(Path.GetFileName).Order(StringComparer.Ordinal)));
    }

    public void Dispose()
    {
        foreach (var path in new[] { Root, AbsoluteCanary })
        {
            RemoveTree(path);
        }
    }

    /// <summary>
    /// Removes a test folder whatever it holds (names that are not UTF-8, fifos, read-only folders),
    /// by descriptor and never following a symlink: the engine's own removal.
    /// </summary>
    public static void RemoveTree(string path)
    {
        if (!TreeSnapshot.Exists(path))
        {
            return;
        }

        using var parent = new RootedTree(Path.GetDirectoryName(path)!, _ => { });
        var name = EntryPath.FromBytes(System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(path)));
        parent.Remove(parent.RootFd, name, name, "test cleanup");
    }
}
