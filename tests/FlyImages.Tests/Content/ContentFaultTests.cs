using FlyImages.Content;
using FlyImages.Errors;
using FlyImages.State;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Tests.Content;

/// <summary>Faults injected between the fetcher and s3rver: transient ones are survived, corruption never reaches the store, persistent ones end in one clear error, and interrupted downloads resume.</summary>
[Collection(ContentS3Collection.Name)]
public sealed class ContentFaultTests(ContentS3 s3) : IDisposable
{
    private const long Part = 1024 * 1024;
    private readonly ContentTestBed bed = new(s3);

    public static TheoryData<string> TransientFaults => ["reset", "truncate", "500", "503", "stall", "extra"];

    [Theory]
    [MemberData(nameof(TransientFaults))]
    public async Task A_transient_fault_is_survived_and_the_blob_is_exact(string kind)
    {
        Fault fault = kind switch
        {
            "reset" => new Fault.ResetAfter(300_000),
            "truncate" => new Fault.Truncate(500_000),
            "500" => new Fault.Status(500),
            "503" => new Fault.Status(503),
            "stall" => new Fault.Stall(200_000, TimeSpan.FromSeconds(30)),
            _ => new Fault.ExtraBytes(10),
        };
        bed.Proxy.FaultFirst(kind is "500" or "503" ? 3 : 1, IsBigGet, fault);
        using var source = bed.Source();
        var blob = await new ContentStore(bed.Store, ContentTestBed.Fast(stallSeconds: kind == "stall" ? 1 : 10))
            .FetchLayerAsync(source, await bed.BigLayerAsync(source), bed.Context, CancellationToken.None);

        Assert.Equal(s3.BigDigest, blob.Digest);
        Assert.Equal(s3.Big, await File.ReadAllBytesAsync(blob.Path));
        Assert.Contains(bed.Proxy.Requests, r => r.Fault is not null);
        Assert.Empty(bed.PartialFiles());
    }

