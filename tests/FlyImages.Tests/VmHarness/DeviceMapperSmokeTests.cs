using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using FlyImages.Processes;
using FlyImages.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace FlyImages.Tests.VmHarness;

/// <summary>
/// A canary for tests/vm: real device-mapper driven through <see cref="ProcessRunner"/> (dmsetup,
/// losetup, mkfs.ext4, mount) — a loop-backed thin-pool, a thin device with a filesystem, a thin
/// snapshot of it, copy-on-write checked both ways, everything torn down. When this fails inside
/// the VM the harness (kernel modules, /dev/mapper nodes, loop devices) is broken, not FlyImages.
/// </summary>
[Trait(Requirements.Category, Requirements.DeviceMapper)]
public sealed class DeviceMapperSmokeTests(ITestOutputHelper output)
{
    private const long Sector = 512;
    private const long DataBytes = 512L << 20;
    private const long MetaBytes = 16L << 20;
    private const long ThinBytes = 256L << 20;
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(2);

    [SkippableFact]
    public async Task ThinSnapshotKeepsTheOriginsContentAndTearsDownCompletely()
    {
        Requirements.RequireDeviceMapper();
        Requirements.RequireLoopDevices();

        var prefix = "flyvm-smoke-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var root = Directory.CreateTempSubdirectory(prefix + "-").FullName;
        var cleanup = new Stack<(string What, Func<Task> Undo)>();
        cleanup.Push(("delete " + root, () => { Directory.Delete(root, recursive: true); return Task.CompletedTask; }));

        Exception? failure = null;
        try
        {
            await RunSequenceAsync(prefix, root, cleanup);
        }
        catch (Exception e)
        {
            failure = e;
        }

        var cleanupErrors = new List<string>();
        while (cleanup.TryPop(out var step))
        {
            try
            {
                await step.Undo();
            }
            catch (Exception e)
            {
                cleanupErrors.Add($"{step.What}: {e.Message}");
                output.WriteLine($"cleanup failed: {step.What}: {e.Message}");
            }
        }

        if (failure is not null)
        {
            ExceptionDispatchInfo.Throw(failure);
        }

        Assert.Empty(cleanupErrors);
        var left = await Run("dmsetup", "ls");
        Assert.DoesNotContain(prefix, left.StandardOutput, StringComparison.Ordinal);
    }

    private async Task RunSequenceAsync(string prefix, string root, Stack<(string What, Func<Task> Undo)> cleanup)
    {
        var metaFile = Path.Combine(root, "meta.img");
        var dataFile = Path.Combine(root, "data.img");
        CreateSparse(metaFile, MetaBytes);
        CreateSparse(dataFile, DataBytes);

        var meta = await AttachLoopAsync(metaFile, cleanup);
        var data = await AttachLoopAsync(dataFile, cleanup);

        // <start> <length> thin-pool <metadata dev> <data dev> <block size> <low water mark> <#features> <features>
        var pool = prefix + "-pool";
        await CreateDeviceAsync(pool, $"0 {DataBytes / Sector} thin-pool {meta} {data} 128 1024 1 skip_block_zeroing", cleanup);
        await Run("dmsetup", "message", pool, "0", "create_thin 0");
        var origin = prefix + "-thin";
        await CreateDeviceAsync(origin, $"0 {ThinBytes / Sector} thin /dev/mapper/{pool} 0", cleanup);

        await Run("mkfs.ext4", "-q", "-F", "-E", "nodiscard,lazy_itable_init=1", "/dev/mapper/" + origin);
        var originMount = Path.Combine(root, "origin");
        var before = RandomNumberGenerator.GetBytes(64 << 10);
        await WithMountAsync("/dev/mapper/" + origin, originMount, readOnly: false, cleanup, dir =>
            File.WriteAllBytesAsync(Path.Combine(dir, "canary.bin"), before));

        // A thin snapshot of an active origin needs the origin suspended while the pool records it.
        await Run("dmsetup", "suspend", origin);
        try
        {
            await Run("dmsetup", "message", pool, "0", "create_snap 1 0");
        }
        finally
        {
            await Run("dmsetup", "resume", origin);
        }

        var snapshot = prefix + "-snap";
        await CreateDeviceAsync(snapshot, $"0 {ThinBytes / Sector} thin /dev/mapper/{pool} 1", cleanup);

        // Copy-on-write: changing the origin afterwards must not show through the snapshot.
        var after = RandomNumberGenerator.GetBytes(64 << 10);
        await WithMountAsync("/dev/mapper/" + origin, originMount, readOnly: false, cleanup, dir =>
            File.WriteAllBytesAsync(Path.Combine(dir, "canary.bin"), after));

        var snapshotMount = Path.Combine(root, "snapshot");
        byte[] seen = [];
        await WithMountAsync("/dev/mapper/" + snapshot, snapshotMount, readOnly: true, cleanup, async dir =>
            seen = await File.ReadAllBytesAsync(Path.Combine(dir, "canary.bin")));
        Assert.Equal(before, seen);

        await WithMountAsync("/dev/mapper/" + origin, originMount, readOnly: true, cleanup, async dir =>
            seen = await File.ReadAllBytesAsync(Path.Combine(dir, "canary.bin")));
        Assert.Equal(after, seen);

        // "0 <len> thin-pool <transaction id> <used>/<total meta blocks> <used>/<total data blocks> ..."
        var status = (await Run("dmsetup", "status", pool)).StandardOutput.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        output.WriteLine("pool status: " + string.Join(' ', status));
        Assert.Equal("thin-pool", status[2]);
        Assert.True(long.Parse(status[5].Split('/')[0], System.Globalization.CultureInfo.InvariantCulture) > 0, "the pool should have allocated data blocks");
    }

    private static void CreateSparse(string path, long length)
    {
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        file.SetLength(length);
    }

    private async Task<string> AttachLoopAsync(string file, Stack<(string What, Func<Task> Undo)> cleanup)
    {
        var device = (await Run("losetup", "--find", "--show", file)).StandardOutput.Trim();
        Assert.StartsWith("/dev/loop", device, StringComparison.Ordinal);
        cleanup.Push(("detach " + device, () => Run("losetup", "--detach", device)));
        return device;
    }

    private async Task CreateDeviceAsync(string name, string table, Stack<(string What, Func<Task> Undo)> cleanup)
    {
        await Run("dmsetup", "create", name, "--table", table);
        cleanup.Push(("remove " + name, () => Run("dmsetup", "remove", name)));
        Assert.True(File.Exists("/dev/mapper/" + name), $"/dev/mapper/{name} should exist after dmsetup create");
    }

    private async Task WithMountAsync(string device, string directory, bool readOnly, Stack<(string What, Func<Task> Undo)> cleanup, Func<string, Task> use)
    {
        Directory.CreateDirectory(directory);
        await Run("mount", "-t", "ext4", "-o", readOnly ? "ro,noload" : "rw", device, directory);
        var undo = ("unmount " + directory, (Func<Task>)(() => Run("umount", directory)));
        cleanup.Push(undo);
        await use(directory);
        await Run("umount", directory);
        cleanup.Pop();
    }

    private async Task<ProcessResult> Run(string file, params string[] arguments)
    {
        var result = await ProcessRunner.RunCheckedAsync(file, arguments, CommandTimeout);
        output.WriteLine($"{result.CommandText} ({result.Duration.TotalMilliseconds:0} ms)");
        return result;
    }
}
