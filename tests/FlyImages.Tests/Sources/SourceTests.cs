using System.Security.Cryptography;
using FlyImages.Content;
using FlyImages.Engine;
using FlyImages.Errors;
using FlyImages.Images;
using FlyImages.Model;
using FlyImages.Operations;
using FlyImages.Sources;
using FlyImages.State;
using FlyImages.Workflows;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Tests.Sources;

public sealed class SeededS3Fixture : IAsyncLifetime, IDisposable
{
    public S3rverFixture Server { get; } = new();

    public Task InitializeAsync() => PublicBucketLayout.SeedAsync(Server);

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => Server.Dispose();
}

public sealed class S3ImageSourceTests(SeededS3Fixture s3) : IClassFixture<SeededS3Fixture>
{
    private IImageSource Open(string? source = null) => ImageSourceFactory.Create(
        new SourceOptions { Source = source ?? PublicBucketLayout.SourceUri, Endpoint = s3.Server.Endpoint, RetryBaseDelay = TimeSpan.FromMilliseconds(10) }, NullOperationContext.Instance);

    [Fact]
    public async Task Listing_paginates_past_a_thousand_keys()
    {
        using var source = Open();
        var keys = new List<SourceObject>();
        await foreach (var o in source.ListAsync(default))
        {
            keys.Add(o);
        }

        Assert.Equal(PublicBucketLayout.ManyKeys, keys.Count(k => k.Key.StartsWith("many/", StringComparison.Ordinal)));
        Assert.Contains(keys, k => k.Key == "golang/5.tar");
    }

    [Fact]
    public async Task Catalog_builds_the_images_and_merges_store_states()
    {
        using var source = Open();
        using var dir = new TempDirectory("flyimages-store");
        var store = FlyStore.Open(dir.Path);
        var first = await ImageCatalog.ListAsync(source, store, NullOperationContext.Instance);
        var golang = first.Single(i => i.Name == "golang");
        Assert.Equal(ImageState.Remote, golang.State);

        new ImageRepository(store).Record(golang);
        var run = new WorkflowRepository(store).BeginRun(WorkflowKinds.InstallImage, InstallWorkflow.KeyOf(golang.Source, golang.Name), golang.Name, golang.Source);
        var install = new PersistedWorkflow<InstallState, InstallTrigger>(store, run, WorkflowMachines.ConfigureInstall);
        foreach (var step in new[] { InstallTrigger.Start, InstallTrigger.Resolved, InstallTrigger.Fetched, InstallTrigger.Unpacked })
        {
            install.Fire(step);
        }

        var second = await ImageCatalog.ListAsync(source, store, NullOperationContext.Instance);
        Assert.Equal(ImageState.Ready, second.Single(i => i.Name == "golang").State);
        Assert.Equal(ImageState.Remote, second.Single(i => i.Name == "node").State);
    }

    [Fact]
    public async Task Ranged_reads_return_the_right_bytes_and_sizes()
    {
        using var source = Open();
        var expected = PublicBucketLayout.Layer("golang", 4);
        var stat = await source.StatAsync("golang/4.tar", default);
        Assert.Equal(expected.Length, stat.Size);
        Assert.Equal(Convert.ToHexStringLower(MD5.HashData(expected)), stat.ETag);

        using var read = await source.OpenReadAsync("golang/4.tar", 100, 50, stat.ETag, default);
        Assert.Equal(50, read.ContentLength);
        Assert.Equal(expected.Length, read.ObjectSize);
        var buffer = new MemoryStream();
        await read.Body.CopyToAsync(buffer);
        Assert.Equal(expected.AsSpan(100, 50).ToArray(), buffer.ToArray());

        using var tail = await source.OpenReadAsync("golang/4.tar", 1000, null, null, default);
        Assert.Equal(expected.Length - 1000, tail.ContentLength);
    }

    [Fact]
    public async Task A_changed_object_is_detected_by_its_etag()
    {
        using var source = Open();
        await Assert.ThrowsAsync<SourceObjectChangedException>(() => source.OpenReadAsync("golang/4.tar", 10, null, "0123456789abcdef0123456789abcdef", default));
    }

    [Fact]
    public async Task A_missing_key_is_ObjectNotFound()
    {
        using var source = Open();
        var e = await Assert.ThrowsAsync<FlyException>(() => source.StatAsync("golang/9.tar", default));
        Assert.Equal(FlyErrorCategory.ObjectNotFound, e.Category);
    }

    [Fact]
    public async Task An_unreachable_endpoint_is_retried_a_bounded_number_of_times()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var context = new RecordingContext();
        using var source = ImageSourceFactory.Create(new SourceOptions { Source = PublicBucketLayout.SourceUri, Endpoint = $"http://127.0.0.1:{port}", MaxAttempts = 3, RetryBaseDelay = TimeSpan.FromMilliseconds(5) }, context);
        var e = await Assert.ThrowsAsync<FlyException>(async () => await ImageCatalog.ListAsync(source, null, context));
        Assert.Equal(ErrorIds.SourceUnreachable, e.ErrorId);
        Assert.Equal(FlyErrorCategory.ConnectionError, e.Category);
        Assert.Equal(2, context.Verbose.Count(v => v.Contains("attempt", StringComparison.Ordinal)));
    }

    private sealed class RecordingContext : IOperationContext
    {
        public List<string> Verbose { get; } = [];

        public CancellationToken CancellationToken => default;

        public bool ShouldProcess(string target, string action) => true;

        public void WriteDebug(string message) { }

        public void WriteProgress(ProgressReport report) { }

        public void WriteVerbose(string message)
        {
            lock (Verbose)
            {
                Verbose.Add(message);
            }
        }

        public void WriteWarning(string message) { }
    }
}

