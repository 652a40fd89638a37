using System.Management.Automation;
using FlyImages.Module.Tests.Infrastructure;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests;

[Collection(SeededS3Collection.Name)]
public sealed class GetFlyImageTests(SeededS3 s3) : IDisposable
{
    private readonly PowerShellSession ps = new();
    private readonly TempDirectory store = new("flyimages-store");

    private Dictionary<string, object?> Vars => new() { ["ep"] = s3.Endpoint, ["src"] = PublicBucketLayout.SourceUri, ["store"] = store.Path };

    private const string Get = "Get-FlyImage -Source $src -Endpoint $ep -StorePath $store";

    [Fact]
    public void Lists_the_valid_images_with_ordered_layers()
    {
        var r = ps.Invoke($"{Get} golang,node,python", Vars);
        r.ShouldSucceed();
        Assert.Equal(["golang", "node", "python"], r.Output.Select(o => (string)o.Properties["Name"].Value));
        foreach (var image in r.Output)
        {
            Assert.Equal("FlyImages.Model.Image", image.TypeNames[0]);
            Assert.Equal("Remote", image.Properties["State"].Value.ToString());
            Assert.Equal(PublicBucketLayout.SourceUri, image.Properties["Source"].Value);
            var layers = ((System.Collections.IEnumerable)image.Properties["Layers"].Value).Cast<object>().Select(PSObject.AsPSObject).ToList();
            Assert.Equal([1, 2, 3, 4, 5], layers.Select(l => (int)l.Properties["Index"].Value));
            Assert.All(layers, l => Assert.False(string.IsNullOrEmpty((string)l.Properties["ETag"].Value)));
            // keys are relative to the source (s3://bucket/images + "/" + key)
            Assert.Equal($"{image.Properties["Name"].Value}/3.tar", layers[2].Properties["Key"].Value);
            Assert.Equal(layers.Sum(l => (long)l.Properties["Size"].Value), (long)image.Properties["Size"].Value);
        }

        // layers 1-3 are the same bytes in every image: same ETag (MD5)
        var etags = r.Output.Select(i => PSObject.AsPSObject(((System.Collections.IList)i.Properties["Layers"].Value)[0]!).Properties["ETag"].Value).Distinct().ToList();
        Assert.Single(etags);
    }

    [Fact]
    public void Wildcards_filter_by_name_case_insensitively()
    {
        var r = ps.Invoke($"{Get} GO*, py?hon", Vars);
        r.ShouldSucceed();
        Assert.Equal(["golang", "python"], r.Output.Select(o => (string)o.Properties["Name"].Value));
    }

    [Fact]
    public void Invalid_images_are_listed_as_Invalid_with_warnings_never_dropped()
    {
        var r = ps.Invoke(Get, Vars);
        Assert.Empty(r.AllErrors);
        var byName = r.Output.ToDictionary(o => (string)o.Properties["Name"].Value);
        foreach (var (name, why) in PublicBucketLayout.InvalidImages)
        {
            Assert.Equal("Invalid", byName[name].Properties["State"].Value.ToString());
            Assert.Contains(r.Warnings, w => w.Contains($"'{name}'", StringComparison.Ordinal) && w.Contains(why, StringComparison.Ordinal));
        }

        Assert.Contains(r.Warnings, w => w.Contains("README.md", StringComparison.Ordinal));
        // the listing paginated past 1,000 keys: every key of 'many' was seen
        Assert.Contains(r.Warnings, w => w.Contains($"{PublicBucketLayout.ManyKeys} layers", StringComparison.Ordinal));
    }

    [Fact]
    public void Names_bind_from_the_pipeline_by_value_and_by_property_name()
    {
        var byValue = ps.Invoke($"'node','golang' | {Get}", Vars);
        byValue.ShouldSucceed();
        Assert.Equal(["golang", "node"], byValue.Output.Select(o => (string)o.Properties["Name"].Value).Order());

        var byProperty = ps.Invoke($"[pscustomobject]@{{ Name = 'python' }} | {Get}", Vars);
        byProperty.ShouldSucceed();
        Assert.Equal("python", Assert.Single(byProperty.Output).Properties["Name"].Value);

        var chained = ps.Invoke($"{Get} golang | Get-FlyImage -Endpoint $ep -StorePath $store", Vars);
        chained.ShouldSucceed();
        Assert.Equal("golang", Assert.Single(chained.Output).Properties["Name"].Value);
    }

