using FlyImages.Errors;
using FlyImages.Streams;
using Microsoft.Win32.SafeHandles;

namespace FlyImages.Content;

/// <summary>
/// A blob while it downloads, readable in order as its bytes become final in the partial file (the in-order hasher has
/// passed them): what an install applies while the rest still arrives. Nothing read from it is verified. The blob is
/// verified (sha256, and the MD5 of its ETag or the checksum its source announces) only when the fetch returns; whatever was made from these bytes
/// must be thrown away unless it does. Reading fails as soon as the download fails or starts over. Dispose it when done.
/// </summary>
public sealed class IncomingBlob : IDisposable
{
    private readonly object gate = new();
    private SafeFileHandle? file;
    private long available;
    private Exception? failure;
    private bool disposed;
    private string? verified;
    private readonly TaskCompletionSource requested = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal IncomingBlob(string key, long size)
    {
        Key = key;
        Size = size;
    }

    /// <summary>The object's key at the source.</summary>
    public string Key { get; }

    /// <summary>The object's size as listed.</summary>
    public long Size { get; }

    /// <summary>Bytes final on disk so far (a prefix of the blob).</summary>
    public long Available
    {
        get
        {
            lock (gate)
            {
                return available;
            }
        }
    }

    /// <summary>
    /// The blob's digest once the download attempt these bytes came from was verified; null until then, and forever when
    /// that attempt failed verification or was replaced (the fetch may still succeed with other bytes: those are not these).
    /// </summary>
    public string? VerifiedDigest
    {
        get
        {
            lock (gate)
            {
                return verified;
            }
        }
    }

    /// <summary>
    /// Completes when every byte of the blob has been asked of the source (the last parts are in flight), or the download
    /// ended: from then on this blob takes no new connections, so the next one may start without taking them from it.
    /// </summary>
    public Task AllRequested => requested.Task;

    /// <summary>A forward-only stream of the blob's bytes; a read waits until the bytes it needs are final.</summary>
    public Stream OpenRead(CancellationToken cancellationToken) => new Reader(this, cancellationToken);

    public void Dispose()
    {
        lock (gate)
        {
            disposed = true;
            file?.Dispose();
            Monitor.PulseAll(gate);
        }

        requested.TrySetResult();
    }

    /// <summary>Every part of the blob has been requested (see <see cref="AllRequested"/>).</summary>
    internal void Requested() => requested.TrySetResult();

    /// <summary>The download's attempt opened its partial file: readers get a descriptor of their own.</summary>
    internal void Attach(SafeFileHandle download)
    {
        lock (gate)
        {
            if (file is null && failure is null && !disposed)
            {
                file = Native.Libc.Duplicate(download);
                Monitor.PulseAll(gate);
            }
        }
    }

    /// <summary>Bytes [0, <paramref name="finalBytes"/>) are on disk and will not change.</summary>
    internal void Advance(long finalBytes)
    {
        lock (gate)
        {
            if (finalBytes > available)
            {
                available = Math.Min(finalBytes, Size);
                Monitor.PulseAll(gate);
            }
        }
    }

    /// <summary>The attempt these bytes came from was verified as <paramref name="digest"/>.</summary>
    internal void Verify(string digest)
    {
        lock (gate)
        {
            if (failure is null)
            {
                verified = digest;
            }
        }

        requested.TrySetResult();
    }

    /// <summary>The download failed or starts over: what was read so far is of no use.</summary>
    internal void Fail(Exception reason)
    {
        lock (gate)
        {
            failure ??= reason;
            Monitor.PulseAll(gate);
        }

        requested.TrySetResult();
    }

    private int Read(long position, Span<byte> buffer, CancellationToken cancellationToken)
    {
        SafeFileHandle handle;
        int want;
        // a reader waiting for bytes is woken by the token as well as by Advance, Fail and Dispose; the registration is
        // disposed outside the lock (disposing waits for a callback in flight, which needs the lock)
        CancellationTokenRegistration wake = default;
        try
        {
            lock (gate)
            {
                while (true)
                {
                    ObjectDisposedException.ThrowIf(disposed, this);
                    if (failure is not null)
                    {
                        throw new FlyException(ErrorIds.BlobDownloadFailed, FlyErrorCategory.ReadError,
                            $"The download of '{Key}' failed or started over while it was being applied: {failure.Message}", Key, failure);
                    }

                    if (position >= Size || buffer.IsEmpty)
                    {
                        return 0;
                    }

                    if (file is not null && available > position)
                    {
                        handle = file;
                        want = (int)Math.Min(buffer.Length, available - position);
                        break;
                    }

                    // registered before the check: a cancellation after it pulses only once this thread waits (the
                    // callback takes the lock), one before it throws here
                    if (wake == default && cancellationToken.CanBeCanceled)
                    {
                        wake = cancellationToken.UnsafeRegister(static state => ((IncomingBlob)state!).Wake(), this);
                    }

                    cancellationToken.ThrowIfCancellationRequested();
                    Monitor.Wait(gate);
                }
            }
        }
        finally
        {
            wake.Dispose();
        }

        var n = RandomAccess.Read(handle, buffer[..want], position);
        if (n <= 0)
        {
            throw new IOException($"The partial file of '{Key}' is shorter than the bytes recorded final ({position} + {want}).");
        }

        return n;
    }

    private void Wake()
    {
        lock (gate)
        {
            Monitor.PulseAll(gate);
        }
    }

    /// <summary>Forward-only, read-only view of an <see cref="IncomingBlob"/>.</summary>
    private sealed class Reader(IncomingBlob blob, CancellationToken cancellationToken) : ReadOnlyStream
    {
        private long position;

        public override long Position
        {
            get => position;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = blob.Read(position, buffer, cancellationToken);
            position += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken token = default)
            => ValueTask.FromResult(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken token)
            => Task.FromResult(Read(buffer.AsSpan(offset, count)));
    }
}
