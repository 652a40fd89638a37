using FlyImages.Content;
using FlyImages.Errors;
using FlyImages.TestSupport;
using Microsoft.Win32.SafeHandles;
using Xunit;

namespace FlyImages.Tests.Content;

/// <summary>
/// A reader of a blob still downloading waits for its bytes, and is woken by what it waits for: the bytes becoming final,
/// the download failing, or its own token (no polling). A blocked reader runs on a thread of its own; each test waits
/// until that thread is parked in its wait before acting, and bounds every wait with a generous safety timeout only.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class IncomingBlobTests : IDisposable
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(30);
    private static readonly byte[] Bytes = [1, 2, 3, 4, 5, 6, 7, 8];

    private readonly TempDirectory dir = new("flyimages-incoming");
    private readonly SafeFileHandle partial;

    public IncomingBlobTests()
    {
        var path = dir.Combine("blob.partial");
        File.WriteAllBytes(path, Bytes);
        partial = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
    }

    [Fact]
    public void A_reader_blocked_on_missing_bytes_throws_OperationCanceled_when_its_token_is_cancelled()
    {
        using var blob = new IncomingBlob("golang/1.tar", Bytes.Length);
        blob.Attach(partial);
        blob.Advance(4);
        using var cts = new CancellationTokenSource();
        using var stream = blob.OpenRead(cts.Token);
        var first = new byte[8];
        Assert.Equal(4, stream.Read(first));
        Assert.Equal(Bytes[..4], first[..4]);

        var reader = BlockedReader.Start(stream, 8);
        cts.Cancel();

        Assert.IsAssignableFrom<OperationCanceledException>(reader.Outcome());
    }

    [Fact]
    public void A_reader_blocked_before_the_file_is_attached_is_woken_by_the_bytes()
    {
        using var blob = new IncomingBlob("golang/1.tar", Bytes.Length);
        using var stream = blob.OpenRead(CancellationToken.None);

        var reader = BlockedReader.Start(stream, 8);
        blob.Attach(partial);
        blob.Advance(Bytes.Length);

        Assert.Null(reader.Outcome());
        Assert.Equal(Bytes, reader.Read);
        Assert.Equal(0, stream.Read(new byte[1])); // end of blob
    }

    [Fact]
    public void A_reader_blocked_on_missing_bytes_fails_when_the_download_does()
    {
        using var blob = new IncomingBlob("golang/1.tar", Bytes.Length);
        blob.Attach(partial);
        using var cts = new CancellationTokenSource();
        using var stream = blob.OpenRead(cts.Token);

        var reader = BlockedReader.Start(stream, 8);
        blob.Fail(new IOException("connection reset"));

        var error = Assert.IsType<FlyException>(reader.Outcome());
        Assert.Equal(ErrorIds.BlobDownloadFailed, error.ErrorId);
        blob.Verify("sha256:00");
        Assert.Null(blob.VerifiedDigest); // a failed attempt's bytes are never verified
    }

    [Fact]
    public void A_reader_woken_by_the_bytes_returns_them_and_its_next_read_throws_once_its_token_is_cancelled()
    {
        // a token that can be cancelled but is not yet: the reader is woken by the bytes, not by the token
        using var blob = new IncomingBlob("golang/1.tar", Bytes.Length);
        blob.Attach(partial);
        using var cts = new CancellationTokenSource();
        using var stream = blob.OpenRead(cts.Token);

        var reader = BlockedReader.Start(stream, 8);
        blob.Advance(2);

        Assert.Null(reader.Outcome());
        Assert.Equal(Bytes[..2], reader.Read);
        cts.Cancel(); // no reader waits: nothing to wake, nothing thrown
        Assert.Throws<OperationCanceledException>(() => stream.Read(new byte[8]));
    }

    public void Dispose()
    {
        partial.Dispose();
        dir.Dispose();
    }

    /// <summary>One read on a thread of its own, started once the thread is parked waiting for bytes.</summary>
    private sealed class BlockedReader
    {
        private readonly Thread thread;
        private Exception? error;

        private BlockedReader(Stream stream, int count)
        {
            thread = new Thread(() =>
            {
                try
                {
                    var buffer = new byte[count];
                    var n = stream.Read(buffer);
                    Read = buffer[..n];
                }
                catch (Exception e)
                {
                    error = e;
                }
            })
            { IsBackground = true };
        }

        public byte[] Read { get; private set; } = [];

        public static BlockedReader Start(Stream stream, int count)
        {
            var reader = new BlockedReader(stream, count);
            reader.thread.Start();
            // parked: the only blocking a read does is its wait for bytes (nothing else holds the blob's lock)
            Assert.True(SpinWait.SpinUntil(() => (reader.thread.ThreadState & ThreadState.WaitSleepJoin) != 0, Safety),
                "the reader never blocked waiting for bytes");
            return reader;
        }

        /// <summary>What the read threw, null when it returned; fails when the thread is still blocked after the safety timeout.</summary>
        public Exception? Outcome()
        {
            Assert.True(thread.Join(Safety), "the blocked reader was not woken");
            return error;
        }
    }
}
