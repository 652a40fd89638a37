using System.Security.Cryptography;
using FlyImages.Install;
using FlyImages.Content;
using FlyImages.Errors;
using FlyImages.Model;
using FlyImages.State;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Tests.Content;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[Collection(ContentS3Collection.Name)]
public sealed class ContentStoreTests(ContentS3 s3) : IDisposable
{
    private readonly ContentTestBed bed = new(s3);

    [Fact]
    public async Task Three_images_sharing_layers_download_each_shared_blob_once()
    {
        using var source = bed.Source();
        var images = await bed.ListAsync(source, "golang", "node", "python");
        var results = await new ImageFetcher(new ContentStore(bed.Store, ContentTestBed.Fast())).FetchAsync(source, images, bed.Context);

        Assert.All(results, r => Assert.True(r.Succeeded, r.Error?.Message));
        for (var i = 1; i <= 3; i++)
        {
            // golang/i, node/i and python/i are the same bytes: one GET among them
            Assert.Single(PublicBucketLayout.ImageNames.SelectMany(n => bed.ObjectGets($"{n}/{i}.tar")));
        }

        foreach (var n in PublicBucketLayout.ImageNames)
        {
            Assert.Single(bed.ObjectGets($"{n}/4.tar"));
            Assert.Single(bed.ObjectGets($"{n}/5.tar"));
        }

        Assert.Equal(3 + 6, bed.BlobFiles().Length);
        Assert.Empty(bed.PartialFiles());
        foreach (var image in results.Select(r => r.Image))
        {
            Assert.Equal(ImageState.Fetched, image.State);
            foreach (var layer in image.Layers)
            {
                var expected = "sha256:" + Convert.ToHexString(SHA256.HashData(PublicBucketLayout.Layer(image.Name, layer.Index))).ToLowerInvariant();
                Assert.Equal(expected, layer.Digest);
                Assert.Equal(ContentPaths.BlobPath(bed.Store.RootPath, expected), layer.BlobPath);
                Assert.Equal(PublicBucketLayout.Layer(image.Name, layer.Index), await File.ReadAllBytesAsync(layer.BlobPath!));
            }
        }

        // the store records the images as fetched, with their digests and blob paths
        var recorded = new ImageRepository(bed.Store).List(PublicBucketLayout.SourceUri);
        Assert.Equal(["golang", "node", "python"], recorded.Select(i => i.Name));
        Assert.All(recorded, i => Assert.Equal(ImageState.Fetched, i.State));
        Assert.All(recorded.SelectMany(i => i.Layers), l => Assert.True(File.Exists(l.BlobPath)));

        // the listing shows what is here
        var listed = await bed.ListAsync(source, "golang");
        Assert.Equal(ImageState.Fetched, listed[0].State);
        Assert.All(listed[0].Layers, l => Assert.NotNull(l.BlobPath));
    }

    [Fact]
    public async Task A_second_run_issues_no_GET_and_Force_rehashes_without_downloading()
    {
        using var source = bed.Source();
        var images = await bed.ListAsync(source, "golang", "node");
        var content = new ContentStore(bed.Store, ContentTestBed.Fast());
        await new ImageFetcher(content).FetchAsync(source, images, bed.Context);
        Assert.NotEmpty(bed.ObjectGets());
        // the fetched-bytes counter has what was downloaded: each stored blob once
        var downloaded = bed.BlobFiles().Sum(f => new FileInfo(f).Length);
        Assert.Equal(downloaded, StoreCounters.Read(bed.Store, StoreCounters.FetchedBytes));

        bed.Proxy.Clear();
        var again = await new ImageFetcher(new ContentStore(bed.Store, ContentTestBed.Fast())).FetchAsync(source, await bed.ListAsync(source, "golang", "node"), bed.Context);
        Assert.All(again, r => Assert.True(r.Succeeded));
        Assert.Empty(bed.ObjectGets());
        Assert.DoesNotContain(bed.Proxy.Requests, r => r.Method == "HEAD");

        var layer = images[0].Layers[3];
        var forced = await content.FetchLayerAsync(source, layer, bed.Context, CancellationToken.None, force: true);
        Assert.Equal(FetchOutcome.Reverified, forced.Outcome);
        Assert.Empty(bed.ObjectGets());
        Assert.NotNull(content.TryGetBlob(PublicBucketLayout.SourceUri, layer));
        Assert.NotNull(content.TryGetBlob(forced.Digest));
        Assert.Equal(downloaded, StoreCounters.Read(bed.Store, StoreCounters.FetchedBytes));
    }

