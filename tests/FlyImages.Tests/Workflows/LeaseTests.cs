using FlyImages.Engine;
using FlyImages.Operations;
using FlyImages.State;
using FlyImages.Workflows;
using Xunit;

namespace FlyImages.Tests.Workflows;

public sealed class LeaseTests : IDisposable
{
    private static readonly LeaseKey Key = new(WorkflowKinds.InstallImage, "s3://bucket/images/golang");
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(30);
    private readonly WorkflowHarness h = new();

    private LeaseManager Leases => new(h.Store);

    [Fact]
    public void This_process_is_identified_by_host_boot_pid_and_start_time()
    {
        var self = ProcessIdentity.Current;
        Assert.Equal(Environment.ProcessId, self.Pid);
        Assert.True(self.StartTicks > 0);
        Assert.Equal(self.StartTicks, ProcessIdentity.StartTicksOf(Environment.ProcessId));
        Assert.False(ProcessIdentity.IsDeadOnThisHost(self));
        Assert.Null(ProcessIdentity.StartTicksOf(int.MaxValue));
        Assert.True(ProcessIdentity.IsDeadOnThisHost(self with { Pid = int.MaxValue }));
        Assert.True(ProcessIdentity.IsDeadOnThisHost(self with { StartTicks = self.StartTicks + 1 })); // pid reused by a later process
        Assert.True(ProcessIdentity.IsDeadOnThisHost(self with { BootId = "another-boot" }));
        Assert.False(ProcessIdentity.IsDeadOnThisHost(self with { Host = "other-host", Pid = int.MaxValue })); // cannot judge another host
    }

    [Fact]
    public async Task A_held_lease_is_exclusive_and_released_on_dispose()
    {
        var first = Leases.TryAcquire(Key, Ttl);
        Assert.NotNull(first);
        Assert.Null(first.TakenOverFrom);
        Assert.Null(Leases.TryAcquire(Key, Ttl)); // same process, another owner (thread): alive, not taken over
        Assert.NotNull(Leases.TryAcquire(Key with { Key = "other" }, Ttl));
        Assert.Equal(first.Token, Leases.Owner(Key)!.Token);
        await first.DisposeAsync();
        Assert.Null(Leases.Owner(Key));
        await using var second = Leases.TryAcquire(Key, Ttl);
        Assert.NotNull(second);
    }

    [Theory]
    [InlineData("dead pid")]
    [InlineData("pid reused")]
    [InlineData("rebooted")]
    [InlineData("expired on another host")]
    public async Task A_stale_owner_is_taken_over(string how)
    {
        var self = ProcessIdentity.Current;
        var stale = how switch
        {
            "dead pid" => self with { Pid = int.MaxValue },
            "pid reused" => self with { StartTicks = self.StartTicks - 1 },
            "rebooted" => self with { BootId = Guid.NewGuid().ToString() },
            _ => self with { Host = "elsewhere" },
        };
        var ghost = new LeaseManager(h.Store) { Self = stale };
        var held = ghost.TryAcquire(Key, how.StartsWith("expired", StringComparison.Ordinal) ? TimeSpan.FromMilliseconds(1) : Ttl);
        Assert.NotNull(held);
        // the ghost owner is gone: its heartbeat no longer renews (a live one would keep pushing a 1 ms expiry ahead)
        held.Abandon();
        if (how.StartsWith("expired", StringComparison.Ordinal))
        {
            await WorkflowHarness.WaitUntil(() => Leases.Owner(Key)!.ExpiresAt <= DateTimeOffset.UtcNow, "the lease to expire");
        }

        await using var taken = Leases.TryAcquire(Key, Ttl);
        Assert.NotNull(taken);
        Assert.Equal(stale, taken.TakenOverFrom!.Process);
        Assert.Equal(self, Leases.Owner(Key)!.Process);
    }

