using System.Buffers;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using FlyImages.Errors;
using FlyImages.Resilience;
using FlyImages.Sources;
using Microsoft.Win32.SafeHandles;

namespace FlyImages.Content;

/// <summary>
/// One attempt at bringing an object into its partial file: the parts not yet done are fetched with
/// several ranged GETs in parallel, each written in place (positional writes, no reassembly buffer),
/// while one reader hashes the file's written prefix in order (sha256, and the checksum the source announced:
/// a plain-MD5 ETag or one of S3's additional checksums, see <see cref="ChecksumHasher"/>), following the lowest unfinished part as its bytes land rather than waiting for the part to end.
/// Memory stays bounded by the read buffers whatever the blob size. Completed parts are made durable
/// (fdatasync, then recorded) every checkpoint interval and when the attempt ends early, so the
/// next attempt resumes; the prefix already on disk is re-hashed from the file. Each part is retried by one
/// Polly pipeline within its <see cref="PartBudget"/> (shared with the whole-blob re-downloads after a checksum
/// mismatch), so no range is requested more than <see cref="FetchOptions.PartAttempts"/> times.
/// </summary>
internal sealed class BlobDownload
{
    private readonly RangeOpener open;
    private readonly string key;
    private readonly long size;
    private readonly string? etag;
    private readonly ChecksumAlgorithm? check;
    private readonly string partialPath;
    private readonly long partSize;
    private readonly FetchOptions options;
    private readonly Action<byte[]> checkpoint;
    private readonly PartBudget budget;
    private readonly bool wholeObject;
    private readonly int partCount;
    private readonly int[] done;

    // per part, the end of the bytes written in order from its start in this attempt (never lowered: a retry continues
    // there, and a source that ignores Range is read past them, not written over them); what the hasher may pass
    private readonly long[] written;
    private int hashPart = -1;
    private readonly SemaphoreSlim progressed = new(0);
    private readonly object checkpointGate = new();
    private const int HashChunk = 1024 * 1024;
    private const int HashBuffers = 4;

    // the hasher passes a part's bytes as they are written, in steps of at least this much (or the part's rest)
    private const int HashStep = 256 * 1024;
    private long bytesDone;
    private long bytesFetched;
    private long hashedBytes;

    /// <summary>An attempt; with wholeObject (the source ignores Range) one part, which a retry starts over from byte 0.</summary>
    public BlobDownload(RangeOpener open, string key, long size, string? etag, ChecksumAlgorithm? check, string partialPath, long partSize, byte[]? partsDone, FetchOptions options,
        PartBudget budget, bool wholeObject, Action<byte[]> checkpoint)
    {
        this.budget = budget;
        this.wholeObject = wholeObject;
        this.open = open;
        this.key = key;
        this.size = size;
        this.etag = etag;
        this.check = check;
        this.partialPath = partialPath;
        this.partSize = partSize;
        this.options = options;
        this.checkpoint = checkpoint;
        partCount = (int)((size + partSize - 1) / partSize);
        done = new int[partCount];
        written = new long[partCount];
        if (partsDone is not null)
        {
            for (var i = 0; i < partCount; i++)
            {
                if (IsSet(partsDone, i))
                {
                    done[i] = 1;
                    bytesDone += PartLength(i);
                }
            }
        }

        ResumedBytes = bytesDone;
    }

    /// <summary>Bytes of the blob on disk (resumed and fetched).</summary>
    public long BytesDone => Interlocked.Read(ref bytesDone);

    /// <summary>Bytes received in this attempt.</summary>
    public long BytesFetched => Interlocked.Read(ref bytesFetched);

    /// <summary>Bytes a previous attempt had already completed.</summary>
    public long ResumedBytes { get; }

    public bool Hashing { get; private set; }

    /// <summary>
    /// The in-order watermark: bytes [0, HashedBytes) of the partial file are final on disk (written in order in this
    /// attempt, or by an earlier one, and never written again) and have been passed by the in-order hasher (sha256
    /// appended; MD5 may trail by a few buffers). It only grows within an attempt.
    /// </summary>
    public long HashedBytes => Interlocked.Read(ref hashedBytes);

    /// <summary>When set, told as each byte of the in-order prefix becomes final (what an install may apply while the rest arrives).</summary>
    public IncomingBlob? Incoming { get; init; }

    public static int BitmapLength(long size, long partSize) => (int)(((size + partSize - 1) / partSize + 7) / 8);

