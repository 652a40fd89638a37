using System.Security.Cryptography;
using FlyImages.Health;
using FlyImages.Native;
using FlyImages.Processes;
using FlyImages.TestSupport;
using FlyImages.ThinPools.DeviceMapper;
using Xunit;

namespace FlyImages.Tests.ThinPools;

/// <summary>
/// <see cref="DmControl"/> against the kernel's real device-mapper (tests/vm), each result checked with dmsetup, an
/// independent reader of the same kernel state. Devices use the <c>error</c> target, which is built into dm-mod, so
/// no backing device is needed; thin-pools are covered by DeviceMapperThinPoolTests. Elsewhere not run, never faked.
/// </summary>
[Trait(Requirements.Category, Requirements.DeviceMapper)]
public sealed class DmControlTests : IAsyncLifetime
{
    private readonly DmControl dm = new(TimeSpan.FromMinutes(1));
    private readonly string prefix = "flyimages-dmtest-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (!Requirements.HasDeviceMapper)
        {
            return;
        }

        foreach (var name in await OursAsync())
        {
            await DmsetupCli.RunAsync("resume", name);
            await DmsetupCli.RunAsync("remove", name);
        }

        foreach (var node in Directory.EnumerateFileSystemEntries(DmControl.MapperDirectory, prefix + "*"))
        {
            File.Delete(node);
        }
    }

    [SkippableFact]
    public async Task A_device_is_created_read_suspended_resumed_and_removed_as_dmsetup_sees_it()
    {
        Requirements.RequireDeviceMapper();
        var name = prefix + "-a";
        await dm.CreateAsync(name, [new DmTarget(0, 2048, "error", ""), new DmTarget(2048, 1024, "error", "")], CancellationToken.None);

        Assert.Equal(Lines(await DmsetupCli.OutputAsync("table", name)), Lines(DmTarget.Text(await dm.TableAsync(name, CancellationToken.None))));
        Assert.Equal(Lines(await DmsetupCli.OutputAsync("status", name)), Lines(DmTarget.Text(await dm.StatusAsync(name, CancellationToken.None))));
        var info = await dm.InfoAsync(name, CancellationToken.None);
        Assert.NotNull(info);
        Assert.False(info.Suspended);
        Assert.Equal((await DmsetupCli.OutputAsync("info", "-c", "--noheadings", "-o", "major,minor", "--separator", ":", name)).Trim(), info.Device);

        // the node is a block device of that number, made without udev
        Assert.Equal(0, Libc.statx(Libc.AT_FDCWD, Path.Combine(DmControl.MapperDirectory, name), Libc.AT_SYMLINK_NOFOLLOW, Libc.STATX_BASIC_STATS, out var st));
        Assert.Equal(Libc.S_IFBLK, st.Mode & Libc.S_IFMT);
        Assert.Equal((info.Major, info.Minor), (st.RdevMajor, st.RdevMinor));
        Assert.Contains((name, "error"), (await dm.TargetsOfTypeAsync("error", CancellationToken.None)).Select(t => (t.Name, t.Target.Type)));

        await dm.SuspendAsync(name, CancellationToken.None);
        Assert.True((await dm.InfoAsync(name, CancellationToken.None))!.Suspended);
        Assert.Contains("SUSPENDED", await DmsetupCli.OutputAsync("info", name), StringComparison.Ordinal);
        await dm.ResumeAsync(name, CancellationToken.None);
        Assert.False((await dm.InfoAsync(name, CancellationToken.None))!.Suspended);

        await dm.RemoveAsync(name, CancellationToken.None);
        Assert.Null(await dm.InfoAsync(name, CancellationToken.None));
        Assert.False(File.Exists(Path.Combine(DmControl.MapperDirectory, name)));
        Assert.DoesNotContain(name, await DmsetupCli.OutputAsync("ls"), StringComparison.Ordinal);

        var again = await Assert.ThrowsAsync<DeviceMapperException>(() => dm.RemoveAsync(name, CancellationToken.None));
        Assert.Equal(DmErrno.NoDeviceOrAddress, again.Errno);
        Assert.Equal(DmErrno.NoDeviceOrAddress, (await Assert.ThrowsAsync<DeviceMapperException>(() => dm.TableAsync(name, CancellationToken.None))).Errno);
    }

    [SkippableFact]
    public async Task A_table_the_kernel_refuses_fails_with_its_reason_and_leaves_no_device()
    {
        Requirements.RequireDeviceMapper();
        var name = prefix + "-bad";
        var e = await Assert.ThrowsAsync<DeviceMapperException>(() => dm.CreateAsync(name, [new DmTarget(0, 2048, "linear", "/nonexistent/flyimages 0")], CancellationToken.None));
        Assert.Contains("load the table of", e.Message, StringComparison.Ordinal);
        Assert.Contains("/nonexistent/flyimages", e.Message, StringComparison.Ordinal);
        Assert.Null(await dm.InfoAsync(name, CancellationToken.None));
        Assert.DoesNotContain(name, await DmsetupCli.OutputAsync("ls"), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(DmControl.MapperDirectory, name)));

        var unknown = await Assert.ThrowsAsync<DeviceMapperException>(() => dm.CreateAsync(name, [new DmTarget(0, 2048, "no-such-target", "")], CancellationToken.None));
        Assert.Equal(DmErrno.InvalidArgument, unknown.Errno);
        Assert.Null(await dm.InfoAsync(name, CancellationToken.None));
    }

    [SkippableFact]
    public async Task A_taken_name_is_refused_and_the_device_that_has_it_is_untouched()
    {
        Requirements.RequireDeviceMapper();
        var name = prefix + "-taken";
        await dm.CreateAsync(name, [new DmTarget(0, 2048, "error", "")], CancellationToken.None);
        var before = await DmsetupCli.OutputAsync("table", name);

        var e = await Assert.ThrowsAsync<DeviceMapperException>(() => dm.CreateAsync(name, [new DmTarget(0, 4096, "error", "")], CancellationToken.None));
        Assert.Equal(DmErrno.Exists, e.Errno);
        Assert.Equal(before, await DmsetupCli.OutputAsync("table", name));
        Assert.Equal(Libc.S_IFBLK, Libc.FileType(Path.Combine(DmControl.MapperDirectory, name)));

        // a message the target does not take is EINVAL, named with the message
        var m = await Assert.ThrowsAsync<DeviceMapperException>(() => dm.MessageAsync(name, "create_thin 1", null, CancellationToken.None));
        Assert.Equal(DmErrno.InvalidArgument, m.Errno);
        Assert.Contains("create_thin 1", m.Message, StringComparison.Ordinal);
        await dm.RemoveAsync(name, CancellationToken.None);
    }

    [SkippableFact]
    public async Task Nodes_follow_the_kernel_and_a_file_that_is_not_a_node_is_never_replaced()
    {
        Requirements.RequireDeviceMapper();
        var name = prefix + "-node";
        var node = Path.Combine(DmControl.MapperDirectory, name);

        // a stale block node for a device the kernel does not have is unlinked
        Assert.Equal(0, Libc.Pools.Mknod(node, Libc.S_IFBLK | 0x180, DmIoctl.EncodeDevice(7, 250)));
        await dm.SyncNodeAsync(name, CancellationToken.None);
        Assert.Null(Libc.FileType(node));

        // a lost node of a live device is made again
        await dm.CreateAsync(name, [new DmTarget(0, 2048, "error", "")], CancellationToken.None);
        File.Delete(node);
        await dm.SyncNodeAsync(name, CancellationToken.None);
        Assert.Equal(Libc.S_IFBLK, Libc.FileType(node));
        await dm.RemoveAsync(name, CancellationToken.None);

        // a regular file where the node would go is left alone, and the create fails without a device
        await File.WriteAllTextAsync(node, "not ours");
        var e = await Assert.ThrowsAsync<DeviceMapperException>(() => dm.CreateAsync(name, [new DmTarget(0, 2048, "error", "")], CancellationToken.None));
        Assert.Contains("is not a device node", e.Message, StringComparison.Ordinal);
        Assert.Equal("not ours", await File.ReadAllTextAsync(node));
        Assert.Null(await dm.InfoAsync(name, CancellationToken.None));
        File.Delete(node);
    }

    [SkippableTheory]
    [InlineData("../../tmp/flyimages-escape")]
    [InlineData("a/b")]
    [InlineData("")]
    public async Task Hostile_names_are_refused_before_any_call(string name)
    {
        Requirements.RequireDeviceMapper();
        var e = await Assert.ThrowsAsync<DeviceMapperException>(() => dm.CreateAsync(name, [new DmTarget(0, 2048, "error", "")], CancellationToken.None));
        Assert.Equal(DmErrno.InvalidArgument, e.Errno);
        Assert.False(File.Exists("/tmp/flyimages-escape"));
    }

    [SkippableFact]
    public async Task The_driver_answers_with_interface_version_4_as_dmsetup_and_Get_FlyHost_report_it()
    {
        Requirements.RequireDeviceMapper();
        Assert.StartsWith("4.", DeviceMapperProbe.DriverVersion(), StringComparison.Ordinal);
        var dmsetup = (await DmsetupCli.OutputAsync("version")).Split('\n').Single(l => l.StartsWith("Driver version:", StringComparison.Ordinal));
        Assert.Equal(dmsetup["Driver version:".Length..].Trim(), DeviceMapperProbe.DriverVersion());

        // Get-FlyHost's view of it
        using var none = new TempDirectory("flyimages-dmhost");
        var host = await HostInspector.ReadAsync(none.Combine("store"), null, null, new RecordingContext());
        Assert.True(host.DeviceMapperAvailable);
        Assert.Equal(DeviceMapperProbe.DriverVersion(), host.DeviceMapperVersion);
    }

    /// <summary>Lines without trailing blanks (dmsetup ends a target with no parameters with a space).</summary>
    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd()).ToArray();

    private async Task<IReadOnlyList<string>> OursAsync()
        => (await DmsetupCli.OutputAsync("ls")).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split('\t', ' ')[0]).Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).ToList();
}

/// <summary>Where the kernel has no device-mapper (this host in CI; never the VM): a call says so plainly, as NotInstalled.</summary>
public sealed class DmControlWithoutDeviceMapperTests
{
    [SkippableFact]
    public async Task A_call_on_a_kernel_without_device_mapper_says_so()
    {
        Skip.If(Requirements.HasDeviceMapper, "this kernel has device-mapper; the test checks the error where it has none");
        Requirements.RequireRoot();
        var e = await Assert.ThrowsAsync<DeviceMapperException>(() => new DmControl(TimeSpan.FromSeconds(30)).TableAsync("flyimages-none", CancellationToken.None));
        Assert.Equal(FlyImages.Errors.FlyErrorCategory.NotInstalled, e.Category);
        Assert.Equal(DmErrno.NoDevice, e.Errno);
        Assert.Contains("This kernel has no device-mapper", e.Message, StringComparison.Ordinal);
        Assert.Null(DeviceMapperProbe.DriverVersion());
    }
}
