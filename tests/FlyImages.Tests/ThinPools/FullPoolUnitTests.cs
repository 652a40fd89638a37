using System.Buffers.Binary;
using FlyImages.Errors;
using FlyImages.Tests.Unpacking;
using FlyImages.ThinPools;
using FlyImages.ThinPools.DeviceMapper;
using FlyImages.Unpacking;
using Xunit;

namespace FlyImages.Tests.ThinPools;

/// <summary>The pure parts of issue 16: thin-pool table features, the ext4 superblock check, the unpacker's room limit, pool percentages.</summary>
public sealed class FullPoolUnitTests
{
    [Fact]
    public void A_pool_table_says_whether_a_full_pool_fails_writes_or_queues_them()
    {
        var erroring = DmThinPoolTable.TryParse("0 65536 thin-pool 7:1 7:0 128 5 2 skip_block_zeroing error_if_no_space\n")!;
        Assert.Equal(["skip_block_zeroing", "error_if_no_space"], erroring.Features);
        Assert.True(erroring.ErrorsWhenFull);
        Assert.False(DmThinPoolTable.TryParse("0 65536 thin-pool 7:1 7:0 128 5 1 skip_block_zeroing")!.ErrorsWhenFull);
        Assert.False(DmThinPoolTable.TryParse("0 65536 thin-pool 7:1 7:0 128 5")!.ErrorsWhenFull);
        // a count larger than the arguments there are takes what there is
        Assert.Equal(["error_if_no_space"], DmThinPoolTable.TryParse("0 65536 thin-pool 7:1 7:0 128 5 4 error_if_no_space")!.Features);
    }

    [Fact]
    public void An_ext4_superblock_is_clean_only_when_cleanly_unmounted_without_errors_or_journal_to_recover()
    {
        Assert.Null(Ext4Health.Describe(Superblock(state: 1, incompat: 0x2C2, errors: 0), "/dev/x"));
        Assert.Contains("errors were detected", Ext4Health.Describe(Superblock(state: 3, incompat: 0x2C2, errors: 0), "/dev/x"), StringComparison.Ordinal);
        Assert.Contains("not cleanly unmounted", Ext4Health.Describe(Superblock(state: 0, incompat: 0x2C2, errors: 0), "/dev/x"), StringComparison.Ordinal);
        Assert.Contains("still needs recovery", Ext4Health.Describe(Superblock(state: 1, incompat: 0x2C6, errors: 0), "/dev/x"), StringComparison.Ordinal);
        Assert.Contains("recorded 3 error(s)", Ext4Health.Describe(Superblock(state: 1, incompat: 0x2C2, errors: 3), "/dev/x"), StringComparison.Ordinal);
        var noMagic = Superblock(state: 1, incompat: 0, errors: 0);
        noMagic[0x38] = 0;
        Assert.Contains("no ext4 superblock", Ext4Health.Describe(noMagic, "/dev/x"), StringComparison.Ordinal);
    }

    [Fact]
    public void The_unpacker_refuses_the_entry_that_would_pass_the_destinations_room_before_writing_it()
    {
        using var dir = new FlyImages.TestSupport.TempDirectory("flyimages-room");
        var layer = new RawTar().File("a", new byte[5000]).File("b", new byte[5000]).End().ToArray();
        // a takes 8 KiB (rounded to 4 KiB blocks), b would need 8 KiB more
        var e = Assert.Throws<FlyException>(() => LayerUnpacker.Apply(new MemoryStream(layer), dir.Path, new UnpackLimits { DestinationRoomBytes = 12 << 10 }));
        Assert.Equal(ErrorIds.DestinationFull, e.ErrorId);
        Assert.Equal(FlyErrorCategory.QuotaExceeded, e.Category);
        Assert.Contains("'b'", e.Message, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(dir.Path, "a")));
        Assert.False(File.Exists(Path.Combine(dir.Path, "b")));

