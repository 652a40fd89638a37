using FlyImages.Errors;
using FlyImages.Operations;
using FlyImages.State;
using Microsoft.Data.Sqlite;

namespace FlyImages.Engine;

/// <summary>What a lease is on: one active owner per (kind, key).</summary>
public readonly record struct LeaseKey(string Kind, string Key)
{
    public override string ToString() => $"{Kind} '{Key}'";
}

/// <summary>Who holds a lease, as the store records it.</summary>
public sealed record LeaseOwner(ProcessIdentity Process, string Token, DateTimeOffset AcquiredAt, DateTimeOffset ExpiresAt)
{
    public override string ToString() => $"{Process} (lease until {ExpiresAt:HH:mm:ss}Z)";
}

/// <summary>
/// Leases in the store. A lease has an owner (host, boot id, pid, process start time, and a token per
/// acquisition, so two threads of one process are two owners) and an expiry that a heartbeat pushes
/// forward while work runs. A lease whose expiry passed, or whose owner is certainly dead (same host:
/// rebooted, pid gone, or pid reused by a later process), is taken over.
/// </summary>
public sealed class LeaseManager(FlyStore store)
{
    /// <summary>The default time-to-live: the heartbeat renews at a third of it.</summary>
    public static readonly TimeSpan DefaultTtl = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan FirstPoll = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan LongestPoll = TimeSpan.FromSeconds(1);

    public FlyStore Store { get; } = store;

    /// <summary>The identity written as owner (this process; tests may pose as another).</summary>
    public ProcessIdentity Self { get; init; } = ProcessIdentity.Current;

    /// <summary>
    /// Acquires the lease on <paramref name="key"/>, waiting (polling with backoff, cancellable) while a
    /// live owner holds it. <paramref name="onWait"/> is told once who it waits for.
    /// </summary>
    public async Task<Lease> AcquireAsync(LeaseKey key, TimeSpan ttl, CancellationToken cancellationToken, Action<LeaseOwner>? onWait = null)
    {
        var delay = FirstPoll;
        var told = false;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (lease, holder) = TryTake(key, ttl);
            if (lease is not null)
            {
                return lease;
            }

            if (!told && holder is not null)
            {
                onWait?.Invoke(holder);
                told = true;
            }

            await Task.Delay(delay + TimeSpan.FromMilliseconds(Random.Shared.Next(0, (int)(delay.TotalMilliseconds / 2) + 1)), cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, LongestPoll.Ticks));
        }
    }

    /// <summary>Acquires the lease on <paramref name="key"/> if nobody alive holds it; null otherwise (never waits).</summary>
    public Lease? TryAcquire(LeaseKey key, TimeSpan ttl) => TryTake(key, ttl).Lease;

    /// <summary>The recorded owner of <paramref name="key"/>, if any (alive or not).</summary>
    public LeaseOwner? Owner(LeaseKey key) => Store.Read((c, t) => ReadOwner(c, t, key));

    /// <summary>Every lease held now by an owner that is alive (not expired, not dead on this host).</summary>
    public IReadOnlyList<(LeaseKey Key, LeaseOwner Owner)> Live()
    {
        var now = DateTimeOffset.UtcNow;
        return Store.Read(All).Where(l => !IsStale(l.Owner, now)).ToList();
    }

    /// <summary>
    /// Deletes the leases whose owner is certainly dead on this host (a process killed after its work
    /// was done, before it released them: nothing will ever take them over, as nothing is left to do).
    /// Returns what it deleted.
    /// </summary>
    public IReadOnlyList<(LeaseKey Key, LeaseOwner Owner)> ReleaseDead() => Store.Write<IReadOnlyList<(LeaseKey Key, LeaseOwner Owner)>>((c, t) =>
    {
        var dead = All(c, t).Where(l => ProcessIdentity.IsDeadOnThisHost(l.Owner.Process)).ToList();
        foreach (var (key, owner) in dead)
        {
            c.Exec(t, "DELETE FROM leases WHERE kind = $k AND key = $key AND token = $tok;", ("$k", key.Kind), ("$key", key.Key), ("$tok", owner.Token));
        }

        return dead;
    });

    /// <summary>Whether <paramref name="owner"/> can be taken over now: expired, or dead on this host.</summary>
    public static bool IsStale(LeaseOwner owner, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(owner);
        return owner.ExpiresAt <= now || ProcessIdentity.IsDeadOnThisHost(owner.Process);
    }

    private (Lease? Lease, LeaseOwner? Holder) TryTake(LeaseKey key, TimeSpan ttl)
    {
        if (ttl <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ttl), ttl, "A lease needs a positive time-to-live.");
        }

        var token = Guid.NewGuid().ToString("N");
        return Store.Write((c, t) =>
        {
            var now = DateTimeOffset.UtcNow;
            var holder = ReadOwner(c, t, key);
            if (holder is not null && !IsStale(holder, now))
            {
                return ((Lease?)null, holder);
            }

            var at = StoreTime.Format(now);
            c.Exec(t, """
                INSERT INTO leases(kind, key, token, host, boot_id, pid, start_ticks, acquired_at, renewed_at, expires_at)
                VALUES ($k, $key, $tok, $host, $boot, $pid, $start, $at, $at, $exp)
                ON CONFLICT(kind, key) DO UPDATE SET token = excluded.token, host = excluded.host, boot_id = excluded.boot_id, pid = excluded.pid,
                    start_ticks = excluded.start_ticks, acquired_at = excluded.acquired_at, renewed_at = excluded.renewed_at, expires_at = excluded.expires_at;
                """, ("$k", key.Kind), ("$key", key.Key), ("$tok", token), ("$host", Self.Host), ("$boot", Self.BootId), ("$pid", Self.Pid),
                ("$start", Self.StartTicks), ("$at", at), ("$exp", StoreTime.Format(now + ttl)));
            return (new Lease(this, key, token, ttl, holder), (LeaseOwner?)null);
        });
    }

    internal bool Renew(LeaseKey key, string token, TimeSpan ttl)
        => Store.Write((c, t) => c.Exec(t, "UPDATE leases SET renewed_at = $now, expires_at = $exp WHERE kind = $k AND key = $key AND token = $tok;",
            ("$now", StoreTime.Now()), ("$exp", StoreTime.Format(DateTimeOffset.UtcNow + ttl)), ("$k", key.Kind), ("$key", key.Key), ("$tok", token)) == 1);

    internal void Release(LeaseKey key, string token)
        => Store.Write((c, t) => c.Exec(t, "DELETE FROM leases WHERE kind = $k AND key = $key AND token = $tok;",
            ("$k", key.Kind), ("$key", key.Key), ("$tok", token)));

    private static List<(LeaseKey Key, LeaseOwner Owner)> All(SqliteConnection c, SqliteTransaction t)
        => c.Query(t, "SELECT kind, key, host, boot_id, pid, start_ticks, token, acquired_at, expires_at FROM leases ORDER BY kind, key;",
            r => (new LeaseKey(r.GetString(0), r.GetString(1)), new LeaseOwner(new ProcessIdentity(r.GetString(2), r.GetString(3), r.GetInt32(4), r.GetInt64(5)), r.GetString(6),
                StoreTime.Parse(r.GetString(7)), StoreTime.Parse(r.GetString(8)))));

    private static LeaseOwner? ReadOwner(SqliteConnection c, SqliteTransaction t, LeaseKey key)
        => c.Query(t, "SELECT host, boot_id, pid, start_ticks, token, acquired_at, expires_at FROM leases WHERE kind = $k AND key = $key;",
            r => new LeaseOwner(new ProcessIdentity(r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetInt64(3)), r.GetString(4),
                StoreTime.Parse(r.GetString(5)), StoreTime.Parse(r.GetString(6))), ("$k", key.Kind), ("$key", key.Key)).SingleOrDefault();
}