    [Fact]
    public async Task A_cut_connection_continues_with_a_ranged_GET_from_where_it_stopped()
    {
        bed.Proxy.FaultFirst(1, r => IsBigGet(r) && r.Range == $"bytes=0-{Part - 1}", new Fault.ResetAfter(600_000));
        using var source = bed.Source();
        var blob = await new ContentStore(bed.Store, ContentTestBed.Fast(parts: 1)).FetchLayerAsync(source, await bed.BigLayerAsync(source), bed.Context, CancellationToken.None);
        Assert.Equal(s3.BigDigest, blob.Digest);

        // the retry of part 0 asked only for what was missing
        var retry = bed.ObjectGets(ContentS3.BigKey).Where(g => g.Range is { } r && r.StartsWith("bytes=", StringComparison.Ordinal) && r.EndsWith($"-{Part - 1}", StringComparison.Ordinal) && r != $"bytes=0-{Part - 1}").ToList();
        var start = long.Parse(Assert.Single(retry).Range!["bytes=".Length..].Split('-')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(start, 1, 600_000);
    }

    [Fact]
    public async Task Flipped_bytes_are_detected_by_MD5_discarded_and_fetched_again()
    {
        bed.Proxy.FaultFirst(1, IsBigGet, new Fault.FlipByte(1000));
        using var source = bed.Source();
        var blob = await new ContentStore(bed.Store, ContentTestBed.Fast()).FetchLayerAsync(source, await bed.BigLayerAsync(source), bed.Context, CancellationToken.None);
        Assert.Equal(s3.BigDigest, blob.Digest);
        Assert.Contains(bed.Context.Warnings, w => w.Contains("MD5", StringComparison.Ordinal));
        Assert.Equal([blob.Path], bed.BlobFiles());
    }

    [Fact]
    public async Task Persistent_corruption_ends_in_one_BlobCorrupt_error_and_nothing_is_stored()
    {
        bed.Proxy.Faults = r => IsBigGet(r) ? new Fault.FlipByte(5) : null;
        using var source = bed.Source();
        var error = await Assert.ThrowsAsync<FlyException>(async () =>
            await new ContentStore(bed.Store, ContentTestBed.Fast()).FetchLayerAsync(source, await bed.BigLayerAsync(source), bed.Context, CancellationToken.None));
        Assert.Equal(ErrorIds.BlobCorrupt, error.ErrorId);
        Assert.Equal(FlyErrorCategory.InvalidData, error.Category);
        // every discarded attempt's bytes were downloaded all the same
        Assert.Equal(ContentTestBed.Fast().PartAttempts * (long)ContentS3.BigSize, StoreCounters.Read(bed.Store, StoreCounters.FetchedBytes));
        Assert.Empty(bed.BlobFiles());
        Assert.Empty(bed.PartialFiles());
        Assert.Equal(0, bed.Store.Read((c, t) => { using var cmd = c.CreateCommand(); cmd.Transaction = t; cmd.CommandText = "SELECT count(*) FROM blobs"; return Convert.ToInt32(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture); }));
    }

    [Theory]
    [InlineData("500", ErrorIds.BlobDownloadFailed)]
    [InlineData("reset", ErrorIds.BlobDownloadFailed)]
    [InlineData("extra", ErrorIds.BlobLengthMismatch)]
    public async Task A_persistent_fault_ends_in_one_clear_error_and_keeps_what_was_received(string kind, string errorId)
    {
        Fault fault = kind switch
        {
            "500" => new Fault.Status(500),
            "reset" => new Fault.ResetAfter(0),
            _ => new Fault.ExtraBytes(1),
        };
        // part 0 always fails; the others succeed and are kept for the next run
        bed.Proxy.Faults = r => IsBigGet(r) && r.Range is { } range && range.StartsWith("bytes=0-", StringComparison.Ordinal) ? fault : null;
        using var source = bed.Source();
        var layer = await bed.BigLayerAsync(source);
        // all parts at once: the others finish while part 0 is still being retried
        var error = await Assert.ThrowsAsync<FlyException>(() => new ContentStore(bed.Store, ContentTestBed.Fast(parts: 5)).FetchLayerAsync(source, layer, bed.Context, CancellationToken.None));
        Assert.Equal(errorId, error.ErrorId);
        Assert.Contains(ContentS3.BigKey, error.Message, StringComparison.Ordinal);
        Assert.Empty(bed.BlobFiles());
        Assert.Single(bed.PartialFiles());

        // the fault goes away: the next run fetches only what is missing
        bed.Proxy.Faults = null;
        bed.Proxy.Clear();
        var blob = await new ContentStore(bed.Store, ContentTestBed.Fast()).FetchLayerAsync(source, layer, bed.Context, CancellationToken.None);
        Assert.Equal(s3.BigDigest, blob.Digest);
        var again = bed.ObjectGets(ContentS3.BigKey);
        Assert.Contains(again, g => g.Range == $"bytes=0-{Part - 1}");
        Assert.True(again.Count < 5, $"{again.Count} of 5 parts fetched again");
        Assert.Empty(bed.PartialFiles());
    }

    [Fact]
    public async Task Cancelling_leaves_a_partial_file_that_the_next_run_resumes()
    {
        // parts in order, one at a time; part 2 stalls until cancelled
        var stallRange = $"bytes={2 * Part}-";
        bed.Proxy.Faults = r => IsBigGet(r) && r.Range!.StartsWith(stallRange, StringComparison.Ordinal) ? new Fault.Stall(1000, TimeSpan.FromMinutes(5)) : null;
        using var source = bed.Source();
        var layer = await bed.BigLayerAsync(source);
        using var cancel = new CancellationTokenSource();
        var options = new FetchOptions { PartSize = Part, PartConcurrency = 1, MaxPartConcurrency = 1, StallTimeout = TimeSpan.FromMinutes(5), CheckpointInterval = TimeSpan.FromMinutes(5) };
        var fetch = new ContentStore(bed.Store, options).FetchLayerAsync(source, layer, bed.Context, cancel.Token);
        await bed.Proxy.Stalling.WaitAsync(TimeSpan.FromMinutes(2)); // a hang guard: parts 0 and 1 are in, part 2 has stalled
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fetch);
        // cancelled promptly: the fetch ended while the source was still stalling (the stall and the stall timeout last 5 minutes)
        Assert.Equal(0, bed.Proxy.StallsEnded);
        Assert.Single(bed.PartialFiles());
        Assert.Empty(bed.BlobFiles());

        bed.Proxy.Faults = null;
        bed.Proxy.Clear();
        var resumed = new RecordingContext();
        var blob = await new ContentStore(bed.Store, ContentTestBed.Fast()).FetchLayerAsync(source, layer, resumed, CancellationToken.None);
        Assert.Equal(s3.BigDigest, blob.Digest);
        var ranges = bed.ObjectGets(ContentS3.BigKey).Select(g => g.Range).ToList();
        Assert.DoesNotContain($"bytes=0-{Part - 1}", ranges);
        Assert.DoesNotContain($"bytes={Part}-{(2 * Part) - 1}", ranges);
        Assert.Contains($"bytes={2 * Part}-{(3 * Part) - 1}", ranges);
        Assert.Contains(resumed.Verbose, v => v.Contains("resuming", StringComparison.Ordinal));
        Assert.Empty(bed.PartialFiles());
    }

