using System.Diagnostics;
using System.Management.Automation;
using FlyImages.Module.Tests.Infrastructure;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests.Health;

/// <summary>A store made by Save-FlyImage from a folder source (golang, 2 layers): healthy, no pools.</summary>
public sealed class SavedStore : IDisposable
{
    private readonly TempDirectory folder = new("flyimages-fleet");

    public SavedStore()
    {
        Directory.CreateDirectory(folder.Combine("images", "golang"));
        File.WriteAllBytes(folder.Combine("images", "golang", "1.tar"), PublicBucketLayout.Layer("golang", 1));
        File.WriteAllBytes(folder.Combine("images", "golang", "2.tar"), PublicBucketLayout.Layer("golang", 2));
    }

    public string Source => folder.Combine("images");

    /// <summary>A new store holding golang's blobs, in its own folder (removed with the fixture).</summary>
    public string NewStore(PowerShellSession ps)
    {
        var store = folder.Combine("store-" + Guid.NewGuid().ToString("N"));
        var r = ps.Invoke("Save-FlyImage golang -Source $src -StorePath $store", new Dictionary<string, object?> { ["src"] = Source, ["store"] = store });
        r.ShouldSucceed();
        return store;
    }

    public string NewFolder()
    {
        var path = folder.Combine("dir-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    public void Dispose() => folder.Dispose();
}

public sealed class GetFlyHostTests(SavedStore saved) : IClassFixture<SavedStore>, IDisposable
{
    private readonly PowerShellSession ps = new();

    private static object? Prop(PSObject o, string name) => o.Properties[name]?.Value;

    [Fact]
    public void It_says_which_host_boot_kernel_and_store_schema_with_provenance()
    {
        var store = saved.NewStore(ps);
        var r = ps.Invoke("Get-FlyHost -StorePath $store", new Dictionary<string, object?> { ["store"] = store });
        r.ShouldSucceed();
        var host = Assert.Single(r.Output);
        Assert.Equal("FlyImages.Health.FlyHost", host.TypeNames[0]);
        Assert.Equal(File.ReadAllText("/proc/sys/kernel/hostname").Trim(), Prop(host, "ComputerName"));
        Assert.Equal(File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim(), Prop(host, "BootId"));
        Assert.Equal(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), Prop(host, "KernelRelease"));
        Assert.Equal(Requirements.HasDeviceMapper, Prop(host, "DeviceMapperAvailable"));
        Assert.Equal(Requirements.HasDeviceMapper, Prop(host, "DeviceMapperVersion") is string);
        Assert.Equal(true, Prop(host, "StoreExists"));
        Assert.Equal(Prop(host, "LatestSchemaVersion"), Prop(host, "SchemaVersion"));
        Assert.True((int)Prop(host, "SchemaVersion")! >= 5);
        Assert.Equal("0.1.0", Prop(host, "ModuleVersion"));
        Assert.False(string.IsNullOrEmpty(Prop(host, "PowerShellVersion")?.ToString()));
        Assert.IsType<DateTimeOffset>(Prop(host, "ReadAt"));
        Assert.Empty((Array)Prop(host, "Pools")!);
        if (File.Exists("/etc/machine-id"))
        {
            Assert.Equal(File.ReadAllText("/etc/machine-id").Trim(), Prop(host, "MachineId"));
        }
    }

    [Fact]
    public void A_missing_store_is_reported_never_created_and_the_table_fits_80_columns()
    {
        var missing = Path.Combine(saved.NewFolder(), "none");
        var r = ps.Invoke("Get-FlyHost -StorePath $store", new Dictionary<string, object?> { ["store"] = missing });
        r.ShouldSucceed();
        Assert.Equal(false, Prop(r.Output[0], "StoreExists"));
        Assert.Null(Prop(r.Output[0], "SchemaVersion"));
        Assert.False(Directory.Exists(missing));

        var table = ps.Invoke("Get-FlyHost -StorePath $store | Out-Default", new Dictionary<string, object?> { ["store"] = missing });
        table.ShouldSucceed();
        var lines = table.HostText.Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0).ToList();
        Assert.Matches(@"^ComputerName\s+Kernel\s+DM\s+Schema\s+Pools\s+Module\s+ReadAt$", lines[0]);
        Assert.All(lines, l => Assert.True(l.Length <= 80, $"'{l}' is wider than 80 columns"));
    }