    [Fact]
    public async Task Force_finds_a_damaged_blob_and_fetches_it_again()
    {
        using var source = bed.Source();
        var content = new ContentStore(bed.Store, ContentTestBed.Fast());
        var layer = (await bed.ListAsync(source, "python"))[0].Layers[4];
        var first = await content.FetchLayerAsync(source, layer, bed.Context, CancellationToken.None);
        Assert.Equal(FetchOutcome.Downloaded, first.Outcome);

        // damage it in place (same size)
        File.SetUnixFileMode(first.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var bytes = await File.ReadAllBytesAsync(first.Path);
        bytes[100] ^= 0x55;
        await File.WriteAllBytesAsync(first.Path, bytes);

        // without -Force the record is trusted (no GET)...
        bed.Proxy.Clear();
        Assert.Equal(FetchOutcome.Present, (await content.FetchLayerAsync(source, layer, bed.Context, CancellationToken.None)).Outcome);
        Assert.Empty(bed.ObjectGets());

        // ...with it the blob is re-hashed, found damaged, and fetched again
        var forced = await content.FetchLayerAsync(source, layer, bed.Context, CancellationToken.None, force: true);
        Assert.Equal(FetchOutcome.Downloaded, forced.Outcome);
        Assert.Equal(first.Digest, forced.Digest);
        Assert.Single(bed.ObjectGets());
        Assert.Contains(bed.Context.Warnings, w => w.Contains("no longer matches", StringComparison.Ordinal));
        Assert.Equal(PublicBucketLayout.Layer("python", 5), await File.ReadAllBytesAsync(forced.Path));
    }

    [Fact]
    public async Task A_missing_blob_file_is_noticed_and_fetched_again()
    {
        using var source = bed.Source();
        var content = new ContentStore(bed.Store, ContentTestBed.Fast());
        var layer = (await bed.ListAsync(source, "node"))[0].Layers[4];
        var first = await content.FetchLayerAsync(source, layer, bed.Context, CancellationToken.None);
        File.Delete(first.Path);
        Assert.Null(content.TryGetBlob(PublicBucketLayout.SourceUri, layer));
        var again = await content.FetchLayerAsync(source, layer, bed.Context, CancellationToken.None);
        Assert.Equal(FetchOutcome.Downloaded, again.Outcome);
        Assert.True(File.Exists(again.Path));
    }

    [Fact]
    public async Task A_large_blob_fetched_in_parallel_parts_is_exact()
    {
        using var source = bed.Source();
        var content = new ContentStore(bed.Store, ContentTestBed.Fast(partSize: 256 * 1024, parts: 4));
        var blob = await content.FetchLayerAsync(source, await bed.BigLayerAsync(source), bed.Context, CancellationToken.None);
        Assert.Equal(s3.BigDigest, blob.Digest);
        Assert.Equal(s3.Big, await File.ReadAllBytesAsync(blob.Path));
        var gets = bed.ObjectGets(ContentS3.BigKey);
        Assert.Equal((ContentS3.BigSize + (256 * 1024) - 1) / (256 * 1024), gets.Count);
        Assert.All(gets, g => Assert.StartsWith("bytes=", g.Range));
        Assert.Empty(bed.PartialFiles());
        // read-only in the store
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(blob.Path));
    }

    [Fact]
    public async Task The_SDK_stream_path_and_a_folder_source_give_the_same_blobs()
    {
        using var sdk = bed.Source();
        var viaSdk = await new ContentStore(bed.Store, new FetchOptions { UseSdkStreams = true, PartSize = 1024 * 1024 }).FetchLayerAsync(sdk, await bed.BigLayerAsync(sdk), bed.Context, CancellationToken.None);
        Assert.Equal(s3.BigDigest, viaSdk.Digest);

        using var folder = new TempDirectory("flyimages-folder");
        PublicBucketLayout.WriteFolder(folder.Path);
        using var storeDir = new TempDirectory("flyimages-content");
        var store = FlyStore.Open(storeDir.Path);
        using var dir = FlyImages.Sources.ImageSourceFactory.Create(new FlyImages.Sources.SourceOptions { Source = folder.Path }, bed.Context);
        var images = (await FlyImages.Images.ImageCatalog.ListAsync(dir, store, bed.Context)).ToList();
        var results = await new ImageFetcher(new ContentStore(store, ContentTestBed.Fast(partSize: 64 * 1024))).FetchAsync(dir, images, bed.Context);
        Assert.All(results, r => Assert.True(r.Succeeded, r.Error?.Message));
        Assert.Equal(9, Directory.GetFiles(ContentPaths.BlobDirectory(store.RootPath)).Length);
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
    }

