using System.Diagnostics;
using System.Globalization;
using FlyImages.Engine;
using FlyImages.Health;
using FlyImages.Lifecycle;
using FlyImages.Operations;
using FlyImages.Processes;
using FlyImages.State;
using FlyImages.TestSupport;
using FlyImages.Tests.ThinPools;
using FlyImages.Workflows;
using Xunit;

namespace FlyImages.Tests.Lifecycle;

/// <summary>
/// A collection releases the mount points dead processes left below the store's mounts folder, each reported and journaled;
/// one of a live process stays. Real mounts (tmpfs, as root); the names are those ThinPoolLayout.NewMountPoint makes.
/// </summary>
public sealed class OrphanMountTests : IDisposable
{
    private readonly TempDirectory dir = new("flyimages-orphan-mounts");
    private readonly List<string> mounted = [];

    [SkippableFact]
    public async Task A_collection_unmounts_and_removes_mount_points_of_dead_processes_and_reports_each_but_keeps_a_live_ones()
    {
        Requirements.RequireRoot();
        var store = FlyStore.Open(dir.Path);
        var deadPid = await DeadPidAsync();
        var self = ProcessIdentity.Current;
        var folder = Path.Combine(store.RootPath, "mounts", "p1");
        var deadMounted = Path.Combine(folder, Invariant($"7-{deadPid}-12345-aaaaaaaaaaaa"));
        var deadEmpty = Path.Combine(folder, Invariant($"8-{deadPid}-12345-bbbbbbbbbbbb"));
        var live = Path.Combine(folder, Invariant($"9-{self.Pid}-{self.StartTicks}-cccccccccccc"));
        foreach (var path in new[] { deadMounted, deadEmpty, live })
        {
            Directory.CreateDirectory(path);
        }

        await MountTmpfsAsync(deadMounted);
        await MountTmpfsAsync(live);
        var context = new RecordingContext();

        // the health check finds leaks with the same finder: the dead process's mount leaks, its empty folder and the live mount do not
        var leaks = await LeaksCheckOf(store);
        Assert.Equal(StoreCheckStatus.Failed, leaks.Status);
        Assert.Contains(Invariant($"mount {deadMounted} was left by a process that is gone"), leaks.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(deadEmpty, leaks.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(live, leaks.Message, StringComparison.Ordinal);
        var policy = new CollectionPolicy { HighPercent = 100, LowPercent = 99.9 };

        // -WhatIf names both, touches neither
        var whatIf = await new ImageCollector(store).CollectAsync(policy, context, whatIf: true);
        Assert.Equal(2, whatIf.Orphans.Count(o => o.StartsWith("mount point", StringComparison.Ordinal)));
        Assert.Equal(2, Leaks.MountsUnder(folder).Count);

        var result = await new ImageCollector(store).CollectAsync(policy, context);

        var reported = result.Orphans.Where(o => o.StartsWith("mount point", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, reported.Count);
        Assert.Contains(reported, o => o.Contains(deadMounted, StringComparison.Ordinal) && o.Contains("of device 7 in pool 'p1' (still mounted)", StringComparison.Ordinal)
            && o.Contains(Invariant($"left by process {deadPid} that is gone"), StringComparison.Ordinal));
        Assert.Contains(reported, o => o.Contains(deadEmpty, StringComparison.Ordinal) && o.Contains("(empty)", StringComparison.Ordinal));
        Assert.Equal(2, context.Warnings.Count(w => w.StartsWith("Collected an orphan: mount point", StringComparison.Ordinal)));
        Assert.False(Directory.Exists(deadMounted));
        Assert.False(Directory.Exists(deadEmpty));
        Assert.Equal([live], Leaks.MountsUnder(folder).Select(MountPointOf));
        Assert.True(Directory.Exists(live));

        var journaled = WorkflowEvents.Query(store, kind: WorkflowKinds.Lifecycle).Where(e => e.Image == LifecycleJournal.OrphansSubject).ToList();
        Assert.Equal(2, journaled.Count);
        Assert.All(journaled, e => Assert.Equal(LifecycleTriggers.Orphan, e.Trigger));
        Assert.Contains(journaled, e => e.Detail!.Contains(deadMounted, StringComparison.Ordinal));

        Assert.DoesNotContain("was left by a process", (await LeaksCheckOf(store)).Message, StringComparison.Ordinal);

        // nothing more to collect the next time
        var again = await new ImageCollector(store).CollectAsync(policy, new RecordingContext());
        Assert.DoesNotContain(again.Orphans, o => o.StartsWith("mount point", StringComparison.Ordinal));
    }

    private static Task<CheckOutcome> LeaksCheckOf(FlyStore store)
        => new LeaksCheck().RunAsync(new StoreCheckContext(store.RootPath, store, new StoreCheckOptions(), new RecordingContext()));

    public void Dispose()
    {
        foreach (var path in mounted)
        {
            ProcessRunner.RunAsync("umount", [path], TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
        }

        dir.Dispose();
    }

    private async Task MountTmpfsAsync(string path)
    {
        await ProcessRunner.RunCheckedAsync("mount", ["-t", "tmpfs", "-o", "size=1m", "flyimages-test", path], TimeSpan.FromSeconds(30));
        mounted.Add(path);
    }

    /// <summary>The pid of a process that ran and ended (its number is not reused this quickly, and its start time would differ anyway).</summary>
    private static async Task<int> DeadPidAsync()
    {
        using var p = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false }) ?? throw new InvalidOperationException("true did not start");
        var pid = p.Id;
        await p.WaitForExitAsync();
        return pid;
    }

    private static string MountPointOf(string mountInfoLine) => mountInfoLine.Split(' ')[4];

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
