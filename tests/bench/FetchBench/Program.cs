using System.Diagnostics;
using System.Globalization;
using FlyImages.Content;
using FlyImages.Model;
using FlyImages.Operations;
using FlyImages.Sources;
using FlyImages.State;

// FetchBench --endpoint URL --source s3://bucket/prefix --key KEY --store DIR [--part-size BYTES] [--concurrency N] [--md5 off] [--reader sdk]
// Prints: seconds=<s> bytes=<n> digest=<sha256:...>
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
using var source = ImageSourceFactory.Create(new SourceOptions { Source = Need("source"), Endpoint = Need("endpoint"), Anonymous = true }, context);
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
