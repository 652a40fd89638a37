using FlyImages.Errors;
using FlyImages.ThinPools;
using FlyImages.ThinPools.DeviceMapper;
using Xunit;

namespace FlyImages.Tests.ThinPools;

/// <summary>Device-mapper errors, status and table text, names and sizes: pure functions, no devices needed.</summary>
public sealed class ThinPoolParsingTests
{
    [Theory]
    [InlineData(16, DmErrno.Busy)]
    [InlineData(6, DmErrno.NoDeviceOrAddress)]
    [InlineData(61, DmErrno.NoData)]
    [InlineData(17, DmErrno.Exists)]
    [InlineData(19, DmErrno.NoDevice)]
    [InlineData(22, DmErrno.InvalidArgument)]
    [InlineData(28, DmErrno.NoSpace)]
    [InlineData(1, DmErrno.PermissionDenied)]
    [InlineData(13, DmErrno.PermissionDenied)]
    [InlineData(5, DmErrno.Unknown)]
    public void DeviceMapperErrorsAreClassifiedByErrno(int errno, DmErrno expected) => Assert.Equal(expected, DmControl.Classify(errno));

    [Fact]
    public void BusyDmErrorsCarryTheBusyErrorIdSoTheyAreRetried()
    {
        Assert.Equal(ErrorIds.ThinDeviceBusy, new DeviceMapperException(DmErrno.Busy, "busy", null).ErrorId);
        Assert.Equal(ErrorIds.DeviceMapperFailed, new DeviceMapperException(DmErrno.InvalidArgument, "bad", null).ErrorId);
        Assert.Equal(FlyErrorCategory.OperationTimeout, new DeviceMapperException(DmErrno.TimedOut, "slow", null).Category);
    }

    [Fact]
    public void PoolStatusLinesAreParsed()
    {
        var s = DmThinPoolStatus.Parse("0 4194304 thin-pool 7 125/4096 300/32768 - rw no_discard_passdown queue_if_no_space - 1024\n");
        Assert.Equal(ThinPoolMode.ReadWrite, s.Mode);
        Assert.Equal(7, s.TransactionId);
        Assert.Equal((125, 4096, 300, 32768), (s.MetadataUsedBlocks, s.MetadataTotalBlocks, s.DataUsedBlocks, s.DataTotalBlocks));
        Assert.Equal(ThinPoolMode.OutOfDataSpace, DmThinPoolStatus.Parse("0 8 thin-pool 0 1/2 2/2 - out_of_data_space discard_passdown queue_if_no_space - 1").Mode);
        Assert.Equal(ThinPoolMode.ReadOnly, DmThinPoolStatus.Parse("0 8 thin-pool 0 1/2 2/2 - ro discard_passdown queue_if_no_space - 1").Mode);
        Assert.Equal(ThinPoolMode.NeedsCheck, DmThinPoolStatus.Parse("0 8 thin-pool 0 1/2 2/2 - ro discard_passdown queue_if_no_space needs_check 1").Mode);
        Assert.Equal(ThinPoolMode.Failed, DmThinPoolStatus.Parse("0 8 thin-pool Fail").Mode);
        Assert.Throws<FormatException>(() => DmThinPoolStatus.Parse("0 8 linear 7:0 0"));
        Assert.Throws<FormatException>(() => DmThinPoolStatus.Parse("0 8 thin-pool 0 x 2/2 - rw"));
    }

    [Fact]
    public void PoolTablesAreParsed()
    {
        var t = DmThinPoolTable.TryParse("0 4194304 thin-pool 7:1 7:0 2048 32768 1 skip_block_zeroing\n");
        Assert.NotNull(t);
        Assert.Equal((4194304L, "7:1", "7:0", 2048L, 32768L), (t.LengthSectors, t.MetadataDevice, t.DataDevice, t.BlockSectors, t.LowWaterMark));
        Assert.Null(DmThinPoolTable.TryParse("0 8 linear 7:0 0"));
    }