    [Fact]
    public async Task Recovery_releases_the_lease_of_an_owner_killed_after_its_work_ended_and_keeps_live_ones()
    {
        // a process killed between making the image Ready and releasing its lease: nothing would ever take it over
        await h.RunAsync(WorkflowHarness.Image("golang"), new FakeSteps());
        var key = new LeaseKey(WorkflowKinds.InstallImage, InstallWorkflow.KeyOf(WorkflowHarness.Source, "golang"));
        new LeaseManager(h.Store) { Self = ProcessIdentity.Current with { Pid = int.MaxValue } }.TryAcquire(key, Ttl)!.Abandon();
        var elsewhere = new LeaseKey(WorkflowKinds.InstallImage, InstallWorkflow.KeyOf(WorkflowHarness.Source, "node"));
        var remote = new LeaseManager(h.Store) { Self = ProcessIdentity.Current with { Host = "elsewhere", Pid = int.MaxValue } }.TryAcquire(elsewhere, Ttl)!;
        await using var live = Leases.TryAcquire(new LeaseKey(WorkflowKinds.MakeChain, "sha256:live"), Ttl);
        Assert.NotNull(Leases.Owner(key));

        Assert.Empty(await new WorkflowRecovery(h.Store).RecoverAsync(CancellationToken.None)); // no workflow had work in flight
        Assert.Null(Leases.Owner(key));
        Assert.Equal(remote.Token, Leases.Owner(elsewhere)!.Token); // another host's owner cannot be judged dead
        Assert.Equal(live!.Token, Leases.Owner(live.Key)!.Token);
        remote.Abandon();
    }

    [Fact]
    public void A_live_owner_on_another_host_is_respected_until_its_lease_expires()
    {
        var remote = new LeaseManager(h.Store) { Self = ProcessIdentity.Current with { Host = "elsewhere", Pid = int.MaxValue } };
        Assert.NotNull(remote.TryAcquire(Key, Ttl));
        Assert.Null(Leases.TryAcquire(Key, Ttl));
    }

    [Fact]
    public async Task Waiting_blocks_until_the_owner_releases_and_is_cancellable()
    {
        var first = Leases.TryAcquire(Key, Ttl)!;
        LeaseOwner? waitedFor = null;
        var waiting = Leases.AcquireAsync(Key, Ttl, CancellationToken.None, o => waitedFor = o);
        await WorkflowHarness.WaitUntil(() => waitedFor is not null, "the waiter to see the owner");
        Assert.False(waiting.IsCompleted);
        Assert.Equal(first.Token, waitedFor!.Token);
        await first.DisposeAsync();
        await using (var second = await waiting)
        {
            Assert.Null(second.TakenOverFrom);

            using var cancel = new CancellationTokenSource();
            var third = Leases.AcquireAsync(Key, Ttl, cancel.Token);
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => third);
        }
    }

    [Fact]
    public async Task The_heartbeat_renews_and_a_taken_over_lease_reports_it_lost()
    {
        var ttl = TimeSpan.FromMilliseconds(300);
        await using var lease = Leases.TryAcquire(Key, ttl)!;
        var firstExpiry = Leases.Owner(Key)!.ExpiresAt;
        await WorkflowHarness.WaitUntil(() => Leases.Owner(Key)!.ExpiresAt > firstExpiry, "a heartbeat renewal");
        Assert.False(lease.Lost.IsCancellationRequested);

        // another owner takes it over (as if we had been judged dead)
        h.KillLeaseOwners();
        await using var usurper = Leases.TryAcquire(Key, Ttl);
        Assert.NotNull(usurper);
        await WorkflowHarness.WaitUntil(() => lease.Lost.IsCancellationRequested, "the heartbeat to notice the takeover");
        Assert.Throws<Errors.FlyException>(lease.ThrowIfLost);
        // releasing a lost lease does not release the new owner's
        await lease.DisposeAsync();
        Assert.Equal(usurper.Token, Leases.Owner(Key)!.Token);
    }

    public void Dispose() => h.Dispose();
}
