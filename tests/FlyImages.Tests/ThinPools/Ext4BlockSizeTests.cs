using System.Buffers.Binary;
using FlyImages.ThinPools;
using Xunit;

namespace FlyImages.Tests.ThinPools;

/// <summary>The block size read from an image file's ext4 superblock: only what a superblock can say, nothing else.</summary>
public sealed class Ext4BlockSizeTests : IDisposable
{
    private readonly string file = Path.Combine(Path.GetTempPath(), $"flyimages-ext4-{Guid.NewGuid():N}.img");

    [Theory]
    [InlineData(0u, 1024)]
    [InlineData(2u, 4096)]
    [InlineData(6u, 65536)]
    public void TheBlockSizeComesFromTheSuperblock(uint log, int expected)
    {
        Write(0xEF53, log, 4096);
        Assert.Equal(expected, Ext4.BlockSizeOf(file));
    }

    [Theory]
    [InlineData(0xEF53, 7u, 4096)]       // 128 KiB and beyond: no ext4 has them (and 1024 << 22 would overflow)
    [InlineData(0xEF53, 30u, 4096)]
    [InlineData(0x1234, 2u, 4096)]       // no ext4 magic: not ext4
    [InlineData(0xEF53, 2u, 1050)]       // the file ends inside the superblock
    public void AnythingElseIsNoExt4(int magic, uint log, int length)
    {
        Write((ushort)magic, log, length);
        Assert.Null(Ext4.BlockSizeOf(file));
    }

    [Fact]
    public void AMissingFileIsNoExt4() => Assert.Null(Ext4.BlockSizeOf(file));

    public void Dispose() => File.Delete(file);

    private void Write(ushort magic, uint log, int length)
    {
        var bytes = new byte[Math.Max(length, 4096)];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(1024 + 0x18), log);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(1024 + 0x38), magic);
        File.WriteAllBytes(file, bytes.AsSpan(0, length).ToArray());
    }
}