/// <summary>
/// A held lease. A heartbeat renews it every third of its time-to-live; when a renewal finds it taken
/// over, <see cref="Lost"/> is cancelled so the work stops. Dispose to release it.
/// </summary>
public sealed class Lease : IAsyncDisposable, IDisposable
{
    private readonly LeaseManager manager;
    private readonly CancellationTokenSource lost = new();
    private readonly CancellationTokenSource stop = new();
    private readonly Task heartbeat;
    private int disposed;

    internal Lease(LeaseManager manager, LeaseKey key, string token, TimeSpan ttl, LeaseOwner? takenOverFrom)
    {
        this.manager = manager;
        Key = key;
        Token = token;
        Ttl = ttl;
        TakenOverFrom = takenOverFrom;
        heartbeat = Task.Run(HeartbeatAsync);
    }

    public LeaseKey Key { get; }

    public string Token { get; }

    public TimeSpan Ttl { get; }

    /// <summary>The stale owner this lease replaced (dead or expired), if there was one.</summary>
    public LeaseOwner? TakenOverFrom { get; }

    /// <summary>Cancelled when the lease was found taken over: stop working at once.</summary>
    public CancellationToken Lost => lost.Token;

    /// <summary>Throws when the lease was lost.</summary>
    public void ThrowIfLost()
    {
        if (lost.IsCancellationRequested)
        {
            throw new FlyException(ErrorIds.LeaseUnavailable, FlyErrorCategory.ResourceBusy, $"The lease on {Key} was taken over by another owner.", Key.Key);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }

        await stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await heartbeat.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        try
        {
            manager.Release(Key, Token);
        }
        catch (Exception e) when (e is FlyException or SqliteException or IOException)
        {
            // the store is unavailable: the lease expires on its own; never mask the caller's own outcome
        }
        finally
        {
            stop.Dispose();
            lost.Dispose();
        }
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>Stops renewing without releasing, as an owner that vanished would (tests model crashed owners with it).</summary>
    internal void Abandon() => stop.Cancel();

    private async Task HeartbeatAsync()
    {
        var period = TimeSpan.FromTicks(Math.Max(Ttl.Ticks / 3, TimeSpan.FromMilliseconds(10).Ticks));
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(period, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                if (!manager.Renew(Key, Token, Ttl))
                {
                    await lost.CancelAsync().ConfigureAwait(false);
                    return;
                }
            }
#pragma warning disable CA1031 // the heartbeat must outlive any failure of one renewal
            catch (Exception)
            {
                // a busy or briefly unavailable store: try again on the next beat (the expiry has slack)
            }
#pragma warning restore CA1031
        }
    }
}
