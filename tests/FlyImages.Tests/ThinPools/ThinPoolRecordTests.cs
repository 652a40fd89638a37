using FlyImages.Errors;
using FlyImages.State;
using FlyImages.TestSupport;
using FlyImages.ThinPools;
using Xunit;

namespace FlyImages.Tests.ThinPools;

/// <summary>Records in the real SQLite store: ids, uniqueness, states (no devices needed).</summary>
public sealed class ThinPoolRecordTests : IDisposable
{
    private readonly TempDirectory folder = new("flyimages-pools-records");
    private readonly ThinPoolRepository repository;

    public ThinPoolRecordTests()
    {
        repository = new ThinPoolRepository(FlyStore.Open(folder.Path));
        repository.InsertPool(new ThinPoolRecord { Name = "p", Backend = ThinPoolBackend.BlockFile, DataPath = folder.Combine("d"), BlockSize = 65536, DataSize = 1 << 30, MetadataSize = 0, FreeSpaceFloorPercent = 10, Owned = true }, makeDefault: false);
    }

    public void Dispose() => folder.Dispose();

    [Fact]
    public void TheFirstPoolBecomesTheDefaultAndOnlyOneIsDefault()
    {
        Assert.True(repository.FindPool("p")!.IsDefault);
        repository.InsertPool(new ThinPoolRecord { Name = "q", Backend = ThinPoolBackend.DeviceMapper, BlockSize = 65536, DataSize = 1 << 30, MetadataSize = 1 << 20, FreeSpaceFloorPercent = 10, Owned = false }, makeDefault: false);
        Assert.Equal("p", repository.FindDefaultPool()!.Name);
        repository.SetDefault("q");
        Assert.Equal("q", repository.FindDefaultPool()!.Name);
        Assert.False(repository.FindPool("p")!.IsDefault);
        Assert.Equal(ErrorIds.ThinPoolConflict, Assert.Throws<FlyException>(() => repository.InsertPool(repository.FindPool("p")!, false)).ErrorId);
    }

    [Fact]
    public void IdsAreAllocatedWithTheRecordAndNeverSharedWhileARecordHoldsThem()
    {
        var a = repository.BeginCreate("p", "a", ThinDeviceKind.Thin, null, 4096);
        var b = repository.BeginCreate("p", "b", ThinDeviceKind.Thin, null, 4096);
        Assert.Equal((1, 2), (a.DeviceId, b.DeviceId));
        Assert.Equal(ThinDeviceState.Creating, repository.FindDevice("p", "a")!.State);
        Assert.Equal(ErrorIds.ThinDeviceExists, Assert.Throws<FlyException>(() => repository.BeginCreate("p", "a", ThinDeviceKind.Thin, null, 4096)).ErrorId);

        repository.SetState("p", a.DeviceId, ThinDeviceState.Faulty, "half-made");
        var c = repository.BeginCreate("p", "c", ThinDeviceKind.Thin, null, 4096);
        Assert.Equal(3, c.DeviceId); // the Faulty id 1 is not reused

        repository.MarkForeign("p", c.DeviceId, "taken");
        var foreign = repository.FindDevice("p", c.DeviceId)!;
        Assert.Equal(("#foreign-3", ThinDeviceState.Faulty), (foreign.Name, foreign.State));
        Assert.Equal(4, repository.BeginCreate("p", "c", ThinDeviceKind.Thin, null, 4096).DeviceId);
    }

    [Fact]
    public void AfterTheLastIdTheLowestFreedIdIsTaken()
    {
        repository.Store.Write((c, t) => c.Exec(t, "INSERT INTO thin_devices(pool_id, device_id, name, kind, size, state, created_at, updated_at) SELECT id, 16777215, 'last', 'Thin', 4096, 'Created', 'x', 'x' FROM thin_pools WHERE name = 'p';"));
        Assert.Equal(1, repository.BeginCreate("p", "x", ThinDeviceKind.Thin, null, 4096).DeviceId);
        Assert.Equal(2, repository.BeginCreate("p", "y", ThinDeviceKind.Thin, null, 4096).DeviceId);
        repository.DeleteDevice("p", 1);
        Assert.Equal(1, repository.BeginCreate("p", "z", ThinDeviceKind.Thin, null, 4096).DeviceId);
        Assert.Equal(3, repository.BeginCreate("p", "w", ThinDeviceKind.Thin, null, 4096).DeviceId);
    }

    [Fact]
    public void TryingStatesKeepTheErrorText()
    {
        var a = repository.BeginCreate("p", "a", ThinDeviceKind.Thin, null, 4096);
        repository.SetState("p", a.DeviceId, ThinDeviceState.Activating);
        repository.SetDetail("p", a.DeviceId, "losetup failed");
        var d = repository.FindDevice("p", "a")!;
        Assert.Equal((ThinDeviceState.Activating, "losetup failed"), (d.State, d.StateDetail));
        repository.SetState("p", a.DeviceId, ThinDeviceState.Activated, null, "/dev/loop9");
        d = repository.FindDevice("p", "a")!;
        Assert.Equal((ThinDeviceState.Activated, null, "/dev/loop9"), (d.State, d.StateDetail, d.DevicePath));
        repository.SetState("p", a.DeviceId, ThinDeviceState.Deactivated, clearPath: true);
        Assert.Null(repository.FindDevice("p", "a")!.DevicePath);
    }

    [Fact]
    public void DevicesGoWithTheirPool()
    {
        repository.BeginCreate("p", "a", ThinDeviceKind.Thin, null, 4096);
        repository.DeletePool("p");
        Assert.Empty(repository.ListDevices("p"));
        Assert.Equal(0, repository.Store.Read((c, t) => c.Scalar<long>(t, "SELECT COUNT(*) FROM thin_devices;")));
    }
}
