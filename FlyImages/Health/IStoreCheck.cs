using FlyImages.Operations;
using FlyImages.Sources;
using FlyImages.State;

namespace FlyImages.Health;

/// <summary>What a check is given: the store (null when none exists), the options, and how to report.</summary>
public sealed record StoreCheckContext(string StorePath, FlyStore? Store, StoreCheckOptions Options, IOperationContext Operation)
{
    public CancellationToken CancellationToken => Operation.CancellationToken;
}

/// <summary>Options of a round of checks.</summary>
public sealed record StoreCheckOptions
{
    /// <summary>Re-hash every blob and run PRAGMA integrity_check (instead of checking sizes and quick_check).</summary>
    public bool Deep { get; init; }

    /// <summary>The source to reach (null: the Source check is skipped).</summary>
    public SourceOptions? Source { get; init; }
}

/// <summary>One health check of a store. Checks only read; a problem is a failed outcome, never an exception.</summary>
public interface IStoreCheck
{
    /// <summary>The check's name (a word: Database, Blobs...).</summary>
    string Name { get; }

    Task<CheckOutcome> RunAsync(StoreCheckContext context);
}

/// <summary>A check of the store's contents: skipped when there is no store.</summary>
public abstract class StoreCheck : IStoreCheck
{
    public abstract string Name { get; }

    public Task<CheckOutcome> RunAsync(StoreCheckContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Store is { } store ? RunAsync(context, store) : Task.FromResult(CheckOutcome.Skip("There is no store."));
    }

    /// <summary>Checks <paramref name="store"/>, the store of <paramref name="context"/>.</summary>
    protected abstract Task<CheckOutcome> RunAsync(StoreCheckContext context, FlyStore store);
}
