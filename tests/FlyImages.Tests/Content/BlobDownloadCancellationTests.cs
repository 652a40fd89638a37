using FlyImages.Content;
using FlyImages.Sources;
using FlyImages.Streams;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Tests.Content;

/// <summary>Cancelling a download is reported as a cancellation however it falls between the reads of a body.</summary>
public sealed class BlobDownloadCancellationTests : IDisposable
{
    private const int Size = 64 * 1024;
    private readonly TempDirectory dir = new("flyimages-cancel");

    [Fact]
    public async Task A_cancellation_that_comes_between_two_reads_ends_the_download_as_cancelled_not_as_a_stall()
    {
        // the first read returns bytes and the fetch is cancelled before the next read begins (a Ctrl+C at that
        // moment was once reported as "no data for 300 s": the stall timer could not be reset for the next read)
        using var cancel = new CancellationTokenSource();
        RangeOpener open = (key, offset, length, etag, ct) => Task.FromResult(new SourceRead(new CancelsAfterFirstRead(cancel), length, null, Size));
        var options = new FetchOptions { PartSize = Size, PartConcurrency = 1, MaxPartConcurrency = 1, StallTimeout = TimeSpan.FromMinutes(5), CheckpointInterval = TimeSpan.FromMinutes(5) };
        var download = new BlobDownload(open, "blob/1.tar", Size, null, null, dir.Combine("1.part"), Size, null, options, new PartBudget(options.PartAttempts), wholeObject: false, _ => { });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => download.RunAsync(cancel.Token));
        Assert.True(download.BytesFetched > 0);
    }

    public void Dispose() => dir.Dispose();

    /// <summary>A body whose first read returns 1000 bytes and cancels the fetch; a later read would never end.</summary>
    private sealed class CancelsAfterFirstRead(CancellationTokenSource cancel) : ReadOnlyStream
    {
        private bool read;

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (read)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            read = true;
            var n = Math.Min(1000, buffer.Length);
            buffer.Span[..n].Fill(7);
            await cancel.CancelAsync();
            return n;
        }
    }
}
