using System.Security.Cryptography;
using FlyImages.Content;
using FlyImages.Images;
using FlyImages.Model;
using FlyImages.Operations;
using FlyImages.Sources;
using FlyImages.State;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Tests.Content;

/// <summary>One s3rver with the public bucket's layout plus a multi-part blob (images/big/1.tar), shared by the content tests.</summary>
public sealed class ContentS3 : IAsyncLifetime, IDisposable
{
    public const string BigKey = "big/1.tar";
    public const int BigSize = (4 * 1024 * 1024) + 12345;

    public S3rverFixture Server { get; } = new();

    public byte[] Big { get; } = RandomNumberGenerator.GetBytes(BigSize);

    public string BigDigest => "sha256:" + Convert.ToHexString(SHA256.HashData(Big)).ToLowerInvariant();

    public async Task InitializeAsync()
    {
        await PublicBucketLayout.SeedAsync(Server, includeMany: false);
        await Server.PutAsync(PublicBucketLayout.Bucket, $"{PublicBucketLayout.Prefix}/{BigKey}", Big);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => Server.Dispose();
}

[CollectionDefinition(Name)]
public sealed class ContentS3Collection : ICollectionFixture<ContentS3>
{
    public const string Name = "content s3";
}

/// <summary>Per test: a fault proxy in front of the shared s3rver, a fresh store, a recording context.</summary>
public sealed class ContentTestBed : IDisposable
{
    private readonly TempDirectory storeDir = new("flyimages-content");

    public ContentTestBed(ContentS3 s3)
    {
        S3 = s3;
        Proxy = new FaultProxy(s3.Server.Endpoint);
        Store = FlyStore.Open(storeDir.Path);
    }

    public ContentS3 S3 { get; }

    public FaultProxy Proxy { get; }

    public FlyStore Store { get; }

    public RecordingContext Context { get; } = new();

    public string BlobDirectory => ContentPaths.BlobDirectory(Store.RootPath);

    public string PartialDirectory => ContentPaths.PartialDirectory(Store.RootPath);

    /// <summary>
    /// Small parts and short delays. The stall timeout stays long (10 s) unless a test is about stalls: on a loaded
    /// 2-core machine a part can go a second without a byte, and the retry that follows changes what a test counts.
    /// </summary>
    public static FetchOptions Fast(long partSize = 1024 * 1024, int parts = 2, bool verifyMd5 = true, long sourceChecksumFrom = 64L * 1024 * 1024,
        double stallSeconds = 10) => new()
    {
        VerifyMd5 = verifyMd5,
        SourceChecksumFrom = sourceChecksumFrom,
        PartSize = partSize,
        PartConcurrency = parts,
        RetryBaseDelay = TimeSpan.FromMilliseconds(10),
        StallTimeout = TimeSpan.FromSeconds(stallSeconds),
        CheckpointInterval = TimeSpan.FromMilliseconds(100),
        ProgressInterval = TimeSpan.FromMilliseconds(50),
    };

    public IImageSource Source(IOperationContext? context = null, bool viaProxy = true) => ImageSourceFactory.Create(new SourceOptions
    {
        Source = PublicBucketLayout.SourceUri,
        Endpoint = viaProxy ? Proxy.Endpoint : S3.Server.Endpoint,
        Anonymous = true,
        RetryBaseDelay = TimeSpan.FromMilliseconds(10),
        RequestTimeout = TimeSpan.FromSeconds(10),
    }, context ?? Context);

    public async Task<List<Image>> ListAsync(IImageSource source, params string[] names)
    {
        var all = await ImageCatalog.ListAsync(source, Store, Context);
        return all.Where(i => names.Contains(i.Name)).OrderBy(i => Array.IndexOf(names, i.Name)).ToList();
    }

    public async Task<Layer> BigLayerAsync(IImageSource source)
    {
        var stat = await source.StatAsync(ContentS3.BigKey, CancellationToken.None);
        return new Layer { Index = 1, Key = stat.Key, Size = stat.Size, ETag = stat.ETag, LastModified = stat.LastModified };
    }

    /// <summary>A GET of the multi-part blob (<see cref="ContentS3.BigKey"/>), ranged or not.</summary>
    public static bool IsBigGet(ProxiedRequest r) => r.IsGet && Uri.UnescapeDataString(r.Path).EndsWith(ContentS3.BigKey, StringComparison.Ordinal);

    /// <summary>GETs of object keys (not listings) the proxy saw.</summary>
    public List<ProxiedRequest> ObjectGets(string? keySuffix = null)
        => Proxy.Requests.Where(r => r.IsGet && r.Path.Contains(".tar", StringComparison.Ordinal) && (keySuffix is null || Uri.UnescapeDataString(r.Path).EndsWith(keySuffix, StringComparison.Ordinal))).ToList();

    public string[] BlobFiles() => Directory.Exists(BlobDirectory) ? Directory.GetFiles(BlobDirectory) : [];

    public string[] PartialFiles() => Directory.Exists(PartialDirectory) ? Directory.GetFiles(PartialDirectory) : [];

    public void Dispose()
    {
        Proxy.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        storeDir.Dispose();
    }
}

/// <summary>An operation context that records what the core reports.</summary>
public sealed class RecordingContext(CancellationToken token = default) : IOperationContext
{
    private readonly List<ProgressReport> progress = [];

    public CancellationToken CancellationToken { get; } = token;

    public List<string> Warnings { get; } = [];

    public List<string> Verbose { get; } = [];

    public IReadOnlyList<ProgressReport> Progress
    {
        get
        {
            lock (progress)
            {
                return progress.ToList();
            }
        }
    }

    public void WriteProgress(ProgressReport report)
    {
        lock (progress)
        {
            progress.Add(report);
        }
    }

    public void WriteVerbose(string message)
    {
        lock (Verbose)
        {
            Verbose.Add(message);
        }
    }

    public void WriteWarning(string message)
    {
        lock (Warnings)
        {
            Warnings.Add(message);
        }
    }

    public void WriteDebug(string message)
    {
    }

    public bool ShouldProcess(string target, string action) => true;
}