    public void Dispose() => ps.Dispose();
}

public sealed class TestFlyImageStoreTests(SavedStore saved) : IClassFixture<SavedStore>, IDisposable
{
    private static readonly string[] BuiltIn = ["Database", "Blobs", "ChainDevices", "SnapshotDevices", "Pools", "Source", "Leaks", "Leases"];

    private readonly PowerShellSession ps = new();

    private static string Text(PSObject o, string name) => o.Properties[name]?.Value?.ToString() ?? "";

    [Fact]
    public void A_healthy_store_passes_every_built_in_check_in_order_one_typed_object_each()
    {
        var store = saved.NewStore(ps);
        var r = ps.Invoke("Test-FlyImageStore -StorePath $store -Source $src -Deep", new Dictionary<string, object?> { ["store"] = store, ["src"] = saved.Source });
        r.ShouldSucceed();
        Assert.Equal(BuiltIn, r.Output.Select(o => Text(o, "Check")));
        Assert.All(r.Output, o =>
        {
            Assert.Equal("FlyImages.Health.StoreCheckResult", o.TypeNames[0]);
            Assert.True((bool)o.Properties["Passed"].Value, $"{Text(o, "Check")}: {Text(o, "Message")}");
            Assert.Equal(File.ReadAllText("/proc/sys/kernel/hostname").Trim(), Text(o, "ComputerName"));
            Assert.Equal(1, (int)o.Properties["Iteration"].Value);
            Assert.IsType<TimeSpan>(o.Properties["Duration"].Value);
            Assert.IsType<DateTimeOffset>(o.Properties["Timestamp"].Value);
        });
        Assert.Contains("2 blobs", Text(r.Output[1], "Message"), StringComparison.Ordinal);
        Assert.Contains("re-hashed", Text(r.Output[1], "Message"), StringComparison.Ordinal);
        Assert.Equal("Passed", Text(r.Output[5], "Status"));
        Assert.Equal("Skipped", Text(r.Output[4], "Status"));

        var quiet = ps.Invoke("Test-FlyImageStore -StorePath $store -Quiet -Count 2", new Dictionary<string, object?> { ["store"] = store });
        quiet.ShouldSucceed();
        Assert.Equal(true, Assert.Single(quiet.Output).BaseObject);
    }

    [Fact]
    public void A_missing_blob_fails_the_Blobs_check_naming_it_and_Quiet_says_false()
    {
        var store = saved.NewStore(ps);
        var blob = Directory.GetFiles(Path.Combine(store, "blobs", "sha256")).Order().First();
        File.SetAttributes(blob, FileAttributes.Normal);
        File.Delete(blob);

        var r = ps.Invoke("Test-FlyImageStore -StorePath $store", new Dictionary<string, object?> { ["store"] = store });
        r.ShouldSucceed();
        var blobs = r.Output.Single(o => Text(o, "Check") == "Blobs");
        Assert.False((bool)blobs.Properties["Passed"].Value);
        Assert.Equal("Failed", Text(blobs, "Status"));
        Assert.Contains("sha256:" + Path.GetFileName(blob)[..12], Text(blobs, "Message"), StringComparison.Ordinal);
        Assert.Contains("missing", Text(blobs, "Message"), StringComparison.Ordinal);

        var quiet = ps.Invoke("Test-FlyImageStore -StorePath $store -Quiet", new Dictionary<string, object?> { ["store"] = store });
        Assert.Equal(false, Assert.Single(quiet.Output).BaseObject);
    }

