using System.Management.Automation;
using System.Security.Cryptography;
using FlyImages.Module.Tests.Infrastructure;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests;

[Collection(SeededS3Collection.Name)]
public sealed class SaveFlyImageTests : IDisposable
{
    private const string SlowPrefix = "slow-" + "images";
    private readonly SeededS3 s3;
    private readonly PowerShellSession ps = new();
    private readonly TempDirectory store = new("flyimages-store");
    private readonly FaultProxy proxy;

    public SaveFlyImageTests(SeededS3 s3)
    {
        this.s3 = s3;
        proxy = new FaultProxy(s3.Endpoint);
    }

    private Dictionary<string, object?> Vars => new() { ["ep"] = proxy.Endpoint, ["src"] = PublicBucketLayout.SourceUri, ["store"] = store.Path };

    private const string Opts = "-Source $src -Endpoint $ep -StorePath $store";

    private List<ProxiedRequest> TarGets(string? suffix = null) => proxy.Requests
        .Where(r => r.IsGet && r.Path.EndsWith(".tar", StringComparison.Ordinal) && (suffix is null || Uri.UnescapeDataString(r.Path).EndsWith(suffix, StringComparison.Ordinal))).ToList();

    [Fact]
    public void Piped_images_are_saved_with_shared_layers_downloaded_once_and_show_as_fetched()
    {
        // one layer is slow (a 1.5 s pause mid-body) so its progress bar is seen
        proxy.FaultFirst(1, p => p.IsGet && p.Path.EndsWith("/node/5.tar", StringComparison.Ordinal), new Fault.Stall(100, TimeSpan.FromSeconds(1.5)));
        var r = ps.Invoke($"Get-FlyImage golang,node,python {Opts} | Save-FlyImage -StorePath $store -Endpoint $ep -PassThru", Vars);
        r.ShouldSucceed();
        Assert.Equal(["golang", "node", "python"], r.Output.Select(o => (string)o.Properties["Name"].Value));
        foreach (var image in r.Output)
        {
            Assert.Equal("Fetched", image.Properties["State"].Value.ToString());
            var layers = ((System.Collections.IEnumerable)image.Properties["Layers"].Value).Cast<object>().Select(PSObject.AsPSObject).ToList();
            foreach (var layer in layers)
            {
                var path = (string)layer.Properties["BlobPath"].Value;
                Assert.StartsWith(Path.Combine(store.Path, "blobs", "sha256"), path, StringComparison.Ordinal);
                Assert.Equal("sha256:" + Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))).ToLowerInvariant(), layer.Properties["Digest"].Value);
            }
        }

        for (var i = 1; i <= 3; i++)
        {
            Assert.Single(PublicBucketLayout.ImageNames.SelectMany(n => TarGets($"{n}/{i}.tar")));
        }

        Assert.Equal(9, TarGets().Count);

        var installed = ps.Invoke("Get-FlyImage -Installed -StorePath $store", Vars);
        installed.ShouldSucceed();
        Assert.Equal(["golang", "node", "python"], installed.Output.Select(o => (string)o.Properties["Name"].Value));
        Assert.All(installed.Output, o => Assert.Equal("Fetched", o.Properties["State"].Value.ToString()));

        // progress: a bar per image with layer children, all completed
        Assert.Contains(r.Progress, p => p.ParentActivityId == -1 && p.Activity.Contains("node", StringComparison.Ordinal));
        Assert.Contains(r.Progress, p => p.ParentActivityId >= 0 && p.Activity.Contains("node/5.tar", StringComparison.Ordinal) && p.RecordType == ProgressRecordType.Processing);
        foreach (var id in r.Progress.Select(p => p.ActivityId).Distinct())
        {
            Assert.Equal(ProgressRecordType.Completed, r.Progress.Last(p => p.ActivityId == id).RecordType);
        }
    }

    [Fact]
    public void A_second_run_downloads_nothing_and_Force_reverifies_without_downloading()
    {
        ps.Invoke($"Save-FlyImage golang {Opts}", Vars).ShouldSucceed();
        Assert.Equal(5, TarGets().Count);
        proxy.Clear();

        var again = ps.Invoke($"Save-FlyImage golang {Opts} -PassThru -Verbose", Vars);
        again.ShouldSucceed();
        Assert.Empty(TarGets());
        Assert.Contains(again.Verbose, v => v.Contains("already in the store", StringComparison.Ordinal));

        var forced = ps.Invoke($"Save-FlyImage golang {Opts} -Force -Verbose", Vars);
        forced.ShouldSucceed();
        Assert.Empty(TarGets());
        Assert.Contains(forced.Verbose, v => v.Contains("re-verified", StringComparison.Ordinal));
    }

    [Fact]
    public void WhatIf_saves_nothing()
    {
        var r = ps.Invoke($"Save-FlyImage go* {Opts} -WhatIf", Vars);
        r.ShouldSucceed();
        Assert.Contains("What if", r.HostText, StringComparison.Ordinal);
        Assert.Contains("golang", r.HostText, StringComparison.Ordinal);
        Assert.Empty(TarGets());
        Assert.False(Directory.Exists(Path.Combine(store.Path, "blobs", "sha256")));
    }

    [Fact]
    public void Confirm_asks_once_per_image_and_No_saves_nothing()
    {
        ps.Host.ChoiceAnswer = 2; // No
        var r = ps.Invoke($"Save-FlyImage golang {Opts} -Confirm", Vars);
        r.ShouldSucceed();
        Assert.Equal(1, ps.Host.PromptCount);
        Assert.Contains("golang", r.HostText, StringComparison.Ordinal);
        Assert.Empty(TarGets());
    }

    [Fact]
    public void Unknown_and_invalid_images_are_errors_and_the_rest_is_saved()
    {
        var r = ps.Invoke($"Save-FlyImage node, nosuchimage, gappy {Opts} -PassThru", Vars);
        Assert.Equal("node", Assert.Single(r.Output).Properties["Name"].Value);
        Assert.Equal(["ImageInvalid,FlyImages.Cmdlets.SaveFlyImageCommand", "ImageNotFound,FlyImages.Cmdlets.SaveFlyImageCommand"],
            r.Errors.Select(e => e.FullyQualifiedErrorId).Order());
        Assert.Contains(r.Errors, e => (string)e.TargetObject == "gappy" && e.CategoryInfo.Category == ErrorCategory.InvalidData);
    }

    [Fact]
    public void Names_bind_by_value_and_by_property_name()
    {
        var r = ps.Invoke($"'python' | Save-FlyImage {Opts} -PassThru; [pscustomobject]@{{ Name = 'node' }} | Save-FlyImage {Opts} -PassThru; Save-FlyImage -InputObject (Get-FlyImage golang {Opts}) -Endpoint $ep -StorePath $store -PassThru", Vars);
        r.ShouldSucceed();
        Assert.Equal(["python", "node", "golang"], r.Output.Select(o => (string)o.Properties["Name"].Value));
    }

    [Fact]
    public void A_persistent_fault_is_one_clear_error_and_closes_the_progress_bars()
    {
        proxy.Faults = p => p.IsGet && p.Path.EndsWith("/golang/4.tar", StringComparison.Ordinal) ? new Fault.Status(500) : null;
        var r = ps.Invoke($"Save-FlyImage golang {Opts}", Vars);
        var error = Assert.Single(r.AllErrors);
        Assert.Equal("BlobDownloadFailed,FlyImages.Cmdlets.SaveFlyImageCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ConnectionError, error.CategoryInfo.Category);
        Assert.Contains("golang/4.tar", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(" at FlyImages.", error.ToString(), StringComparison.Ordinal);
        // the one retry layer: the part is requested at most five times (FetchOptions.PartAttempts)
        Assert.Equal(5, TarGets("golang/4.tar").Count);
        foreach (var id in r.Progress.Select(p => p.ActivityId).Distinct())
        {
            Assert.Equal(ProgressRecordType.Completed, r.Progress.Last(p => p.ActivityId == id).RecordType);
        }

        var installed = ps.Invoke("Get-FlyImage -Installed golang -StorePath $store", Vars);
        Assert.Equal("Failed", Assert.Single(installed.Output).Properties["State"].Value.ToString());
    }

    [Fact]
    public async Task An_endpoint_that_ignores_Range_still_saves_the_exact_blob_and_says_so()
    {
        const int part = 64 * 1024;
        var big = RandomNumberGenerator.GetBytes((5 * part) + 99);
        var name = "norange" + Guid.NewGuid().ToString("N")[..8];
        await s3.Server.PutAsync(PublicBucketLayout.Bucket, $"{SlowPrefix}/{name}/1.tar", big);
        var vars = Vars;
        vars["src"] = $"s3://{PublicBucketLayout.Bucket}/{SlowPrefix}";
        proxy.Faults = p => p.IsGet && p.Path.EndsWith(".tar", StringComparison.Ordinal) ? new Fault.IgnoreRange() : null;
        var r = ps.Invoke($"Save-FlyImage {name} {Opts} -PartSize {part} -PartConcurrency 3 -PassThru -Verbose", vars);
        r.ShouldSucceed();
        Assert.Contains(r.Verbose, v => v.Contains("ignores Range", StringComparison.Ordinal));
        var layer = PSObject.AsPSObject(((System.Collections.IEnumerable)Assert.Single(r.Output).Properties["Layers"].Value).Cast<object>().Single());
        Assert.Equal(big, await File.ReadAllBytesAsync((string)layer.Properties["BlobPath"].Value));
    }

    [Fact]
    public async Task Stop_during_a_stalled_download_ends_promptly_and_the_next_run_resumes()
    {
        const int part = 256 * 1024;
        var big = RandomNumberGenerator.GetBytes((8 * part) + 77);
        var name = "slow" + Guid.NewGuid().ToString("N")[..8];
        await s3.Server.PutAsync(PublicBucketLayout.Bucket, $"{SlowPrefix}/{name}/1.tar", big);
        var vars = Vars;
        vars["src"] = $"s3://{PublicBucketLayout.Bucket}/{SlowPrefix}";
        proxy.Faults = p => p.IsGet && p.Range is { } range && range.StartsWith($"bytes={3 * part}-", StringComparison.Ordinal) ? new Fault.Stall(100, TimeSpan.FromMinutes(5)) : null;

        proxy.Clear();
        using var running = ps.Start($"Save-FlyImage {name} {Opts} -PartSize {part} -PartConcurrency 1", vars, out var handle);
        await proxy.Stalling.WaitAsync(TimeSpan.FromMinutes(2)); // a hang guard: parts 0-2 are in, part 3 has stalled
        Assert.Contains(proxy.Requests, r => r.Fault is not null);
        running.Stop();
        // stopped promptly: Stop returned while the source was still stalling (the stall lasts 5 minutes, the stall timeout 30 s)
        Assert.Equal(0, proxy.StallsEnded);
        Assert.Equal(PSInvocationState.Stopped, running.InvocationStateInfo.State);
        Assert.Single(Directory.GetFiles(Path.Combine(store.Path, "blobs", "partial")));

        proxy.Faults = null;
        proxy.Clear();
        var r = ps.Invoke($"Save-FlyImage {name} {Opts} -PartSize {part} -PassThru -Verbose", vars);
        r.ShouldSucceed();
        Assert.Contains(r.Verbose, v => v.Contains("resuming", StringComparison.Ordinal));
        var ranges = TarGets().Select(g => g.Range).ToList();
        Assert.DoesNotContain($"bytes=0-{part - 1}", ranges);
        Assert.Contains($"bytes={3 * part}-{(4 * part) - 1}", ranges);
        var layer = PSObject.AsPSObject(((System.Collections.IList)Assert.Single(r.Output).Properties["Layers"].Value)[0]!);
        Assert.Equal("sha256:" + Convert.ToHexString(SHA256.HashData(big)).ToLowerInvariant(), layer.Properties["Digest"].Value);
        Assert.Empty(Directory.GetFiles(Path.Combine(store.Path, "blobs", "partial")));
    }

    public void Dispose()
    {
        ps.Dispose();
        proxy.Dispose();
        store.Dispose();
    }
}