    /// <summary>Runs the attempt; returns the sha256 and (when asked) the checksum of the whole blob. The file is synced on success.</summary>
    public async Task<(byte[] Sha256, byte[]? Checksum)> RunAsync(CancellationToken cancellationToken)
    {
        var existed = File.Exists(partialPath);
        if (!existed)
        {
            Array.Clear(done);
            Interlocked.Exchange(ref bytesDone, 0);
        }

        for (var i = 0; i < partCount; i++)
        {
            written[i] = i * partSize + (done[i] != 0 ? PartLength(i) : 0);
        }

        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(partialPath, existed ? FileMode.Open : FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.None, existed ? 0 : size);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StoreWriteException($"the partial file '{partialPath}' cannot be opened (another process may be fetching the same object): {e.Message}", e);
        }

        using var owned = handle;
        Incoming?.Attach(handle);
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var token = failed.Token;
        var pending = new Queue<int>(Enumerable.Range(0, partCount).Where(i => done[i] == 0));
        if (pending.Count == 0)
        {
            Incoming?.Requested();
        }
        var workers = new WorkerSet(this, handle, pending, token);
        workers.Grow(Math.Min(options.PartConcurrency, pending.Count));
        var hasher = StartHashThread(handle, token);
        using var checkpointStop = new CancellationTokenSource();
        var checkpointer = CheckpointLoopAsync(handle, checkpointStop.Token);
        var tuner = AdaptLoopAsync(workers, checkpointStop.Token);
        Exception? failure = null;
        try
        {
            await workers.WhenAllFailFast(failed).ConfigureAwait(false);
            var hashes = await hasher.ConfigureAwait(false);
            await checkpointStop.CancelAsync().ConfigureAwait(false);
            await checkpointer.ConfigureAwait(false);
            await tuner.ConfigureAwait(false);
            Native.Libc.Sync(handle);
            return hashes;
        }
        catch (Exception e)
        {
            failure = e;
            throw;
        }
        finally
        {
            if (failure is not null)
            {
                await failed.CancelAsync().ConfigureAwait(false);
                await checkpointStop.CancelAsync().ConfigureAwait(false);
                try
                {
                    await Task.WhenAll(workers.All().Append(hasher).Append(checkpointer).Append(tuner)).ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // the first failure is the one reported
                }

                // keep what is complete for the next attempt
                Checkpoint(handle);
            }
        }
    }

    /// <summary>The connections in use: <see cref="ParallelismTuner"/> decides, from the throughput of each window, whether more pay.</summary>
    public int Connections => Volatile.Read(ref connectionTarget);

    private int connectionTarget;

    /// <summary>Measures the aggregate throughput per window and grows (or gives back) connections as the tuner says.</summary>
    private async Task AdaptLoopAsync(WorkerSet workers, CancellationToken stop)
    {
        var tuner = new ParallelismTuner(Math.Max(1, workers.Count), options.MaxPartConcurrency);
        Volatile.Write(ref connectionTarget, tuner.Target);
        try
        {
            var last = BytesFetched;
            var watch = System.Diagnostics.Stopwatch.StartNew();
            while (!tuner.Settled && workers.PartsLeft > 0)
            {
                await Task.Delay(options.AdaptInterval, stop).ConfigureAwait(false);
                var now = BytesFetched;
                var seconds = watch.Elapsed.TotalSeconds;
                watch.Restart();
                var target = tuner.Observe((now - last) / Math.Max(seconds, 1e-3));
                last = now;
                Volatile.Write(ref connectionTarget, target);
                workers.Grow(Math.Min(target, workers.Count + workers.PartsLeft) - workers.Count);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// The part workers of an attempt: each takes the next pending part until none is left, or ends after a part when
    /// more run than the tuner's target. Workers added while others run are awaited too.
    /// </summary>
    private sealed class WorkerSet(BlobDownload owner, SafeFileHandle handle, Queue<int> pending, CancellationToken token)
    {
        private readonly List<Task> tasks = [];
        private int running;
        private bool closed;

        public int Count => Volatile.Read(ref running);

        public int PartsLeft
        {
            get
            {
                lock (pending)
                {
                    return pending.Count;
                }
            }
        }

        public Task[] All()
        {
            lock (tasks)
            {
                return [.. tasks];
            }
        }

        public void Grow(int count)
        {
            lock (tasks)
            {
                for (var i = 0; i < count && !closed; i++)
                {
                    Interlocked.Increment(ref running);
                    tasks.Add(Task.Run(RunAsync, token));
                }
            }
        }

        /// <summary>Waits for every worker, those added meanwhile too; the first failure cancels the others at once.</summary>
        public async Task WhenAllFailFast(CancellationTokenSource cancelOthers)
        {
            var seen = 0;
            var remaining = new List<Task>();
            while (true)
            {
                lock (tasks)
                {
                    remaining.AddRange(tasks.Skip(seen));
                    seen = tasks.Count;
                    if (remaining.Count == 0)
                    {
                        // no worker is left to take a part: none may be added after this
                        closed = true;
                        return;
                    }
                }

                var finished = await Task.WhenAny(remaining).ConfigureAwait(false);
                remaining.Remove(finished);
                if (finished.IsFaulted || finished.IsCanceled)
                {
                    lock (tasks)
                    {
                        closed = true;
                    }

                    await cancelOthers.CancelAsync().ConfigureAwait(false);
                    await finished.ConfigureAwait(false);
                }
            }
        }

        private async Task RunAsync()
        {
            var buffer = ArrayPool<byte>.Shared.Rent(owner.options.BufferSize);
            var counted = true;
            try
            {
                while (true)
                {
                    int part;
                    lock (pending)
                    {
                        if (!pending.TryDequeue(out part))
                        {
                            return;
                        }

                        if (pending.Count == 0)
                        {
                            // the last part: this blob takes no new connection after it
                            owner.Incoming?.Requested();
                        }
                    }

                    await owner.FetchPartAsync(handle, part, buffer, token).ConfigureAwait(false);
                    Volatile.Write(ref owner.done[part], 1);
                    owner.progressed.Release();
                    if (TryRetire())
                    {
                        counted = false;
                        return;
                    }
                }
            }
            finally
            {
                if (counted)
                {
                    Interlocked.Decrement(ref running);
                }

                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        /// <summary>Ends this worker when more run than the tuner's target (never the last one).</summary>
        private bool TryRetire()
        {
            while (true)
            {
                var now = Volatile.Read(ref running);
                var target = Math.Max(1, owner.Connections);
                if (owner.Connections == 0 || now <= target)
                {
                    return false;
                }

                if (Interlocked.CompareExchange(ref running, now - 1, now) == now)
                {
                    return true;
                }
            }
        }
    }

    private async Task FetchPartAsync(SafeFileHandle handle, int part, byte[] buffer, CancellationToken token)
    {
        var start = part * partSize;
        var end = start + PartLength(part);
        var position = new StrongBox<long>(start);
        var retry = RetryPolicies.Create(options.PartAttempts, options.RetryBaseDelay,
            e => !token.IsCancellationRequested && IsRetryable(e) && budget.CanRetry(start));
        try
        {
            await retry.ExecuteAsync(async ct =>
            {
                budget.Take(start);

                // the source sends only whole objects: an interrupted stream starts over, and is read past the bytes
                // already written (the hasher may have passed them: they are never written again)
                await FetchRangeAsync(handle, part, wholeObject ? start : position.Value, position, end, buffer, ct).ConfigureAwait(false);
            }, token).ConfigureAwait(false);
        }
        catch (Exception e) when (!token.IsCancellationRequested && IsRetryable(e))
        {
            throw new PartFailedException(key, start, end, budget.Tries(start), e);
        }
    }

    /// <summary>
    /// One GET of bytes [<paramref name="from"/>, end) of <paramref name="part"/>, written from <paramref name="at"/> on (bytes
    /// before it, when the source could only start earlier, are read and dropped); <paramref name="at"/> advances with every
    /// byte written, so a failed GET leaves it where the next one continues.
    /// </summary>
    private async Task FetchRangeAsync(SafeFileHandle handle, int part, long from, StrongBox<long> at, long end, byte[] buffer, CancellationToken token)
    {
        var start = part * partSize;
        // one stall timer per attempt: a fired one cannot be reset
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(token);
        using var read = await open(key, from, end - from, etag, token).ConfigureAwait(false);
        if (etag is not null && read.ETag is not null && !string.Equals(read.ETag, etag, StringComparison.Ordinal))
        {
            throw new SourceObjectChangedException(key, etag, read.ETag);
        }

        if (read.ObjectSize != size)
        {
            throw new SourceObjectChangedException(key, $"{etag} ({size} bytes)", $"{read.ETag} ({read.ObjectSize} bytes)");
        }

        if (read.ContentLength != end - from)
        {
            throw new LengthMismatchException($"asked for bytes {from}-{end - 1} ({end - from}), the source announced {read.ContentLength}");
        }

        for (var skipped = from; skipped < at.Value;)
        {
            var n = await ReadAsync(read.Body, buffer.AsMemory(0, (int)Math.Min(buffer.Length, at.Value - skipped)), stall, token).ConfigureAwait(false);
            if (n == 0)
            {
                throw new LengthMismatchException($"the body ended after byte {skipped - 1}; {end - skipped} bytes of bytes {from}-{end - 1} were missing");
            }

            skipped += n;
        }

        var position = at.Value;

        while (true)
        {
            var want = (int)Math.Min(buffer.Length, end - position);
            if (want == 0)
            {
                // the announced length is reached: the body must end here
                if (await ReadAsync(read.Body, buffer.AsMemory(0, 1), stall, token).ConfigureAwait(false) > 0)
                {
                    throw new LengthMismatchException($"the source sent more than the {read.ContentLength} bytes it announced for bytes {start}-{end - 1}");
                }

                return;
            }

            var n = await ReadAsync(read.Body, buffer.AsMemory(0, want), stall, token).ConfigureAwait(false);
            if (n == 0)
            {
                throw new LengthMismatchException($"the body ended after byte {position - 1}; {end - position} bytes of bytes {start}-{end - 1} were missing");
            }

            try
            {
                RandomAccess.Write(handle, buffer.AsSpan(0, n), position);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new StoreWriteException($"writing the partial file '{partialPath}' failed: {e.Message}", e);
            }

            // a failed read after this keeps these bytes: the next attempt asks for the rest (or reads past them)
            position += n;
            at.Value = position;
            Interlocked.Add(ref bytesDone, n);
            Interlocked.Add(ref bytesFetched, n);

            // full fences on both sides (here and where the hasher names its part): a hasher about to wait sees this
            // position, or is woken
            Interlocked.Exchange(ref written[part], position);
            if (Volatile.Read(ref hashPart) == part)
            {
                progressed.Release();
            }
        }
    }

    /// <summary>
    /// A read that fails as a stall when no byte comes for <see cref="FetchOptions.StallTimeout"/>, and as a cancellation
    /// when the fetch is cancelled.
    /// </summary>
    private async ValueTask<int> ReadAsync(Stream body, Memory<byte> buffer, CancellationTokenSource stall, CancellationToken token)
    {
        if (!stall.TryReset())
        {
            // the stall source is linked to the fetch's token: it cannot be reset after its timer fired, nor after a
            // cancellation that came between two reads, which must still end the fetch as cancelled, not as a stall
            token.ThrowIfCancellationRequested();
            throw new StallException(options.StallTimeout);
        }

        stall.CancelAfter(options.StallTimeout);
        try
        {
            return await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            throw new StallException(options.StallTimeout);
        }
    }

    private static bool IsRetryable(Exception e)
    {
        if (e is FlyException or SourceObjectChangedException or StoreWriteException or RangeIgnoredException or PartFailedException)
        {
            return false;
        }

        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is IOException or HttpRequestException or SocketException or TimeoutException or StallException or LengthMismatchException or ObjectDisposedException
                or Amazon.Runtime.AmazonClientException)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Hashes the file's written prefix in order, part by part, following each part's bytes as they are written, on a
    /// thread of its own (reads, sha256 and a CRC); MD5 or SHA-1, the slowest steps, run on a second dedicated thread fed
    /// through a bounded handoff of a few buffers, so the two digests overlap without a task per chunk. <see cref="HashedBytes"/> advances as the prefix is passed.
    /// </summary>
    private (byte[] Sha256, byte[]? Checksum) Hash(SafeFileHandle handle, CancellationToken token)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var second = new ChecksumHasher(check, HashBuffers, HashChunk);
        var own = second.OwnsBuffers ? null : new byte[HashChunk];
        for (var part = 0; part < partCount; part++)
        {
            Interlocked.Exchange(ref hashPart, part);
            var position = part * partSize;
            var end = position + PartLength(part);
            while (position < end)
            {
                token.ThrowIfCancellationRequested();
                var ready = Volatile.Read(ref done[part]) != 0 ? end : Interlocked.Read(ref written[part]);
                if (ready - position < Math.Min(HashStep, end - position))
                {
                    progressed.Wait(token);
                    continue;
                }

                Hashing = true;
                var buffer = own ?? second.Rent(token);
                var n = RandomAccess.Read(handle, buffer.AsSpan(0, (int)Math.Min(buffer.Length, ready - position)), position);
                if (n <= 0)
                {
                    throw new IOException($"The partial file '{partialPath}' is shorter than its recorded progress.");
                }

                sha.AppendData(buffer.AsSpan(0, n));
                second.Append(buffer, n, token);
                position += n;
                Interlocked.Exchange(ref hashedBytes, position);
                Incoming?.Advance(position);
            }

            // the part is final: let the kernel write it out now rather than all at the closing fsync
            Native.Libc.StartWriteback(handle, part * partSize, PartLength(part));
        }

        var sha256 = sha.GetHashAndReset();
        return (sha256, second.Finish(sha256));
    }

    /// <summary>Runs <see cref="Hash"/> on a dedicated thread (it blocks: waits for parts, reads, hashes).</summary>
    private Task<(byte[] Sha256, byte[]? Checksum)> StartHashThread(SafeFileHandle handle, CancellationToken token)
    {
        var result = new TaskCompletionSource<(byte[], byte[]?)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                result.SetResult(Hash(handle, token));
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                result.SetCanceled(token);
            }
            catch (Exception e)
            {
                result.SetException(e);
            }
        })
        {
            IsBackground = true,
            Name = "FlyImages blob hash",
        };
        thread.Start();
        return result.Task;
    }

    private async Task CheckpointLoopAsync(SafeFileHandle handle, CancellationToken stop)
    {
        var last = -1;
        try
        {
            while (true)
            {
                await Task.Delay(options.CheckpointInterval, stop).ConfigureAwait(false);
                var count = CountDone();
                if (count != last && count < partCount)
                {
                    Checkpoint(handle);
                    last = count;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Makes completed parts durable, then records them.</summary>
    private void Checkpoint(SafeFileHandle handle)
    {
        var bitmap = new byte[BitmapLength(size, partSize)];
        for (var i = 0; i < partCount; i++)
        {
            if (Volatile.Read(ref done[i]) == 1)
            {
                bitmap[i / 8] |= (byte)(1 << (i % 8));
            }
        }

        lock (checkpointGate)
        {
            Native.Libc.Sync(handle, dataOnly: true);
            checkpoint(bitmap);
        }
    }

    private int CountDone()
    {
        var count = 0;
        for (var i = 0; i < partCount; i++)
        {
            count += Volatile.Read(ref done[i]);
        }

        return count;
    }

    private long PartLength(int part) => Math.Min(partSize, size - part * partSize);

    private static bool IsSet(byte[] bitmap, int i) => i / 8 < bitmap.Length && (bitmap[i / 8] & (1 << (i % 8))) != 0;
}

/// <summary>Opens bytes [offset, offset + length) of an object, guarded by its ETag.</summary>
internal delegate Task<SourceRead> RangeOpener(string key, long offset, long length, string? ifMatchETag, CancellationToken cancellationToken);

/// <summary>The partial file could not be opened or written: not retried.</summary>
internal sealed class StoreWriteException(string message, Exception inner) : Exception(message, inner);

/// <summary>No byte arrived for the stall timeout.</summary>
internal sealed class StallException(TimeSpan timeout) : TimeoutException($"no data for {timeout.TotalSeconds:0.#} s");

/// <summary>
/// GETs per range of one blob, across the attempts of one fetch (part retries and whole-blob re-downloads after a checksum
/// mismatch): a range is requested at most <see cref="FetchOptions.PartAttempts"/> times. Thread-safe.
/// </summary>
internal sealed class PartBudget(int attempts)
{
    private readonly Dictionary<long, int> tries = [];

    public int Attempts => attempts;

    /// <summary>Counts a GET of the part that starts at <paramref name="start"/>.</summary>
    public void Take(long start)
    {
        lock (tries)
        {
            tries[start] = Tries(start) + 1;
        }
    }

    public int Tries(long start)
    {
        lock (tries)
        {
            return tries.GetValueOrDefault(start);
        }
    }

    public bool CanRetry(long start) => Tries(start) < attempts;

    /// <summary>Whether every part may be requested once more (a whole-blob re-download).</summary>
    public bool CanRetryAll()
    {
        lock (tries)
        {
            return tries.Values.DefaultIfEmpty(0).Max() < attempts;
        }
    }
}

/// <summary>A part kept failing after every attempt.</summary>
internal sealed class PartFailedException(string key, long start, long end, int attempts, Exception last)
    : Exception($"bytes {start}-{end - 1} of '{key}' failed {attempts} times; last: {last.Message}", last)
{
    public Exception Last { get; } = last;
}