        using var roomy = new FlyImages.TestSupport.TempDirectory("flyimages-room");
        Assert.Equal(10000, LayerUnpacker.Apply(new MemoryStream(layer), roomy.Path, new UnpackLimits { DestinationRoomBytes = 16 << 10 }).BytesWritten);
    }

    [Fact]
    public void A_read_only_pool_refuses_an_install_before_fetching_naming_the_metadata_when_that_ran_out()
    {
        // dm-thin turns a pool read-only once its status shows the metadata used up (it counts its reserve as used)
        var status = DmThinPoolStatus.Parse("0 327680 thin-pool 12 509/512 40/2560 - ro discard_passdown error_if_no_space - 128\n");
        Assert.Equal(ThinPoolMode.ReadOnly, status.Mode);
        var full = Status(ThinPoolMode.ReadOnly, status.MetadataUsedBlocks * 4096, status.MetadataTotalBlocks * 4096);
        Assert.True(FlyImages.Install.ChainWriteGuard.MetadataFull(full));
        var e = Assert.Throws<FlyException>(() => FlyImages.Install.ChainWriteGuard.RefuseUnusable("p", full));
        Assert.Equal(ErrorIds.PoolFull, e.ErrorId);
        Assert.Contains("out of metadata space (1.99 MiB used of 2.00 MiB)", e.Message, StringComparison.Ordinal);
        Assert.Contains("Nothing was fetched", e.Message, StringComparison.Ordinal);
        Assert.Contains("-MetadataSize", e.RecommendedAction, StringComparison.Ordinal);
        Assert.Contains("metadata full", FlyImages.Install.ChainWriteGuard.Exhausted("p", full), StringComparison.Ordinal);

        // read-only (or needs_check, failed) for another reason: unavailable, not full
        var other = Assert.Throws<FlyException>(() => FlyImages.Install.ChainWriteGuard.RefuseUnusable("p", Status(ThinPoolMode.NeedsCheck, 100 << 12, 512 << 12)));
        Assert.Equal(ErrorIds.ThinPoolUnavailable, other.ErrorId);
        Assert.Contains("NeedsCheck", other.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("metadata", FlyImages.Install.ChainWriteGuard.Exhausted("p", Status(ThinPoolMode.ReadOnly, 100 << 12, 512 << 12)), StringComparison.Ordinal);

        // a writable pool, even with its metadata nearly used, is not refused up front
        FlyImages.Install.ChainWriteGuard.RefuseUnusable("p", Status(ThinPoolMode.ReadWrite, 500 << 12, 512 << 12));
        FlyImages.Install.ChainWriteGuard.RefuseUnusable("p", Status(ThinPoolMode.OutOfDataSpace, 10 << 12, 512 << 12));
    }

    private static ThinPoolStatus Status(ThinPoolMode mode, long metadataUsed, long metadataTotal) => new()
    {
        Name = "p", Backend = ThinPoolBackend.DeviceMapper, Mode = mode, MetadataUsedBytes = metadataUsed, MetadataTotalBytes = metadataTotal,
        DataUsedBytes = 1 << 20, DataTotalBytes = 160 << 20,
    };

    [Fact]
    public void A_pool_never_reports_more_than_100_percent_used()
    {
        var status = new ThinPoolStatus { Name = "p", Backend = ThinPoolBackend.BlockFile, Mode = ThinPoolMode.OutOfDataSpace, DataUsedBytes = 60 << 20, DataTotalBytes = 48 << 20 };
        Assert.Equal(100, status.DataUsedPercent);
        Assert.Equal(0, status.DataFreeBytes);
    }

    private static byte[] Superblock(ushort state, uint incompat, uint errors)
    {
        var sb = new byte[1024];
        BinaryPrimitives.WriteUInt16LittleEndian(sb.AsSpan(0x38), 0xEF53);
        BinaryPrimitives.WriteUInt16LittleEndian(sb.AsSpan(0x3A), state);
        BinaryPrimitives.WriteUInt32LittleEndian(sb.AsSpan(0x60), incompat);
        BinaryPrimitives.WriteUInt32LittleEndian(sb.AsSpan(0x194), errors);
        return sb;
    }
}
