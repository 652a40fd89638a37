using FlyImages.Module.Tests.Infrastructure;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests.Lifecycle;

/// <summary>Remove-FlyImage in a real engine, on a block-file pool (real loop devices), against s3rver.</summary>
[Collection(SeededS3Collection.Name)]
public sealed class RemoveFlyImageTests(SeededS3 s3) : IDisposable
{
    private readonly PowerShellSession ps = new();
    private readonly TempDirectory store = new("flyimages-store");
    private readonly string pool = "rm" + Guid.NewGuid().ToString("N")[..8];

    private Dictionary<string, object?> Vars => new() { ["ep"] = s3.Endpoint, ["src"] = PublicBucketLayout.SourceUri, ["store"] = store.Path, ["pool"] = pool };

    [SkippableFact]
    public void Installed_images_pipe_into_Remove_FlyImage_which_refuses_snapshots_asks_and_outputs_what_it_freed()
    {
        Requirements.RequireLoopDevices();
        ps.Invoke("Initialize-FlyThinPool -Name $pool -Backend BlockFile -DataSize 2GB -StorePath $store", Vars).ShouldSucceed();
        ps.Invoke("Install-FlyImage golang, node -Source $src -Endpoint $ep -StorePath $store -DeviceSize 256MB", Vars).ShouldSucceed();
        ps.Invoke("New-FlyThinSnapshot -Image golang -Name web -Source $src -StorePath $store", Vars).ShouldSucceed();

        // -WhatIf says what would go and changes nothing
        var whatIf = ps.Invoke("Get-FlyImage -Installed -StorePath $store | Remove-FlyImage -StorePath $store -WhatIf -RemoveSnapshots", Vars);
        whatIf.ShouldSucceed();
        Assert.Contains("Forget the image (Ready), delete 2 layer chain device(s) (keeping 3 still in use)", whatIf.HostText, StringComparison.Ordinal);
        Assert.Equal(2, ps.Invoke("Get-FlyImage -Installed -StorePath $store", Vars).Output.Count);

        // snapshots refuse the removal, naming them
        var refused = ps.Invoke("Remove-FlyImage golang -Force -StorePath $store", Vars);
        var error = Assert.Single(refused.Errors);
        Assert.Equal("ImageHasSnapshots,FlyImages.Cmdlets.RemoveFlyImageCommand", error.FullyQualifiedErrorId);
        Assert.Contains("'web'", error.Exception.Message, StringComparison.Ordinal);
        Assert.Empty(refused.Output);

        // a "No" keeps the image
        ps.Host.ChoiceAnswer = 2;
        ps.Invoke("Remove-FlyImage golang -RemoveSnapshots -StorePath $store", Vars).ShouldSucceed();
        Assert.Equal(1, ps.Host.PromptCount);
        Assert.Equal(2, ps.Invoke("Get-FlyImage -Installed -StorePath $store", Vars).Output.Count);

        // by pipeline, with its snapshots: one typed result per image, with its default view
        var removed = ps.Invoke("Get-FlyImage golang -Installed -StorePath $store | Remove-FlyImage -RemoveSnapshots -Force -StorePath $store", Vars);
        removed.ShouldSucceed();
        var result = Assert.Single(removed.Output);
        Assert.Equal("FlyImages.Lifecycle.ImageRemovalResult", result.TypeNames[0]);
        Assert.Equal(2, ((string[])result.Properties["Chains"].Value).Length);
        Assert.Equal(2, ((string[])result.Properties["Blobs"].Value).Length);
        Assert.Equal(["web"], (string[])result.Properties["Snapshots"].Value);
        Assert.True((long)result.Properties["StoreBytes"].Value > 0);
        Assert.Equal(Environment.MachineName, result.Properties["ComputerName"].Value);
        Assert.Equal("node", Assert.Single(ps.Invoke("Get-FlyImage -Installed -StorePath $store", Vars).Output).Properties["Name"].Value);
        Assert.Empty(ps.Invoke("Get-FlyThinSnapshot -StorePath $store", Vars).Output);

        var table = ps.Invoke("Remove-FlyImage node -Force -StorePath $store | Out-Default", Vars);
        table.ShouldSucceed();
        Assert.Matches(@"Image\s+Chains\s+Kept\s+Blobs\s+Pool freed\s+Store freed\s+Done", table.HostText);
        Assert.Empty(ps.Invoke("Get-FlyImage -Installed -StorePath $store", Vars).Output);

        // journaled with its trigger
        var events = ps.Invoke("Get-FlyImageEvent golang -StorePath $store", Vars);
        events.ShouldSucceed();
        Assert.Contains(events.Output, e => (string)e.Properties["Trigger"].Value == "Remove" && (e.Properties["Detail"].Value as string ?? "").Contains("Remove-FlyImage", StringComparison.Ordinal));

        // and as lifecycle entries: the trigger and what was freed; then a collection's own entry
        ps.Invoke("Limit-FlyImageStore -HighPercent 100 -LowPercent 99 -Force -StorePath $store", Vars).ShouldSucceed();
        var lifecycle = ps.Invoke("Get-FlyImageEvent -Kind lifecycle -StorePath $store", Vars);
        lifecycle.ShouldSucceed();
        Assert.Equal(["golang", "node", "(collection)"], lifecycle.Output.Select(e => (string)e.Properties["Image"].Value));
        Assert.Equal(["Remove-FlyImage", "Remove-FlyImage", "collection"], lifecycle.Output.Select(e => (string)e.Properties["Trigger"].Value));
        Assert.StartsWith("freed ", (string)lifecycle.Output[0].Properties["Detail"].Value, StringComparison.Ordinal);
        Assert.Contains("2 chain(s), 2 blob(s)", (string)lifecycle.Output[0].Properties["Detail"].Value, StringComparison.Ordinal);

        // readable in 80 columns: the trigger where the transition's From is, the message begins with what was freed in all
        using (var narrow = new PowerShellSession(width: 80))
        {
            var view = narrow.Invoke("Get-FlyImageEvent -Kind lifecycle -StorePath $store | Out-Default", Vars);
            view.ShouldSucceed();
            var lines = view.HostText.Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0).ToList();
            Assert.All(lines, l => Assert.True(l.Length <= 80, l));
            Assert.Matches(@"^\d\d-\d\d \d\d:\d\d:\d\d\s+golang\s+life\s+Remove\s+Removed\s+\d+ (ms|s)\s+freed \d", lines[2]);
            Assert.Matches(@"^\d\d-\d\d \d\d:\d\d:\d\d\s+\(collection\)\s+life\s+collection\s+Collected\s+\d+ (ms|s)\s+freed 0 B", lines[4]);
        }

        var missing = ps.Invoke("Remove-FlyImage nope -Force -StorePath $store", Vars);
        Assert.Equal("ImageNotFound,FlyImages.Cmdlets.RemoveFlyImageCommand", Assert.Single(missing.Errors).FullyQualifiedErrorId);

        ps.Invoke("Remove-FlyThinPool $pool -Force -StorePath $store", Vars).ShouldSucceed();
        Assert.Empty(Leaks.MountsUnder(store.Path));
        Assert.Empty(Leaks.LoopDevicesUnder(store.Path));
    }

    public void Dispose()
    {
        try
        {
            ps.Invoke("""
                Get-FlyThinSnapshot -StorePath $store -ErrorAction SilentlyContinue | Remove-FlyThinSnapshot -StorePath $store -Force
                Get-FlyThinPool -StorePath $store -ErrorAction SilentlyContinue | Remove-FlyThinPool -StorePath $store -Force
                """, Vars);
        }
        finally
        {
            ps.Dispose();
            store.Dispose();
        }
    }
}