    [Fact]
    public void ProcMiscDecidesWhetherTheKernelHasDeviceMapper()
    {
        Assert.True(DeviceMapperProbe.ProcMiscHasDeviceMapper("237 loop-control\n236 device-mapper\n"));
        Assert.False(DeviceMapperProbe.ProcMiscHasDeviceMapper("237 loop-control\n229 fuse\n"));
        Assert.False(DeviceMapperProbe.ProcMiscHasDeviceMapper("12 not-device-mapper\n"));
    }

    [Theory]
    [InlineData("pool")]
    [InlineData("flyimages")]
    [InlineData("a.b_c+d-1")]
    public void PlainPoolNamesAreAccepted(string name) => Assert.Equal(name, ThinPoolNames.ValidatePool(name));

    [Theory]
    [InlineData("")]
    [InlineData("-x")]
    [InlineData("../x")]
    [InlineData("a/b")]
    [InlineData("a b")]
    [InlineData("x\n")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public void HostilePoolNamesAreRefused(string name)
        => Assert.Equal(ErrorIds.ThinPoolNameInvalid, Assert.Throws<FlyException>(() => ThinPoolNames.ValidatePool(name)).ErrorId);

    [Theory]
    [InlineData("")]
    [InlineData(" x")]
    [InlineData("x\u0000y")]
    [InlineData("x\ny")]
    public void HostileDeviceNamesAreRefused(string name)
        => Assert.Equal(ErrorIds.ThinDeviceNameInvalid, Assert.Throws<FlyException>(() => ThinPoolNames.ValidateDevice(name)).ErrorId);

    [Fact]
    public void DmNamesHoldOnlyThePoolAndTheId()
    {
        Assert.Equal("flyimages-pool-42", ThinPoolNames.DmDeviceName("pool", 42));
        Assert.Equal(42, ThinPoolNames.ParseDmDeviceName("pool", "flyimages-pool-42"));
        Assert.Null(ThinPoolNames.ParseDmDeviceName("pool", "flyimages-pool-x-42"));
        Assert.Null(ThinPoolNames.ParseDmDeviceName("pool", "flyimages-pool-042"));
        Assert.Null(ThinPoolNames.ParseDmDeviceName("pool", "flyimages-pool-16777216"));
        Assert.Null(ThinPoolNames.ParseDmDeviceName("a", "flyimages-a-1-5"));
        Assert.Throws<ArgumentOutOfRangeException>(() => ThinPoolNames.DmDeviceName("pool", 1 << 24));
    }

    [Fact]
    public void SizesFollowDmThinRules()
    {
        Assert.Equal(64L << 10, ThinPoolSizing.ValidateBlockSize(64L << 10));
        Assert.Equal(ErrorIds.ThinPoolSizeInvalid, Assert.Throws<FlyException>(() => ThinPoolSizing.ValidateBlockSize(96L << 10)).ErrorId);
        Assert.Throws<FlyException>(() => ThinPoolSizing.ValidateBlockSize(32L << 10));
        Assert.Throws<FlyException>(() => ThinPoolSizing.ValidateDataSize(1L << 20, 64L << 10));
        Assert.Equal(64L << 20, ThinPoolSizing.ValidateDataSize((64L << 20) + 100, 64L << 10));
        Assert.Equal(8L << 20, ThinPoolSizing.MetadataSizeFor(64L << 20, 64L << 10));
        var tenGiB = ThinPoolSizing.MetadataSizeFor(10L << 30, 64L << 10);
        Assert.InRange(tenGiB, 16L << 20, 64L << 20);
        Assert.Equal(ThinPoolSizing.MaxMetadataSize, ThinPoolSizing.MetadataSizeFor(1L << 50, 64L << 10));
        Assert.Throws<FlyException>(() => ThinPoolSizing.ValidateFloor(100));
        Assert.Throws<FlyException>(() => ThinPoolSizing.ValidateFloor(double.NaN));
    }
}