    [Fact]
    public async Task Progress_is_made_durable_while_downloading_so_a_crash_resumes_too()
    {
        // parts 0 and 1 arrive, part 2 stalls; the periodic checkpoint records 0 and 1 without any stop
        var stallRange = $"bytes={2 * Part}-";
        bed.Proxy.Faults = r => IsBigGet(r) && r.Range!.StartsWith(stallRange, StringComparison.Ordinal) ? new Fault.Stall(1000, TimeSpan.FromMinutes(5)) : null;
        using var source = bed.Source();
        var layer = await bed.BigLayerAsync(source);
        using var cancel = new CancellationTokenSource();
        var options = new FetchOptions { PartSize = Part, PartConcurrency = 1, MaxPartConcurrency = 1, StallTimeout = TimeSpan.FromMinutes(5), CheckpointInterval = TimeSpan.FromMilliseconds(100) };
        var fetch = new ContentStore(bed.Store, options).FetchLayerAsync(source, layer, bed.Context, cancel.Token);
        byte[]? recorded = null;
        for (var i = 0; i < 500 && (recorded is null || recorded[0] != 0b11); i++)
        {
            await Task.Delay(20);
            recorded = bed.Store.Read((c, t) =>
            {
                using var cmd = c.CreateCommand();
                cmd.Transaction = t;
                cmd.CommandText = "SELECT parts_done FROM partial_downloads";
                return cmd.ExecuteScalar() as byte[];
            });
        }

        Assert.Equal(0b11, recorded![0]);

        // "crash": copy the store as it is now (no cancellation has run), then abandon the original
        using var copy = new TempDirectory("flyimages-crash");
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var file in Directory.GetFiles(bed.Store.RootPath))
        {
            File.Copy(file, Path.Combine(copy.Path, Path.GetFileName(file)));
        }

        Directory.CreateDirectory(ContentPaths.PartialDirectory(copy.Path));
        foreach (var file in bed.PartialFiles())
        {
            // the running fetch holds an exclusive lock that .NET's own file opening honours; cp(1) reads past it, as a restarted process would
            var info = new System.Diagnostics.ProcessStartInfo("cp") { ArgumentList = { "--", file, ContentPaths.PartialDirectory(copy.Path) } };
            using var cp = System.Diagnostics.Process.Start(info)!;
            await cp.WaitForExitAsync();
            Assert.Equal(0, cp.ExitCode);
        }

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fetch);

        bed.Proxy.Faults = null;
        bed.Proxy.Clear();
        var restarted = FlyStore.Open(copy.Path);
        var blob = await new ContentStore(restarted, ContentTestBed.Fast()).FetchLayerAsync(source, layer, new RecordingContext(), CancellationToken.None);
        Assert.Equal(s3.BigDigest, blob.Digest);
        var ranges = bed.ObjectGets(ContentS3.BigKey).Select(g => g.Range).ToList();
        Assert.DoesNotContain($"bytes=0-{Part - 1}", ranges);
        Assert.DoesNotContain($"bytes={Part}-{(2 * Part) - 1}", ranges);
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
    }

    [Fact]
    public async Task A_partial_file_of_another_version_of_the_object_is_discarded()
    {
        bed.Proxy.Faults = r => IsBigGet(r) && r.Range!.StartsWith("bytes=0-", StringComparison.Ordinal) ? new Fault.Status(500) : null;
        using var source = bed.Source();
        var layer = await bed.BigLayerAsync(source);
        await Assert.ThrowsAsync<FlyException>(() => new ContentStore(bed.Store, ContentTestBed.Fast()).FetchLayerAsync(source, layer, bed.Context, CancellationToken.None));
        Assert.Single(bed.PartialFiles());

        // the store believes the object has another ETag now (as if it changed): the old partial file goes
        var changed = new FlyImages.Model.Layer { Index = 1, Key = layer.Key, Size = layer.Size, ETag = "0123456789abcdef0123456789abcdef" };
        bed.Proxy.Faults = null;
        var error = await Assert.ThrowsAsync<FlyException>(() => new ContentStore(bed.Store, ContentTestBed.Fast()).FetchLayerAsync(source, changed, bed.Context, CancellationToken.None));
        // s3rver ignores If-Match; the returned ETag differs from the expected one: the object changed
        Assert.Equal(ErrorIds.SourceObjectChanged, error.ErrorId);
        Assert.Empty(bed.PartialFiles());
        Assert.Empty(bed.BlobFiles());
    }

    private static bool IsBigGet(ProxiedRequest r) => ContentTestBed.IsBigGet(r) && r.Range is not null;

    public void Dispose() => bed.Dispose();
}
