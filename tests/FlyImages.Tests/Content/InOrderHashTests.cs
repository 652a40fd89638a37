using FlyImages.Content;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Tests.Content;

/// <summary>
/// The in-order hasher follows a part as its bytes are written, not only once the part is complete: a reader of the
/// incoming blob gets bytes of a GET still in flight, and a source that can only start over is read past the bytes
/// already written rather than writing them again under the hasher.
/// </summary>
[Collection(ContentS3Collection.Name)]
public sealed class InOrderHashTests(ContentS3 s3) : IDisposable
{
    private const int HeldAfter = (1024 * 1024) + (300 * 1024);
    private readonly ContentTestBed bed = new(s3);

    [Fact]
    public async Task Bytes_of_a_part_still_downloading_are_hashed_and_readable_before_the_part_ends()
    {
        // one GET for the whole blob, held after 1.3 MiB until the test has read the first MiB through the incoming reader
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bed.Proxy.Faults = r => IsBigGet(r) ? new Fault.Hold(HeldAfter, release.Task) : null;
        var options = new FetchOptions
        {
            PartSize = 8 * 1024 * 1024,
            PartConcurrency = 1,
            MaxPartConcurrency = 1,
            StallTimeout = TimeSpan.FromMinutes(5),
        };
        using var source = bed.Source();
        var incoming = new TaskCompletionSource<IncomingBlob>(TaskCreationOptions.RunContinuationsAsynchronously);
        var fetch = new ContentStore(bed.Store, options).FetchLayerAsync(source, await bed.BigLayerAsync(source), bed.Context, CancellationToken.None,
            incoming: reader => incoming.TrySetResult(reader));
        byte[] first;
        try
        {
            var reader = await incoming.Task.WaitAsync(TimeSpan.FromMinutes(2));
            using var safety = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            await using var stream = reader.OpenRead(safety.Token);
            first = new byte[1024 * 1024];
            await stream.ReadExactlyAsync(first, safety.Token);
            Assert.Null(reader.VerifiedDigest);
            Assert.False(fetch.IsCompleted);
        }
        finally
        {
            release.TrySetResult();
        }

        var blob = await fetch;
        Assert.Equal(s3.Big.AsSpan(0, first.Length).ToArray(), first);
        Assert.Equal(s3.BigDigest, blob.Digest);
        Assert.Single(bed.ObjectGets(ContentS3.BigKey));
    }

    [Fact]
    public async Task A_whole_object_stream_that_breaks_is_read_past_the_bytes_already_written_and_the_blob_is_exact()
    {
        // the ranged GETs are answered with the whole object; then the first whole-object GET breaks after 2 MiB + 5
        var wholeGets = 0;
        bed.Proxy.Faults = r =>
        {
            if (!IsBigGet(r))
            {
                return null;
            }

            if (r.Range != $"bytes=0-{ContentS3.BigSize - 1}")
            {
                return new Fault.IgnoreRange();
            }

            return Interlocked.Increment(ref wholeGets) == 1 ? new Fault.ResetAfter((2 * 1024 * 1024) + 5) : null;
        };
        using var source = bed.Source();
        var blob = await new ContentStore(bed.Store, ContentTestBed.Fast()).FetchLayerAsync(source, await bed.BigLayerAsync(source), bed.Context, CancellationToken.None);

        Assert.Equal(s3.BigDigest, blob.Digest);
        Assert.Equal(s3.Big, await File.ReadAllBytesAsync(blob.Path));
        Assert.Equal(2, bed.ObjectGets(ContentS3.BigKey).Count(g => g.Range == $"bytes=0-{ContentS3.BigSize - 1}"));
        Assert.Empty(bed.PartialFiles());
    }

    public void Dispose() => bed.Dispose();

    private static bool IsBigGet(ProxiedRequest r) => ContentTestBed.IsBigGet(r);
}