    [Fact]
    public void Script_checks_of_CheckPath_run_after_the_built_ins_and_Count_numbers_the_iterations()
    {
        var store = saved.NewStore(ps);
        var checks = saved.NewFolder();
        File.WriteAllText(Path.Combine(checks, "10-disk.ps1"), "param($StorePath) [pscustomobject]@{ Check = 'Disk'; Passed = [IO.Directory]::Exists($StorePath); Message = \"store at $StorePath\" }");
        File.WriteAllText(Path.Combine(checks, "20-broken.ps1"), "throw 'the site check broke'");
        File.WriteAllText(Path.Combine(checks, "notes.txt"), "not a check");

        var r = ps.Invoke("Test-FlyImageStore -StorePath $store -CheckPath $checks -Count 2 -Delay 1", new Dictionary<string, object?> { ["store"] = store, ["checks"] = checks });
        Assert.Equal([.. BuiltIn, "Disk", "20-broken", .. BuiltIn, "Disk", "20-broken"], r.Output.Select(o => Text(o, "Check")));
        Assert.Equal([1, 2], r.Output.Select(o => (int)o.Properties["Iteration"].Value).Distinct());
        var disk = r.Output.First(o => Text(o, "Check") == "Disk");
        Assert.True((bool)disk.Properties["Passed"].Value);
        Assert.Contains(store, Text(disk, "Message"), StringComparison.Ordinal);
        var broken = r.Output.First(o => Text(o, "Check") == "20-broken");
        Assert.False((bool)broken.Properties["Passed"].Value);
        Assert.Contains("the site check broke", Text(broken, "Message"), StringComparison.Ordinal);
        Assert.Contains(r.Errors, e => e.FullyQualifiedErrorId.StartsWith("HealthCheckScriptFailed", StringComparison.Ordinal));

        var missing = ps.Invoke("Test-FlyImageStore -StorePath $store -CheckPath $checks", new Dictionary<string, object?> { ["store"] = store, ["checks"] = Path.Combine(checks, "nope") });
        Assert.StartsWith("HealthCheckPathNotFound", (missing.Terminating?.ErrorRecord ?? Assert.Single(missing.Errors)).FullyQualifiedErrorId, StringComparison.Ordinal);
        Assert.Empty(missing.Output);
    }

    [Fact]
    public void No_store_fails_the_Database_check_and_creates_nothing()
    {
        var missing = Path.Combine(saved.NewFolder(), "none");
        var r = ps.Invoke("Test-FlyImageStore -StorePath $store", new Dictionary<string, object?> { ["store"] = missing });
        r.ShouldSucceed();
        Assert.False((bool)r.Output[0].Properties["Passed"].Value);
        Assert.Contains("no store", Text(r.Output[0], "Message"), StringComparison.Ordinal);
        Assert.All(r.Output.Skip(1), o => Assert.Equal("Skipped", Text(o, "Status")));
        Assert.False(Directory.Exists(missing));
    }

    [Fact]
    public void Ctrl_C_ends_Repeat_while_it_waits()
    {
        var store = saved.NewStore(ps);
        var checks = saved.NewFolder();
        var marker = Path.Combine(checks, "ran");
        File.WriteAllText(Path.Combine(checks, "mark.ps1"), $"[IO.File]::WriteAllText('{marker}', '1'); [pscustomobject]@{{ Check = 'Mark'; Passed = $true; Message = 'marked' }}");
        using var pipeline = ps.Start("Test-FlyImageStore -StorePath $store -CheckPath $checks -Repeat -Delay 3600 -Quiet",
            new Dictionary<string, object?> { ["store"] = store, ["checks"] = checks }, out var handle);
        // the first round has reached its last check; then it waits an hour unless stopped
        // (a hang guard, not a speed assertion)
        var guard = Stopwatch.StartNew();
        while (!File.Exists(marker) && !handle.IsCompleted && guard.Elapsed < TimeSpan.FromMinutes(5))
        {
            Thread.Sleep(20);
        }

        pipeline.Stop();
        Assert.True(File.Exists(marker));
        Assert.Equal(PSInvocationState.Stopped, pipeline.InvocationStateInfo.State);
    }

    public void Dispose() => ps.Dispose();
}
