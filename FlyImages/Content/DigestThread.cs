using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace FlyImages.Content;

/// <summary>
/// One incremental digest computed on a dedicated thread, fed in order through a bounded handoff of a fixed set of
/// buffers: the producer rents a free buffer, fills it and posts it; the thread appends it and returns it to the free
/// set. Memory is the buffers, whatever the data size; no task or thread-pool work item per chunk.
/// </summary>
internal sealed class DigestThread : IDisposable
{
    private readonly BlockingCollection<byte[]> free = new();
    private readonly BlockingCollection<(byte[] Buffer, int Length)> work = new();
    private readonly IncrementalHash hash;
    private readonly Thread thread;
    private Exception? failure;
    private bool finished;

    public DigestThread(HashAlgorithmName algorithm, int buffers, int bufferSize)
    {
        hash = IncrementalHash.CreateHash(algorithm);
        for (var i = 0; i < buffers; i++)
        {
            free.Add(new byte[bufferSize]);
        }

        thread = new Thread(Run) { IsBackground = true, Name = $"FlyImages {algorithm.Name}" };
        thread.Start();
    }

    /// <summary>A free buffer to fill (waits while the thread still holds every buffer).</summary>
    public byte[] Rent(CancellationToken token)
    {
        ThrowIfFailed();
        try
        {
            return free.Take(token);
        }
        catch (InvalidOperationException)
        {
            // the thread failed and closed the free set
            ThrowIfFailed();
            throw;
        }
    }

    /// <summary>Appends the first <paramref name="length"/> bytes of a rented buffer, in posting order.</summary>
    public void Post(byte[] buffer, int length, CancellationToken token)
    {
        ThrowIfFailed();
        work.Add((buffer, length), token);
    }

    /// <summary>Waits until every posted buffer is appended and returns the digest.</summary>
    public byte[] Finish()
    {
        work.CompleteAdding();
        thread.Join();
        finished = true;
        ThrowIfFailed();
        return hash.GetHashAndReset();
    }

    public void Dispose()
    {
        if (!finished)
        {
            work.CompleteAdding();
            thread.Join();
        }

        hash.Dispose();
        work.Dispose();
        free.Dispose();
    }

    private void Run()
    {
        try
        {
            foreach (var (buffer, length) in work.GetConsumingEnumerable())
            {
                hash.AppendData(buffer.AsSpan(0, length));
                free.Add(buffer);
            }
        }
        catch (Exception e)
        {
            // the producer sees it at its next call; a producer waiting on Rent is released by the buffer returned
            Volatile.Write(ref failure, e);
            free.CompleteAdding();
        }
    }

    private void ThrowIfFailed()
    {
        if (Volatile.Read(ref failure) is { } e)
        {
            throw new CryptographicException($"computing the digest failed: {e.Message}", e);
        }
    }
}