    [Fact]
    public async Task Signed_requests_use_SDK_presigned_URLs_for_the_ranged_GETs()
    {
        // s3rver accepts the key pair S3RVER/S3RVER and checks SigV4 query signatures
        using var source = FlyImages.Sources.ImageSourceFactory.Create(new FlyImages.Sources.SourceOptions
        {
            Source = PublicBucketLayout.SourceUri,
            Endpoint = bed.Proxy.Endpoint,
            Credentials = new FlyImages.Sources.S3Credentials("S3RVER", "S3RVER"),
        }, bed.Context);
        var blob = await new ContentStore(bed.Store, ContentTestBed.Fast()).FetchLayerAsync(source, await bed.BigLayerAsync(source), bed.Context, CancellationToken.None);
        Assert.Equal(s3.BigDigest, blob.Digest);
        Assert.All(bed.ObjectGets(ContentS3.BigKey), g => Assert.Contains("X-Amz-Signature=", g.Target, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Two_stores_on_the_same_folder_fetch_an_object_once_and_never_share_a_partial_file()
    {
        // two ContentStore instances stand for two processes: the object lock (flock) serialises them
        bed.Proxy.FaultFirst(1, r => r.IsGet && r.Path.EndsWith(ContentS3.BigKey, StringComparison.Ordinal), new Fault.Stall(1000, TimeSpan.FromMilliseconds(700)));
        using var source = bed.Source();
        var layer = await bed.BigLayerAsync(source);
        var other = FlyStore.Open(bed.Store.RootPath);
        var a = new ContentStore(bed.Store, ContentTestBed.Fast(parts: 1)).FetchLayerAsync(source, layer, bed.Context, CancellationToken.None);
        var b = new ContentStore(other, ContentTestBed.Fast(parts: 1)).FetchLayerAsync(source, layer, bed.Context, CancellationToken.None);
        var results = await Task.WhenAll(a, b);
        Assert.All(results, r => Assert.Equal(s3.BigDigest, r.Digest));
        Assert.Contains(results, r => r.Outcome == FetchOutcome.Present);
        // each range asked for once (a stall retry would ask for a different one): the second store did not download again
        var ranges = bed.ObjectGets(ContentS3.BigKey).Select(g => g.Range).ToList();
        Assert.Equal(ranges.Count, ranges.Distinct().Count());
        Assert.Equal(s3.Big, await File.ReadAllBytesAsync(results[0].Path));
    }

    [Theory]
    [InlineData("../etc/passwd")]
    [InlineData("golang/../../x.tar")]
    [InlineData("/abs.tar")]
    [InlineData("a//b.tar")]
    [InlineData("a/b\n.tar")]
    public async Task Unsafe_keys_are_refused_before_any_request(string key)
    {
        using var source = bed.Source();
        var layer = new Layer { Index = 1, Key = key, Size = 10, ETag = "x" };
        var error = await Assert.ThrowsAsync<FlyException>(() => new ContentStore(bed.Store).FetchLayerAsync(source, layer, bed.Context, CancellationToken.None));
        Assert.Equal(ErrorIds.ImageKeyRejected, error.ErrorId);
        Assert.Empty(bed.ObjectGets());
    }

    [Fact]
    public async Task Too_large_and_no_space_are_refused_before_any_GET()
    {
        using var source = bed.Source();
        var layer = await bed.BigLayerAsync(source);
        var tooLarge = await Assert.ThrowsAsync<FlyException>(() => new ContentStore(bed.Store, new FetchOptions { MaxBlobSize = 1024 * 1024 })
            .FetchLayerAsync(source, layer, bed.Context, CancellationToken.None));
        Assert.Equal(ErrorIds.BlobTooLarge, tooLarge.ErrorId);
        Assert.Equal(FlyErrorCategory.LimitsExceeded, tooLarge.Category);
        Assert.Contains(ContentS3.BigKey, tooLarge.Message, StringComparison.Ordinal);

        var full = await Assert.ThrowsAsync<FlyException>(() => new ContentStore(bed.Store, new FetchOptions { FreeSpaceReserve = long.MaxValue / 4 })
            .FetchLayerAsync(source, layer, bed.Context, CancellationToken.None));
        Assert.Equal(ErrorIds.StoreFull, full.ErrorId);
        Assert.Empty(bed.ObjectGets());
        Assert.Empty(bed.BlobFiles());
    }

    [Fact]
    public async Task Progress_has_an_image_bar_with_layer_children_and_completes_them_all()
    {
        using var source = bed.Source();
        var images = await bed.ListAsync(source, "golang");
        await new ImageFetcher(new ContentStore(bed.Store, ContentTestBed.Fast())).FetchAsync(source, images, bed.Context);
        var progress = bed.Context.Progress;
        var ids = progress.Select(p => p.ActivityId).Distinct().ToList();
        Assert.Contains(progress, p => p.ParentActivityId == -1 && p.Activity.Contains("golang", StringComparison.Ordinal));
        // every bar shown is completed at the end
        foreach (var id in ids)
        {
            Assert.True(progress.Last(p => p.ActivityId == id).Completed, $"bar {id} was not completed");
        }
    }

    public void Dispose() => bed.Dispose();
}
