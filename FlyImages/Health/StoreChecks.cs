using System.Globalization;
using System.Security.Cryptography;
using FlyImages.Content;
using FlyImages.Operations;
using FlyImages.State;

namespace FlyImages.Health;

/// <summary>The database answers PRAGMA quick_check (with -Deep: integrity_check) with "ok".</summary>
public sealed class DatabaseCheck : IStoreCheck
{
    public string Name => "Database";

    public Task<CheckOutcome> RunAsync(StoreCheckContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Store is not { } store)
        {
            return Task.FromResult(CheckOutcome.Fail($"There is no store at '{context.StorePath}' ({FlyStore.DatabaseFileName} is missing)."));
        }

        var pragma = context.Options.Deep ? "integrity_check" : "quick_check";
        var rows = store.Read((c, t) => c.Query(t, $"PRAGMA {pragma}(20);", r => r.GetString(0)));
        var version = store.SchemaVersion();
        return Task.FromResult(rows is ["ok"]
            ? CheckOutcome.Pass($"PRAGMA {pragma}: ok (schema version {version})")
            : CheckOutcome.Fail($"PRAGMA {pragma} of '{store.DatabasePath}': {string.Join("; ", rows.Take(5).Select(WorkflowTextClean))}"));
    }

    private static string WorkflowTextClean(string text) => Engine.WorkflowJournal.Clean(text) ?? "";
}

/// <summary>Every blob the store records is present with its recorded size (with -Deep: its sha256 matches its digest).</summary>
public sealed class BlobsCheck : StoreCheck
{
    public override string Name => "Blobs";

    protected override async Task<CheckOutcome> RunAsync(StoreCheckContext context, FlyStore store)
    {
        var blobs = store.Read((c, t) => c.Query(t, "SELECT digest, size FROM blobs ORDER BY digest;", r => (Digest: r.GetString(0), Size: r.GetInt64(1))));
        var problems = new List<string>();
        long bytes = 0;
        foreach (var (digest, size) in blobs)
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            bytes += size;
            if (!ContentPaths.IsValidDigest(digest))
            {
                problems.Add($"{Short(digest)} has an invalid digest");
                continue;
            }

            var path = ContentPaths.BlobPath(store.RootPath, digest);
            var file = new FileInfo(path);
            if (!file.Exists || file.LinkTarget is not null)
            {
                problems.Add($"{Short(digest)} is missing ({path})");
            }
            else if (file.Length != size)
            {
                problems.Add($"{Short(digest)} has {file.Length} bytes, {size} recorded");
            }
            else if (context.Options.Deep && await HashAsync(path, context.CancellationToken).ConfigureAwait(false) != digest)
            {
                problems.Add($"{Short(digest)} does not hash to its digest");
            }
        }

        var what = string.Create(CultureInfo.InvariantCulture, $"{blobs.Count} blobs, {bytes} bytes{(context.Options.Deep ? ", re-hashed" : "")}");
        return problems.Count == 0 ? CheckOutcome.Pass(what + ": all present") : CheckOutcome.Fail($"{what}: {Problems.Join(problems)}");
    }

    internal static string Short(string digest) => digest.Length > 19 ? digest[..19] : digest;

    private static async Task<string> HashAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan | FileOptions.Asynchronous);
        return ContentPaths.FormatDigest(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false));
    }
}

/// <summary>No lease is held by an owner that is gone (a dead process on this host, or a previous boot).</summary>
public sealed class LeasesCheck : StoreCheck
{
    public override string Name => "Leases";

    protected override Task<CheckOutcome> RunAsync(StoreCheckContext context, FlyStore store)
    {
        var leases = store.Read((c, t) => c.Query(t, "SELECT kind, key, host, boot_id, pid, start_ticks FROM leases ORDER BY kind, key;",
            r => (Kind: r.GetString(0), Key: r.GetString(1), Owner: new ProcessIdentity(r.GetString(2), r.GetString(3), r.GetInt32(4), r.GetInt64(5)))));
        var dead = leases.Where(l => ProcessIdentity.IsDeadOnThisHost(l.Owner)).Select(l => $"{l.Kind} '{Engine.WorkflowJournal.Clean(l.Key)}' held by {l.Owner} (gone)").ToList();
        return Task.FromResult(dead.Count == 0
            ? CheckOutcome.Pass(string.Create(CultureInfo.InvariantCulture, $"{leases.Count} leases held, none by a dead owner"))
            : CheckOutcome.Fail($"{dead.Count} of {leases.Count} leases are held by a dead owner: {Problems.Join(dead)}. The next install or Remove takes them over."));
    }
}

/// <summary>Joins the first few problems of a check into its message.</summary>
internal static class Problems
{
    public const int Shown = 5;

    public static string Join(IReadOnlyCollection<string> problems)
        => string.Join("; ", problems.Take(Shown)) + (problems.Count > Shown ? string.Create(CultureInfo.InvariantCulture, $"; and {problems.Count - Shown} more") : "");
}
