using FlyImages.TestSupport;
using FlyImages.ThinPools.BlockFile;
using Xunit;

namespace FlyImages.Tests.ThinPools;

/// <summary>Block-file snapshots copy data and keep holes (a reflink where the filesystem can).</summary>
public sealed class SparseCopyTests : IDisposable
{
    private readonly TempDirectory folder = new("flyimages-pools-copy");

    public void Dispose() => folder.Dispose();

    [Fact]
    public void DataIsCopiedAndHolesStayHoles()
    {
        const long size = 256L << 20;
        var source = folder.Combine("src.img");
        var random = new Random(42);
        var chunks = new[] { 0L, 1L << 20, 100L << 20, size - 4096 };
        using (var s = new FileStream(source, FileMode.CreateNew, FileAccess.ReadWrite))
        {
            s.SetLength(size);
            foreach (var at in chunks)
            {
                var data = new byte[4096];
                random.NextBytes(data);
                s.Position = at;
                s.Write(data);
            }
        }

        var target = folder.Combine("dst.img");
        CopyMethod method;
        using (var src = new FileStream(source, FileMode.Open, FileAccess.Read))
        using (var dst = new FileStream(target, FileMode.CreateNew, FileAccess.ReadWrite))
        {
            method = SparseCopy.Copy(src.SafeFileHandle, dst.SafeFileHandle, size, CancellationToken.None);
        }

        Assert.Equal(size, new FileInfo(target).Length);
        Assert.True(Allocated(target) < 16L << 20, $"the copy is not sparse: {Allocated(target)} bytes allocated ({method})");
        using var a = new FileStream(source, FileMode.Open, FileAccess.Read);
        using var b = new FileStream(target, FileMode.Open, FileAccess.Read);
        var x = new byte[1 << 20];
        var y = new byte[1 << 20];
        for (long at = 0; at < size; at += x.Length)
        {
            a.ReadExactly(x);
            b.ReadExactly(y);
            Assert.True(x.AsSpan().SequenceEqual(y), $"differs in the MiB at {at}");
        }
    }

    private static long Allocated(string path)
        => Native.Libc.statx(Native.Libc.AT_FDCWD, path, 0, Native.Libc.STATX_BASIC_STATS, out var st) == 0 ? (long)st.Blocks * 512 : -1;
}
