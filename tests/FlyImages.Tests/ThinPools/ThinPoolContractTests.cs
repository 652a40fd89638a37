using FlyImages.Errors;
using FlyImages.State;
using FlyImages.TestSupport;
using FlyImages.ThinPools;
using FlyImages.ThinPools.BlockFile;
using Xunit;

namespace FlyImages.Tests.ThinPools;

/// <summary>
/// The behaviour every backend must have, written once: real devices, real mkfs.ext4 and mounts, a
/// fresh store and a randomly named pool per test, and a leak check (loop devices, mounts, dm
/// devices) after each. Subclasses say which backend and what the machine must have.
/// </summary>
public abstract class ThinPoolContractTests : IAsyncLifetime
{
    protected const long MiB = 1L << 20;

    private readonly TempDirectory folder = new("flyimages-pools");
    private bool poolMade;

    protected ThinPoolContractTests()
    {
        PoolName = "fit" + Guid.NewGuid().ToString("N")[..10];
        Store = FlyStore.Open(folder.Path);
        Catalog = new ThinPoolCatalog(Store, FastOptions);
    }

    protected string PoolName { get; }

    protected FlyStore Store { get; }

    /// <summary>The store's pools (one catalog per test, as a cmdlet keeps one per store).</summary>
    protected ThinPoolCatalog Catalog { get; }

    protected string StorePath => folder.Path;

    private protected RecordingContext Context { get; } = new();

    protected static ThinPoolOptions FastOptions { get; } = new() { BusyAttempts = 3, BusyDelay = TimeSpan.FromMilliseconds(20) };

    protected abstract ThinPoolBackendChoice Backend { get; }

    /// <summary>BlockFile pools on their own XFS filesystem (ThinPoolSpec.ReflinkFilesystem).</summary>
    private protected virtual bool ReflinkFilesystem => false;

    /// <summary>Skips (saying what is missing) unless the machine can run this backend.</summary>
    protected abstract void RequireBackend();

    /// <summary>Takes the pool down the way a reboot does (devices and loop devices gone, files and records kept).</summary>
    private protected abstract Task SimulateRebootAsync(ThinPool pool);

    /// <summary>Backend-specific leftovers (dm devices) of this test's pool.</summary>
    protected abstract Task<IReadOnlyList<string>> LeftoversAsync();