public sealed class DirectoryImageSourceTests : IDisposable
{
    private readonly TempDirectory dir = new("flyimages-src");

    [Fact]
    public async Task Symlinks_and_fifos_are_reported_not_followed_or_opened()
    {
        PublicBucketLayout.WriteFolder(dir.Path);
        File.CreateSymbolicLink(Path.Combine(dir.Path, "golang", "6.tar"), "/etc/passwd");
        var mkfifo = System.Diagnostics.Process.Start("mkfifo", Path.Combine(dir.Path, "node", "6.tar"));
        mkfifo.WaitForExit();
        Directory.CreateSymbolicLink(Path.Combine(dir.Path, "linked"), "/etc");

        using var source = new DirectoryImageSource(SourceSpec.Parse(dir.Path));
        var warnings = new List<string>();
        var objects = new List<SourceObject>();
        await foreach (var o in source.ListAsync(default))
        {
            objects.Add(o);
        }

        var images = ImageLayout.BuildImages(source.Spec.Uri, objects, warnings.Add).ToDictionary(i => i.Name);
        Assert.Contains(images["golang"].Problems, p => p.Contains("symbolic link", StringComparison.Ordinal));
        Assert.Contains(images["node"].Problems, p => p.Contains("not a regular file", StringComparison.Ordinal));
        Assert.True(images["python"].IsValid);
        Assert.Contains(warnings, w => w.Contains("linked", StringComparison.Ordinal));
        await Assert.ThrowsAsync<FlyException>(() => source.OpenReadAsync("node/6.tar", 0, null, null, default));
        await Assert.ThrowsAsync<FlyException>(() => source.OpenReadAsync("../etc/passwd", 0, null, null, default));
    }

    [Fact]
    public async Task One_image_is_listed_from_its_own_folder_as_the_full_listing_lists_it()
    {
        PublicBucketLayout.WriteFolder(dir.Path);
        Directory.CreateSymbolicLink(Path.Combine(dir.Path, "linked"), "/etc");
        using var source = new DirectoryImageSource(SourceSpec.Parse(dir.Path));
        var all = new List<SourceObject>();
        await foreach (var o in source.ListAsync(default))
        {
            all.Add(o);
        }

        var golang = await ListImageAsync(source, "golang");
        Assert.NotEmpty(golang);
        Assert.Equal(all.Where(o => o.Key.StartsWith("golang/", StringComparison.Ordinal)), golang);
        var found = await ImageCatalog.FindAsync(source, ["golang", "nothing"], null, NullOperationContext.Instance);
        Assert.Equal("golang", Assert.Single(found).Name);
        Assert.NotNull(found[0].ListedAt);
        Assert.Empty(await ListImageAsync(source, "nothing"));
        Assert.Empty(await ListImageAsync(source, ".."));
        Assert.Empty(await ListImageAsync(source, "golang/../node"));
        Assert.Equal("is a symbolic link (not followed)", Assert.Single(await ListImageAsync(source, "linked")).Problem);
    }

    private static async Task<List<SourceObject>> ListImageAsync(IImageSource source, string image)
    {
        var objects = new List<SourceObject>();
        await foreach (var o in source.ListImageAsync(image, default))
        {
            objects.Add(o);
        }

        return objects;
    }

    [Fact]
    public async Task A_range_of_a_file_ends_where_the_range_does_and_a_blob_larger_than_a_part_is_fetched_exactly()
    {
        var bytes = new byte[(3 << 20) + 12345];
        new Random(7).NextBytes(bytes);
        Directory.CreateDirectory(Path.Combine(dir.Path, "src", "big"));
        File.WriteAllBytes(Path.Combine(dir.Path, "src", "big", "1.tar"), bytes);
        using IImageSource source = new DirectoryImageSource(SourceSpec.Parse(Path.Combine(dir.Path, "src")));

        using (var read = await source.OpenRangeAsync("big/1.tar", 1 << 20, 1 << 20, null, default))
        {
            Assert.Equal(1 << 20, read.ContentLength);
            var body = new MemoryStream();
            await read.Body.CopyToAsync(body);
            Assert.Equal(bytes.AsSpan(1 << 20, 1 << 20).ToArray(), body.ToArray());
        }

        // the fetch reads 1 MiB parts in parallel: each must end at its part's end (a folder source once sent the
        // rest of the file, and every layer larger than one part failed 'sent more than it announced')
        var image = Assert.Single(await ImageCatalog.FindAsync(source, ["big"], null, NullOperationContext.Instance));
        var store = FlyStore.Open(Path.Combine(dir.Path, "store"));
        var options = new FetchOptions { PartSize = 1 << 20, PartConcurrency = 2 };
        var blob = await new ContentStore(store, options).FetchLayerAsync(source, image.Layers[0], NullOperationContext.Instance, CancellationToken.None);
        Assert.Equal("sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)), blob.Digest);
        Assert.Equal(bytes, File.ReadAllBytes(blob.Path));
    }

    [Fact]
    public async Task A_missing_folder_is_ObjectNotFound()
    {
        using var source = new DirectoryImageSource(SourceSpec.Parse(Path.Combine(dir.Path, "nothing")));
        var e = await Assert.ThrowsAsync<FlyException>(async () => await ImageCatalog.ListAsync(source, null, NullOperationContext.Instance));
        Assert.Equal(ErrorIds.SourceNotFound, e.ErrorId);
    }

    public void Dispose() => dir.Dispose();
}
