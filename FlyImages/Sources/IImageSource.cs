namespace FlyImages.Sources;

/// <summary>
/// Where layer blobs come from: an S3 bucket/prefix or a local folder. Keys are relative to the
/// source's prefix ("golang/1.tar").
/// </summary>
public interface IImageSource : IDisposable
{
    SourceSpec Spec { get; }

    /// <summary>Where requests go, for messages (the endpoint URL, or the folder).</summary>
    string Location { get; }

    /// <summary>Every object under the prefix, paginated as the service requires.</summary>
    IAsyncEnumerable<SourceObject> ListAsync(CancellationToken cancellationToken);

    /// <summary>
    /// The objects of one image: every key under <c>&lt;image&gt;/</c>, listed as <see cref="ListAsync"/> lists them
    /// (one request for an image of up to 1000 keys), so that one image is looked at without listing the whole source.
    /// Empty when the source has no such image. The default filters <see cref="ListAsync"/>; sources that can
    /// list a prefix by itself override it.
    /// </summary>
    async IAsyncEnumerable<SourceObject> ListImageAsync(string image, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var prefix = image + "/";
        await foreach (var o in ListAsync(cancellationToken).ConfigureAwait(false))
        {
            if (o.Key.StartsWith(prefix, StringComparison.Ordinal))
            {
                yield return o;
            }
        }
    }

    /// <summary>Size, ETag and time of one object (HEAD).</summary>
    Task<SourceObject> StatAsync(string key, CancellationToken cancellationToken);

    /// <summary>
    /// Opens the bytes of <paramref name="key"/> from <paramref name="offset"/>, <paramref name="length"/>
    /// bytes (null: to the end). When <paramref name="ifMatchETag"/> is given and the object changed, throws
    /// <see cref="SourceObjectChangedException"/>.
    /// </summary>
    Task<SourceRead> OpenReadAsync(string key, long offset, long? length, string? ifMatchETag, CancellationToken cancellationToken);

    /// <summary>
    /// The checksum of the whole object as the source keeps it, to check a download by when its ETag is not a plain MD5
    /// (S3: a HEAD asking for its additional checksums). Null, with <c>Why</c> saying so, when it keeps none that can
    /// be used. Throws <see cref="SourceObjectChangedException"/> when the object is no longer <paramref name="ifMatchETag"/>.
    /// By default none (a folder keeps no checksums).
    /// </summary>
    Task<(ObjectChecksum? Checksum, string Why)> GetChecksumAsync(string key, string? ifMatchETag, CancellationToken cancellationToken)
        => Task.FromResult<(ObjectChecksum?, string)>((null, "the source keeps no checksums"));

    /// <summary>
    /// Opens exactly bytes [<paramref name="offset"/>, <paramref name="offset"/> + <paramref name="length"/>) of
    /// <paramref name="key"/> for a fetch that reads many ranges in parallel, by the source's fastest path (S3: plain
    /// HttpClient on a presigned URL). Throws <see cref="SourceObjectChangedException"/> when the object is no longer
    /// <paramref name="ifMatchETag"/>, and <see cref="RangeIgnoredException"/> when the source answers with the whole
    /// object instead of the range. By default the same as <see cref="OpenReadAsync"/>.
    /// </summary>
    Task<SourceRead> OpenRangeAsync(string key, long offset, long length, string? ifMatchETag, CancellationToken cancellationToken)
        => OpenReadAsync(key, offset, length, ifMatchETag, cancellationToken);
}

/// <summary>An open read: the body stream and what the source announced about it.</summary>
public sealed class SourceRead(Stream body, long contentLength, string? eTag, long objectSize) : IDisposable
{
    public Stream Body { get; } = body;

    /// <summary>Bytes the source announced for this read (Content-Length).</summary>
    public long ContentLength { get; } = contentLength;

    public string? ETag { get; } = eTag;

    /// <summary>Size of the whole object.</summary>
    public long ObjectSize { get; } = objectSize;

    public void Dispose() => Body.Dispose();
}

/// <summary>The object's ETag is no longer the one a resumed read expected.</summary>
public sealed class SourceObjectChangedException(string key, string? expected, string? actual)
    : Exception($"The object '{key}' changed (ETag {expected} -> {actual}).")
{
    public string Key { get; } = key;
}

/// <summary>
/// The source answered a GET for part of an object with the whole object (200, not 206): an S3-compatible server or
/// proxy that ignores Range. The object can still be read as one stream from its start.
/// </summary>
public sealed class RangeIgnoredException(string key, long offset, long length, long? announced)
    : Exception($"a GET for bytes {offset}-{offset + length - 1} of '{key}' was answered 200 with {(announced is null ? "an unannounced length" : $"{announced} bytes")}: the endpoint ignores Range")
{
    public string Key { get; } = key;
}

/// <summary>The source sent, or announced, more or fewer bytes than were asked for.</summary>
internal sealed class LengthMismatchException(string message) : IOException(message);