    /// <summary>Removes backend-specific leftovers after a failed test.</summary>
    protected abstract Task CleanUpLeftoversAsync();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        try
        {
            if (poolMade)
            {
                foreach (var mount in MountTable.Below(Path.Combine(StorePath, "mounts")).OrderByDescending(m => m.Length))
                {
                    Native.Libc.Pools.Umount2(mount, 0);
                }

                try
                {
                    if (new ThinPoolRepository(Store).FindPool(PoolName) is not null)
                    {
                        await Catalog.RemoveAsync(PoolName, new RecordingContext());
                    }
                }
                finally
                {
                    await CleanUpLeftoversAsync();
                    foreach (var loop in LoopDevices.List().Where(l => l.BackingFile.StartsWith(RealStorePath + "/", StringComparison.Ordinal)).OrderBy(l => l.BackingFile.EndsWith("/data.img", StringComparison.Ordinal)))
                    {
                        if (loop.BackingFile.EndsWith("/data.img", StringComparison.Ordinal))
                        {
                            foreach (var mount in MountTable.Below(StorePath).OrderByDescending(m => m.Length))
                            {
                                Native.Libc.Pools.Umount2(mount, 0);
                            }
                        }

                        await LoopDevices.DetachAsync(loop, CancellationToken.None);
                    }
                }

                var leaks = await LeaksAsync();
                Assert.True(leaks.Count == 0, "leaked: " + string.Join("; ", leaks));
            }
        }
        finally
        {
            Catalog.ForgetReconciled();
            folder.Dispose();
        }
    }

    private string RealStorePath => Native.Libc.Pools.RealPath(StorePath) ?? StorePath;

    protected async Task<IReadOnlyList<string>> LeaksAsync()
    {
        var leaks = new List<string>();
        leaks.AddRange(LoopDevices.List().Where(l => l.BackingFile.StartsWith(RealStorePath + "/", StringComparison.Ordinal)).Select(l => $"{l.Path} -> {l.BackingFile}"));
        leaks.AddRange(MountTable.Below(StorePath).Select(m => "mount " + m));
        leaks.AddRange(await LeftoversAsync());
        return leaks;
    }

    private protected async Task<ThinPool> NewPoolAsync(long dataSize = 256 * MiB, double floor = 10, ThinPoolOptions? options = null)
    {
        RequireBackend();
        poolMade = true;
        var catalog = options is null ? Catalog : new ThinPoolCatalog(Store, options);
        var pool = await catalog.InitializeAsync(new ThinPoolSpec { Name = PoolName, Backend = Backend, DataSize = dataSize, FreeSpaceFloorPercent = floor, ReflinkFilesystem = ReflinkFilesystem }, Context);
        Assert.NotNull(pool);
        Assert.Equal(ExpectedBackend, pool.Backend);
        return (ThinPool)pool;
    }

    private ThinPoolBackend ExpectedBackend => Backend == ThinPoolBackendChoice.DeviceMapper ? ThinPoolBackend.DeviceMapper : ThinPoolBackend.BlockFile;

    /// <summary>A thin device with an ext4 filesystem, active.</summary>
    protected async Task<string> MakeFormattedAsync(IThinPool pool, string name, long size = 64 * MiB)
    {
        await pool.CreateThinAsync(name, size, Context);
        var path = await pool.ActivateAsync(name, Context);
        await pool.FormatExt4Async(name, Context);
        return path;
    }

    [SkippableFact]
    public async Task AThinDeviceIsMadeFormattedMountedAndKeepsItsData()
    {
        var pool = await NewPoolAsync();
        var device = await pool.CreateThinAsync("base", 64 * MiB - 100, Context);
        Assert.Equal((ThinDeviceState.Created, ThinDeviceKind.Thin, 64 * MiB), (device.State, device.Kind, device.SizeBytes));
        Assert.InRange(device.DeviceId, 1, ThinPoolNames.MaxDeviceId);

        var path = await pool.ActivateAsync("base", Context);
        Assert.Equal(Native.Libc.S_IFBLK, Native.Libc.FileType(path));
        Assert.Equal(path, await pool.ActivateAsync("base", Context)); // idempotent: nothing attached twice
        Assert.Equal((ThinDeviceState.Activated, path), (pool.GetDevice("base").State, pool.GetDevice("base").DevicePath));

        await pool.FormatExt4Async("base", Context);
        await using (var mount = await pool.MountAsync("base", false, Context))
        {
            Assert.StartsWith(Path.Combine(StorePath, "mounts", PoolName) + "/", mount.Path, StringComparison.Ordinal);
            Assert.Contains(MountTable.Read(), m => m.MountPoint == mount.Path && m.FileSystemType == "ext4");
            await File.WriteAllTextAsync(Path.Combine(mount.Path, "hello.txt"), "hello");
        }

        await pool.DeactivateAsync("base", Context);
        Assert.Equal(ThinDeviceState.Deactivated, pool.GetDevice("base").State);
        Assert.Null(pool.GetDevice("base").DevicePath);
        Assert.False(await pool.Driver.IsActiveAsync(device.DeviceId, CancellationToken.None));
        await pool.DeactivateAsync("base", Context); // idempotent

        await pool.ActivateAsync("base", Context);
        await using (var mount = await pool.MountAsync("base", readOnly: true, Context))
        {
            Assert.Equal("hello", await File.ReadAllTextAsync(Path.Combine(mount.Path, "hello.txt")));
            Assert.ThrowsAny<IOException>(() => File.WriteAllText(Path.Combine(mount.Path, "no.txt"), "x"));
        }

        await pool.DeleteAsync("base", Context);
        Assert.Null(pool.FindDevice("base"));
        Assert.False(await pool.Driver.IsActiveAsync(device.DeviceId, CancellationToken.None));
    }

    [SkippableFact]
    public async Task ASnapshotOfAnActiveMountedOriginHoldsItsDataAndTheOriginIsResumed()
    {
        var pool = await NewPoolAsync();
        await MakeFormattedAsync(pool, "origin");
        await using var originMount = await pool.MountAsync("origin", false, Context);
        await File.WriteAllTextAsync(Path.Combine(originMount.Path, "before.txt"), "written before the snapshot, not synced");

        var snap = await pool.CreateSnapshotAsync("snap", "origin", Context);
        Assert.Equal((ThinDeviceKind.Snapshot, pool.GetDevice("origin").DeviceId, ThinDeviceState.Created), (snap.Kind, snap.OriginId, snap.State));
        var origin = pool.GetDevice("origin");
        Assert.Equal((ThinDeviceState.Activated, (string?)null), (origin.State, origin.StateDetail));

        // the origin is not left suspended or frozen: writing to it completes
        var write = Task.Run(() => File.WriteAllText(Path.Combine(originMount.Path, "after.txt"), "written after"));
        Assert.True(write.Wait(TimeSpan.FromSeconds(60)), "the origin stayed suspended: a write to it hangs");

        await pool.ActivateAsync("snap", Context);
        await using (var snapMount = await pool.MountAsync("snap", false, Context))
        {
            Assert.Equal("written before the snapshot, not synced", await File.ReadAllTextAsync(Path.Combine(snapMount.Path, "before.txt")));
            Assert.False(File.Exists(Path.Combine(snapMount.Path, "after.txt")));
        }

        await originMount.UnmountAsync(Context);
        Assert.False(originMount.IsMounted);
        await pool.DeleteAsync("snap", Context);
        await pool.DeleteAsync("origin", Context);
    }

    [SkippableFact]
    public async Task ASnapshotOfAnInactiveDeviceNeedsNoSuspendAndSnapshotsChain()
    {
        var pool = await NewPoolAsync();
        await MakeFormattedAsync(pool, "a");
        await using (var m = await pool.MountAsync("a", false, Context))
        {
            await File.WriteAllTextAsync(Path.Combine(m.Path, "a.txt"), "a");
        }

        await pool.DeactivateAsync("a", Context);
        await pool.CreateSnapshotAsync("b", "a", Context);
        await pool.CreateSnapshotAsync("c", "b", Context);
        Assert.Equal(ThinDeviceState.Deactivated, pool.GetDevice("a").State);
        await pool.ActivateAsync("c", Context);
        await using (var m = await pool.MountAsync("c", readOnly: true, Context))
        {
            Assert.Equal("a", await File.ReadAllTextAsync(Path.Combine(m.Path, "a.txt")));
        }
    }

    [SkippableFact]
    public async Task AKillBetweenTheWriteAheadRecordAndThePoolCallLeavesAFaultyDeviceWhoseIdIsNeverReused()
    {
        var pool = await NewPoolAsync();
        await pool.CreateThinAsync("first", 16 * MiB, Context);

        // exactly what CreateThinAsync writes before it calls the pool; the process "dies" here
        var half = pool.Repository.BeginCreate(pool.Name, "half", ThinDeviceKind.Thin, null, 16 * MiB);

        var report = await pool.ReconcileAsync(Context);
        Assert.Contains(report.MarkedFaulty, d => d.Contains("'half'", StringComparison.Ordinal));
        var faulty = pool.GetDevice("half");
        Assert.Equal(ThinDeviceState.Faulty, faulty.State);
        Assert.Contains("interrupted while Creating", faulty.StateDetail, StringComparison.Ordinal);
        Assert.Contains(Context.Warnings, w => w.Contains("Faulty", StringComparison.Ordinal));

        var next = await pool.CreateThinAsync("next", 16 * MiB, Context);
        Assert.True(next.DeviceId > half.DeviceId, $"id {half.DeviceId} of the Faulty device was handed out again");
        Assert.Equal(ErrorIds.ThinDeviceStateInvalid, (await Assert.ThrowsAnyAsync<FlyException>(() => pool.ActivateAsync("half", Context))).ErrorId);
        Assert.Equal(ErrorIds.ThinDeviceStateInvalid, (await Assert.ThrowsAnyAsync<FlyException>(() => pool.CreateSnapshotAsync("s", "half", Context))).ErrorId);

        // a second reconciliation changes nothing; deleting the Faulty device frees its id
        Assert.Empty((await pool.ReconcileAsync(Context)).MarkedFaulty);
        await pool.DeleteAsync("half", Context);
        Assert.Null(pool.FindDevice("half"));
    }

    [SkippableFact]
    public async Task ReconciliationReactivatesAfterARebootResumesSuspendedDevicesAndFinishesDeletions()
    {
        var pool = await NewPoolAsync();
        await MakeFormattedAsync(pool, "active");
        await pool.CreateThinAsync("gone", 16 * MiB, Context);
        await pool.CreateThinAsync("frozen", 16 * MiB, Context);
        await pool.ActivateAsync("frozen", Context);

        // "frozen": the process died after suspending an origin for a snapshot
        var frozen = pool.GetDevice("frozen");
        await pool.Driver.SuspendAsync(frozen.DeviceId, CancellationToken.None);
        pool.Repository.SetState(pool.Name, frozen.DeviceId, ThinDeviceState.Suspended);

        // "gone": the process died after recording Removing
        var gone = pool.GetDevice("gone");
        pool.Repository.SetState(pool.Name, gone.DeviceId, ThinDeviceState.Removing);

        // "active": a reboot deactivated it behind the record's back
        var active = pool.GetDevice("active");
        await pool.Driver.DeactivateAsync(active.DeviceId, CancellationToken.None);

        var report = await pool.ReconcileAsync(Context);
        Assert.Empty(report.Errors);
        Assert.Contains(report.Reactivated, d => d.Contains("'active'", StringComparison.Ordinal));
        Assert.Contains(report.Resumed, d => d.Contains("'frozen'", StringComparison.Ordinal));
        Assert.Contains(report.Completed, d => d.Contains("'gone'", StringComparison.Ordinal));
        Assert.Null(pool.FindDevice("gone"));
        Assert.Equal(ThinDeviceState.Activated, pool.GetDevice("frozen").State);
        Assert.True(await pool.Driver.IsActiveAsync(active.DeviceId, CancellationToken.None));
        Assert.Equal(ThinDeviceState.Activated, pool.GetDevice("active").State);

        // the resumed device takes I/O again
        var path = await pool.ActivateAsync("frozen", Context);
        var io = Task.Run(() =>
        {
            using var s = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
            s.Write(new byte[4096]);
            s.Flush(flushToDisk: true);
        });
        Assert.True(io.Wait(TimeSpan.FromSeconds(60)), "the device stayed suspended");
        await using var m = await pool.MountAsync("active", false, Context);
    }

    [SkippableFact]
    public async Task ReconciliationReportsDevicesNoRecordExplainsAndLeavesThemAlone()
    {
        var pool = await NewPoolAsync();
        const int strayId = 4242;
        await pool.Driver.CreateThinAsync(strayId, 16 * MiB, CancellationToken.None);
        try
        {
            await pool.Driver.ActivateAsync(strayId, 16 * MiB, CancellationToken.None);
            var report = await pool.ReconcileAsync(Context);
            Assert.Contains(report.Unexplained, u => u.Contains("4242", StringComparison.Ordinal));
            Assert.True(await pool.Driver.IsActiveAsync(strayId, CancellationToken.None));
        }
        finally
        {
            await pool.Driver.DeactivateAsync(strayId, CancellationToken.None);
            await pool.Driver.DeleteAsync(strayId, 16 * MiB, Context);
        }
    }

    [SkippableFact]
    public async Task DeactivatingADeviceSomeoneHoldsOpenIsBusyThenWorksOnceReleased()
    {
        var pool = await NewPoolAsync();
        await pool.CreateThinAsync("held", 16 * MiB, Context);
        var path = await pool.ActivateAsync("held", Context);
        var id = pool.GetDevice("held").DeviceId;

        var holder = new FileStream(path, FileMode.Open, FileAccess.Read);
        try
        {
            var busy = await Assert.ThrowsAnyAsync<FlyException>(() => pool.DeactivateAsync("held", Context));
            Assert.Equal(ErrorIds.ThinDeviceBusy, busy.ErrorId);
            var record = pool.GetDevice("held");
            Assert.Equal(ThinDeviceState.Deactivating, record.State); // the trying state stays, with the error
            Assert.False(string.IsNullOrEmpty(record.StateDetail));
            Assert.Contains(Context.Verbose, v => v.Contains("busy", StringComparison.Ordinal));
        }
        finally
        {
            holder.Dispose();
        }

        await pool.DeactivateAsync("held", Context);
        Assert.Equal(ThinDeviceState.Deactivated, pool.GetDevice("held").State);
        Assert.False(await pool.Driver.IsActiveAsync(id, CancellationToken.None));
    }

    [SkippableFact]
    public async Task DeletingAMountedDeviceIsRefusedAsBusyAndNothingIsLost()
    {
        var pool = await NewPoolAsync();
        await MakeFormattedAsync(pool, "mounted");
        var mount = await pool.MountAsync("mounted", false, Context);
        try
        {
            await File.WriteAllTextAsync(Path.Combine(mount.Path, "keep.txt"), "keep");
            var e = await Assert.ThrowsAnyAsync<FlyException>(() => pool.DeleteAsync("mounted", Context));
            Assert.Equal(ErrorIds.ThinDeviceBusy, e.ErrorId);
            Assert.NotNull(pool.FindDevice("mounted"));
            Assert.Equal("keep", await File.ReadAllTextAsync(Path.Combine(mount.Path, "keep.txt")));
        }
        finally
        {
            await mount.DisposeAsync();
        }

        Assert.False(Directory.Exists(mount.Path));
        await pool.DeleteAsync("mounted", Context);
        Assert.Null(pool.FindDevice("mounted"));
    }

    [SkippableFact]
    public async Task MountsLeftByProcessesThatDiedAreUnmountedWhenTheDeviceIsDeleted()
    {
        var pool = await NewPoolAsync();
        var path = await MakeFormattedAsync(pool, "orphaned");
        var id = pool.GetDevice("orphaned").DeviceId;
        using var child = System.Diagnostics.Process.Start("true");
        await child.WaitForExitAsync();
        var self = Operations.ProcessIdentity.Current;
        // what a killed install leaves: the device mounted on a mount point named after its process;
        // one process has exited, the other pid now runs a process started at another time
        var parent = ThinPoolLayout.MountsDirectory(StorePath, PoolName);
        var orphans = new[] { $"{id}-{child.Id}-1-0a0b0c0d0e0f", $"{id}-{self.Pid}-{self.StartTicks + 1}-0a0b0c0d0e0f" }.Select(n => Path.Combine(parent, n)).ToList();
        foreach (var orphan in orphans)
        {
            Directory.CreateDirectory(orphan);
            Assert.Equal(0, Native.Libc.Pools.Mount(path, orphan, "ext4", 0, null));
        }

        var neverMounted = Path.Combine(parent, $"{id}-{child.Id}-1-0f0e0d0c0b0a"); // died between mkdir and mount
        Directory.CreateDirectory(neverMounted);
        var otherDevice = Path.Combine(parent, $"{id + 1}-{child.Id}-1-0f0e0d0c0b0a"); // not this device's: stays
        Directory.CreateDirectory(otherDevice);

        await pool.DeleteAsync("orphaned", Context);

        Assert.Null(pool.FindDevice("orphaned"));
        Assert.Empty(MountTable.Below(parent));
        Assert.All(orphans.Append(neverMounted), o => Assert.False(Directory.Exists(o)));
        Assert.True(Directory.Exists(otherDevice));
        Assert.Equal(2, Context.Warnings.Count(w => w.Contains("by a process that ended", StringComparison.Ordinal)));
    }

    [SkippableFact]
    public async Task ASmallPoolFilledToItsFloorRefusesNewDevicesAndShowsItsFigures()
    {
        var pool = await NewPoolAsync(dataSize: 64 * MiB, floor: 25);
        await pool.CreateThinAsync("filler", 64 * MiB, Context);
        var path = await pool.ActivateAsync("filler", Context);
        var chunk = new byte[MiB];
        new Random(7).NextBytes(chunk);
        using (var s = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            for (var i = 0; i < 52; i++)
            {
                s.Write(chunk);
            }

            s.Flush(flushToDisk: true);
        }

        var status = await pool.GetStatusAsync(Context);
        Assert.InRange(status.DataUsedBytes, 50 * MiB, 56 * MiB);
        var refused = await Assert.ThrowsAnyAsync<FlyException>(() => pool.CreateThinAsync("more", 16 * MiB, Context));
        Assert.Equal(ErrorIds.ThinPoolBelowFloor, refused.ErrorId);
        Assert.Contains("64.0 MiB", refused.Message, StringComparison.Ordinal);
        Assert.Contains("25%", refused.Message, StringComparison.Ordinal);
        Assert.Null(pool.FindDevice("more"));
        Assert.Equal(ErrorIds.ThinPoolBelowFloor, (await Assert.ThrowsAnyAsync<FlyException>(() => pool.CreateSnapshotAsync("snap", "filler", Context))).ErrorId);

        await pool.DeleteAsync("filler", Context);
        await pool.CreateThinAsync("more", 16 * MiB, Context);
    }

    [SkippableFact]
    public async Task InitializeIsIdempotentAndBringsThePoolBackAfterAReboot()
    {
        var pool = await NewPoolAsync();
        await MakeFormattedAsync(pool, "kept");
        await using (var m = await pool.MountAsync("kept", false, Context))
        {
            await File.WriteAllTextAsync(Path.Combine(m.Path, "k.txt"), "kept");
        }

        var again = (ThinPool)(await Catalog.InitializeAsync(new ThinPoolSpec { Name = PoolName, Backend = Backend, DataSize = 512 * MiB }, Context))!;
        Assert.Equal(256 * MiB, again.Record.DataSize); // an existing pool is left alone
        Assert.Contains(Context.Warnings, w => w.Contains("left alone", StringComparison.Ordinal));
        Assert.Single(Catalog.List());

        await SimulateRebootAsync(again);
        Catalog.ForgetReconciled();
        // loop devices of this store only: test classes run in parallel and attach and detach their own
        int StoreLoops() => LoopDevices.List().Count(l => l.BackingFile.StartsWith(RealStorePath + "/", StringComparison.Ordinal));
        var loopsBefore = StoreLoops();

        var back = (ThinPool)(await Catalog.InitializeAsync(new ThinPoolSpec { Name = PoolName }, Context))!;
        Assert.Equal(ThinPoolMode.ReadWrite, (await back.GetStatusAsync(Context)).Mode);
        Assert.Equal(ThinDeviceState.Activated, back.GetDevice("kept").State);
        await using (var m = await back.MountAsync("kept", readOnly: true, Context))
        {
            Assert.Equal("kept", await File.ReadAllTextAsync(Path.Combine(m.Path, "k.txt")));
        }

        // a third run attaches nothing more
        var loops = StoreLoops();
        Assert.True(loops > loopsBefore);
        await Catalog.InitializeAsync(new ThinPoolSpec { Name = PoolName }, Context);
        await Catalog.OpenDefaultAsync(Context);
        Assert.Equal(loops, StoreLoops());
    }

    [SkippableFact]
    public async Task ConcurrentStepsFromTwoOpenPoolsGetDistinctIdsAndConsistentRecords()
    {
        var first = await NewPoolAsync();
        var second = await Catalog.OpenAsync(PoolName, new RecordingContext());
        var made = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => (i % 2 == 0 ? (IThinPool)first : second).CreateThinAsync($"c{i}", 16 * MiB, Context))));
        Assert.Equal(8, made.Select(d => d.DeviceId).Distinct().Count());
        var paths = await Task.WhenAll(made.Select((d, i) => Task.Run(() => (i % 2 == 0 ? second : (IThinPool)first).ActivateAsync(d.Name, Context))));
        Assert.Equal(8, paths.Distinct().Count());
        Assert.All(first.ListDevices(), d => Assert.Equal(ThinDeviceState.Activated, d.State));
        await Task.WhenAll(made.Select((d, i) => Task.Run(() => (i % 2 == 0 ? (IThinPool)first : second).DeleteAsync(d.Name, Context))));
        Assert.Empty(first.ListDevices());
    }

    [SkippableFact]
    public async Task ConcurrentInitializesOfOnePoolMakeItOnceAndAllGetIt()
    {
        RequireBackend();
        poolMade = true;
        var spec = new ThinPoolSpec { Name = PoolName, Backend = Backend, DataSize = 256 * MiB, ReflinkFilesystem = ReflinkFilesystem };
        var pools = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => Task.Run(() => Catalog.InitializeAsync(spec, new RecordingContext()))));
        Assert.All(pools, p => Assert.Equal(PoolName, p!.Name));
        Assert.Single(Catalog.List());
        await MakeFormattedAsync(pools[2]!, "works");
        Assert.Equal(ThinPoolMode.ReadWrite, (await pools[0]!.GetStatusAsync(Context)).Mode);
    }

    [SkippableFact]
    public async Task WhatIfChangesNothing()
    {
        RequireBackend();
        var asked = new RecordingContext(proceed: false);
        var pool = await Catalog.InitializeAsync(new ThinPoolSpec { Name = PoolName, Backend = Backend, DataSize = 64 * MiB }, asked);
        Assert.Null(pool);
        Assert.NotEmpty(asked.Questions);
        Assert.Empty(Catalog.List());
        Assert.False(Directory.Exists(Path.Combine(StorePath, "pools", PoolName)));
        Assert.Empty(await LeaksAsync());
    }

    [SkippableFact]
    public async Task StatusShowsTheFiguresAndTheDevices()
    {
        var pool = await NewPoolAsync();
        await pool.CreateThinAsync("one", 16 * MiB, Context);
        await pool.CreateSnapshotAsync("two", "one", Context);
        var status = await pool.GetStatusAsync(Context);
        Assert.Equal((PoolName, ThinPoolMode.ReadWrite, 2, 64 * 1024L, true), (status.Name, status.Mode, status.DeviceCount, status.BlockSizeBytes, status.IsDefault));
        Assert.Equal(256 * MiB, status.DataTotalBytes);
        Assert.InRange(status.DataUsedPercent, 0, 10);
        Assert.False(string.IsNullOrEmpty(status.ComputerName));
        Assert.Equal(10, status.FreeSpaceFloorPercent);
        Assert.Equal(2, pool.ListDevices().Count);
    }

    [SkippableFact]
    public async Task NamesAreCheckedAndDuplicatesRefused()
    {
        var pool = await NewPoolAsync();
        await pool.CreateThinAsync("sha256:abc/../../etc", 16 * MiB, Context); // any text: it never reaches a path or a dm name
        Assert.Equal(ErrorIds.ThinDeviceExists, (await Assert.ThrowsAnyAsync<FlyException>(() => pool.CreateThinAsync("sha256:abc/../../etc", 16 * MiB, Context))).ErrorId);
        Assert.Equal(ErrorIds.ThinDeviceNameInvalid, (await Assert.ThrowsAnyAsync<FlyException>(() => pool.CreateThinAsync("bad\nname", 16 * MiB, Context))).ErrorId);
        Assert.Equal(ErrorIds.ThinDeviceNameInvalid, (await Assert.ThrowsAnyAsync<FlyException>(() => pool.CreateThinAsync("#foreign-1", 16 * MiB, Context))).ErrorId);
        Assert.Equal(ErrorIds.ThinPoolSizeInvalid, (await Assert.ThrowsAnyAsync<FlyException>(() => pool.CreateThinAsync("zero", 0, Context))).ErrorId);
        Assert.Equal(ErrorIds.ThinDeviceNotFound, (await Assert.ThrowsAnyAsync<FlyException>(() => pool.ActivateAsync("missing", Context))).ErrorId);
        Assert.Equal(ErrorIds.ThinDeviceNotFound, (await Assert.ThrowsAnyAsync<FlyException>(() => pool.CreateSnapshotAsync("s", "missing", Context))).ErrorId);
        Assert.Equal(ErrorIds.ThinDeviceStateInvalid, (await Assert.ThrowsAnyAsync<FlyException>(() => pool.MountAsync("sha256:abc/../../etc", false, Context))).ErrorId);
    }

    [SkippableFact]
    public async Task RemovingThePoolLeavesNoLoopDevicesMountsOrDmDevices()
    {
        var pool = await NewPoolAsync();
        await MakeFormattedAsync(pool, "x");
        await using (await pool.MountAsync("x", false, Context))
        {
        }

        await pool.CreateSnapshotAsync("y", "x", Context);
        await pool.ActivateAsync("y", Context);
        Assert.True(await Catalog.RemoveAsync(PoolName, Context));
        Assert.Empty(Catalog.List());
        Assert.Empty(await LeaksAsync());
        Assert.False(Directory.Exists(Path.Combine(StorePath, "pools", PoolName)));
    }
}