    [Fact]
    public void The_default_table_view_shows_name_layer_count_human_size_and_state()
    {
        var r = ps.Invoke($"{Get} golang | Out-Default", Vars);
        r.ShouldSucceed();
        var lines = r.HostText.Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0 && !l.StartsWith("WARNING:", StringComparison.Ordinal)).ToList();
        Assert.Matches(@"^Name\s+Layers\s+Size\s+State\s+Source$", lines[0]);
        Assert.Matches(@"^golang\s+5\s+\d+(\.\d+)? KiB\s+Remote\s+s3://", lines[2]);
    }

    [Fact]
    public void An_unknown_name_is_ObjectNotFound_with_a_stable_id_and_the_rest_still_listed()
    {
        var r = ps.Invoke($"{Get} golang, nosuchimage", Vars);
        Assert.Equal("golang", Assert.Single(r.Output).Properties["Name"].Value);
        var error = Assert.Single(r.Errors);
        Assert.Equal("ImageNotFound,FlyImages.Cmdlets.GetFlyImageCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, error.CategoryInfo.Category);
        Assert.Equal("nosuchimage", error.TargetObject);

        // a wildcard that matches nothing is not an error
        Assert.Empty(ps.Invoke($"{Get} zzz*", Vars).AllErrors);
    }

    [Fact]
    public void A_missing_bucket_is_ObjectNotFound()
    {
        var r = ps.Invoke("Get-FlyImage -Source s3://no-such-bucket/images -Endpoint $ep -StorePath $store", Vars);
        var error = Assert.Single(r.AllErrors);
        Assert.Equal("SourceNotFound,FlyImages.Cmdlets.GetFlyImageCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, error.CategoryInfo.Category);
        Assert.Contains("no-such-bucket", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_prefix_is_ObjectNotFound()
    {
        var r = ps.Invoke($"Get-FlyImage -Source s3://{PublicBucketLayout.Bucket}/nothing-here -Endpoint $ep -StorePath $store", Vars);
        var error = Assert.Single(r.AllErrors);
        Assert.Equal("SourceNotFound,FlyImages.Cmdlets.GetFlyImageCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, error.CategoryInfo.Category);
    }

    [Fact]
    public void Access_denied_is_PermissionDenied()
    {
        var r = ps.Invoke("$p = [securestring]::new(); 'secret'.ToCharArray().ForEach{ $p.AppendChar($_) }; $c = [pscredential]::new('WRONGKEY', $p); Get-FlyImage -Source $src -Endpoint $ep -StorePath $store -Credential $c", Vars);
        var error = Assert.Single(r.AllErrors);
        Assert.Equal("SourceAccessDenied,FlyImages.Cmdlets.GetFlyImageCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.PermissionDenied, error.CategoryInfo.Category);
    }

    [Fact]
    public void An_unreachable_endpoint_is_retried_then_one_ConnectionError_naming_it()
    {
        // a port nobody listens on (bound and released)
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var r = ps.Invoke($"Get-FlyImage -Source $src -Endpoint http://127.0.0.1:{port} -StorePath $store -Verbose", Vars);
        var error = Assert.Single(r.AllErrors);
        Assert.Equal("SourceUnreachable,FlyImages.Cmdlets.GetFlyImageCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ConnectionError, error.CategoryInfo.Category);
        Assert.Contains($"127.0.0.1:{port}", error.ToString(), StringComparison.Ordinal);
        Assert.Equal(3, r.Verbose.Count(v => v.Contains("attempt", StringComparison.Ordinal)));
        Assert.DoesNotContain(" at FlyImages.", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void An_invalid_source_is_InvalidArgument()
    {
        var r = ps.Invoke("Get-FlyImage -Source 's3://Bad_Bucket' -StorePath $store", Vars);
        var error = Assert.Single(r.AllErrors);
        Assert.Equal("SourceInvalid,FlyImages.Cmdlets.GetFlyImageCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
    }

    [Fact]
    public void A_folder_source_behaves_like_the_bucket()
    {
        using var folder = new TempDirectory("flyimages-folder");
        PublicBucketLayout.WriteFolder(folder.Path);
        File.WriteAllText(Path.Combine(folder.Path, "golang", "notes.txt"), "junk");
        foreach (var source in new[] { folder.Path, new Uri(folder.Path).AbsoluteUri })
        {
            var r = ps.Invoke("Get-FlyImage -Source $f -StorePath $store", new Dictionary<string, object?> { ["f"] = source, ["store"] = store.Path });
            Assert.Empty(r.AllErrors);
            Assert.Equal(["golang", "node", "python"], r.Output.Select(o => (string)o.Properties["Name"].Value));
            Assert.Equal(["Invalid", "Remote", "Remote"], r.Output.Select(o => o.Properties["State"].Value.ToString()));
            Assert.Contains(r.Warnings, w => w.Contains("golang/notes.txt", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Installed_lists_the_store_and_creates_nothing_when_there_is_none()
    {
        using var fresh = new TempDirectory("flyimages-store");
        var path = Path.Combine(fresh.Path, "sub");
        var r = ps.Invoke("Get-FlyImage -Installed -StorePath $p", new Dictionary<string, object?> { ["p"] = path });
        r.ShouldSucceed();
        Assert.Empty(r.Output);
        Assert.False(Directory.Exists(path));

        var named = ps.Invoke("Get-FlyImage -Installed golang -StorePath $p", new Dictionary<string, object?> { ["p"] = path });
        Assert.Equal("ImageNotFound,FlyImages.Cmdlets.GetFlyImageCommand", Assert.Single(named.Errors).FullyQualifiedErrorId);
    }

    public void Dispose()
    {
        ps.Dispose();
        store.Dispose();
    }
}
