using System.Diagnostics;
using FlyImages.State;

namespace FlyImages.Health;

/// <summary>
/// The application service behind <c>Test-FlyImageStore</c>: runs health checks of a store, one at a time, and turns each
/// outcome into a <see cref="StoreCheckResult"/>. The built-in checks come first; callers add their own (script checks).
/// </summary>
public static class StoreHealth
{
    /// <summary>The store_info key of the time the last round of checks passed.</summary>
    internal const string LastPassKey = "health_last_passed_at";

    /// <summary>The built-in checks, in the order they run.</summary>
    public static IReadOnlyList<IStoreCheck> BuiltIn { get; } =
    [
        new DatabaseCheck(),
        new BlobsCheck(),
        new ChainDevicesCheck(),
        new SnapshotDevicesCheck(),
        new PoolsCheck(),
        new SourceCheck(),
        new LeaksCheck(),
        new LeasesCheck(),
    ];

    /// <summary>Opens the store at <paramref name="storePath"/> for checking, or null when none exists (never creates one).</summary>
    public static FlyStore? OpenForCheck(string storePath)
    {
        try
        {
            return FlyStore.OpenExisting(storePath);
        }
        catch (Errors.FlyException)
        {
            // the Database check says what is wrong with it
            return null;
        }
    }

    /// <summary>
    /// Runs one check. A check that throws (anything but cancellation) fails with the exception's message: a broken check
    /// must not hide the others.
    /// </summary>
    public static async Task<StoreCheckResult> RunAsync(IStoreCheck check, StoreCheckContext context, int iteration)
    {
        ArgumentNullException.ThrowIfNull(check);
        ArgumentNullException.ThrowIfNull(context);
        var clock = Stopwatch.StartNew();
        CheckOutcome outcome;
        try
        {
            outcome = await check.RunAsync(context).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            outcome = CheckOutcome.Fail($"The check failed to run: {e.Message}");
        }

        return new StoreCheckResult
        {
            Check = check.Name,
            Status = outcome.Status,
            Message = Engine.WorkflowJournal.Clean(outcome.Message) ?? "",
            Duration = clock.Elapsed,
            Iteration = iteration,
            StorePath = context.StorePath,
        };
    }

    /// <summary>Runs every check in order; the results in the same order.</summary>
    public static async Task<IReadOnlyList<StoreCheckResult>> RunAllAsync(IEnumerable<IStoreCheck> checks, StoreCheckContext context, int iteration)
    {
        ArgumentNullException.ThrowIfNull(checks);
        var results = new List<StoreCheckResult>();
        foreach (var check in checks)
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            results.Add(await RunAsync(check, context, iteration).ConfigureAwait(false));
        }

        return results;
    }

    /// <summary>Records that a round of checks passed at <paramref name="at"/> (for the metrics); best effort.</summary>
    public static void RecordPass(FlyStore? store, DateTimeOffset at)
    {
        if (store is null)
        {
            return;
        }

        try
        {
            store.Write((c, t) => c.Exec(t, "INSERT INTO store_info(key, value) VALUES ($k, $v) ON CONFLICT(key) DO UPDATE SET value = excluded.value;",
                ("$k", LastPassKey), ("$v", StoreTime.Format(at))));
        }
        catch (Exception e) when (e is Errors.FlyException or Microsoft.Data.Sqlite.SqliteException)
        {
            // a read-only store can still be checked
        }
    }

    /// <summary>When a round of checks last passed, if one did.</summary>
    public static DateTimeOffset? LastPass(FlyStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        var text = store.Read((c, t) => c.Scalar<string>(t, "SELECT value FROM store_info WHERE key = $k;", ("$k", LastPassKey)));
        return text is null ? null : StoreTime.Parse(text);
    }
}
