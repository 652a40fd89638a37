using System.Diagnostics;
using System.Globalization;
using FlyImages.Content;
using FlyImages.Model;
using FlyImages.Operations;
using FlyImages.Sources;
using FlyImages.State;

// FetchBench --endpoint URL --source s3://bucket/prefix --key KEY --store DIR [--part-size BYTES] [--concurrency N] [--md5 off] [--reader sdk]
//            [--announce-crc64nvme BASE64]
// Prints: seconds=<s> bytes=<n> digest=<sha256:...>
// --announce-crc64nvme: the source answers its checksum HEAD (made for real) with this full-object CRC64NVME, as S3
// would for an upload without a plain-MD5 ETag; s3rver keeps no additional checksums.
// FetchBench --crc64nvme FILE: prints the file's CRC-64/NVME as S3 writes it (base64 of the big-endian value).
if (args is ["--crc64nvme", var file])
{
    var crc = new System.IO.Hashing.Crc64(System.IO.Hashing.Crc64ParameterSet.Nvme);
    await using (var input = File.OpenRead(file))
    {
        crc.Append(input);
    }

    var value = new byte[8];
    System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(value, crc.GetCurrentHashAsUInt64());
    Console.WriteLine(Convert.ToBase64String(value));
    return 0;
}

var options = new Dictionary<string, string>(StringComparer.Ordinal);
for (var i = 0; i + 1 < args.Length; i += 2)
{
    options[args[i].TrimStart('-')] = args[i + 1];
}

string Need(string name) => options.TryGetValue(name, out var v) ? v : throw new ArgumentException($"--{name} is required");

var fetch = new FetchOptions
{
    PartSize = options.TryGetValue("part-size", out var ps) ? long.Parse(ps, CultureInfo.InvariantCulture) : FetchOptions.Default.PartSize,
    PartConcurrency = options.TryGetValue("concurrency", out var c) ? int.Parse(c, CultureInfo.InvariantCulture) : FetchOptions.Default.PartConcurrency,
    VerifyMd5 = !options.TryGetValue("md5", out var m) || m != "off",
    UseSdkStreams = options.TryGetValue("reader", out var r) && r == "sdk",
};
var context = NullOperationContext.Instance;
var s3 = ImageSourceFactory.Create(new SourceOptions { Source = Need("source"), Endpoint = Need("endpoint"), Anonymous = true }, context);
using IImageSource source = options.TryGetValue("announce-crc64nvme", out var announced)
    ? new AnnouncingSource(s3, ObjectChecksum.FromS3("FULL_OBJECT", null, announced, null, null, null, out var why) ?? throw new ArgumentException(why))
    : s3;
var key = Need("key");
var stat = await source.StatAsync(key, CancellationToken.None);
var store = FlyStore.Open(Need("store"));
var content = new ContentStore(store, fetch);
var layer = new Layer { Index = 1, Key = key, Size = stat.Size, ETag = stat.ETag, LastModified = stat.LastModified };

// timed: the fetch itself (ranged GETs, verification, fsync, rename, records), as Save-FlyImage runs it per layer
var watch = Stopwatch.StartNew();
var blob = await content.FetchLayerAsync(source, layer, context, CancellationToken.None);
watch.Stop();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"seconds={watch.Elapsed.TotalSeconds:0.000} bytes={blob.Size} digest={blob.Digest}"));
return 0;

/// <summary>A source whose checksum HEAD (still made) is answered with a given full-object checksum, as S3 would announce it.</summary>
internal sealed class AnnouncingSource(IImageSource inner, ObjectChecksum announced) : IImageSource
{
    public SourceSpec Spec => inner.Spec;

    public string Location => inner.Location;

    public IAsyncEnumerable<SourceObject> ListAsync(CancellationToken cancellationToken) => inner.ListAsync(cancellationToken);

    public IAsyncEnumerable<SourceObject> ListImageAsync(string image, CancellationToken cancellationToken) => inner.ListImageAsync(image, cancellationToken);

    public Task<SourceObject> StatAsync(string key, CancellationToken cancellationToken) => inner.StatAsync(key, cancellationToken);

    public Task<SourceRead> OpenReadAsync(string key, long offset, long? length, string? ifMatchETag, CancellationToken cancellationToken)
        => inner.OpenReadAsync(key, offset, length, ifMatchETag, cancellationToken);

    public Task<SourceRead> OpenRangeAsync(string key, long offset, long length, string? ifMatchETag, CancellationToken cancellationToken)
        => inner.OpenRangeAsync(key, offset, length, ifMatchETag, cancellationToken);

    public async Task<(ObjectChecksum? Checksum, string Why)> GetChecksumAsync(string key, string? ifMatchETag, CancellationToken cancellationToken)
    {
        await inner.GetChecksumAsync(key, ifMatchETag, cancellationToken).ConfigureAwait(false);
        return (announced, "");
    }

    public void Dispose() => inner.Dispose();
}
