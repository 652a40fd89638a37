using System.Diagnostics;
using System.Management.Automation;
using System.Reflection;
using FlyImages.Module.Tests.Infrastructure;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests;

/// <summary>
/// A store whose journal was written by the real workflow machinery: tests/FlyImages.TestAgent runs an
/// InstallWorkflow in its own process with test doubles of the STEPS. golang installs to Ready; node is
/// rejected at its 4th layer (a hostile entry).
/// </summary>
public sealed class JournaledStore : IDisposable
{
    private static readonly string AgentDll = System.IO.Path.GetFullPath(typeof(JournaledStore).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "FlyImages.TestAgent").Value!);

    private readonly TempDirectory folder = new("flyimages-store");

    public JournaledStore()
    {
        Run(0, "--image", "golang");
        Run(2, "--image", "node", "--hostile-chain", "4");
    }

    public string Path => folder.Path;

    public void Dispose() => folder.Dispose();

    private void Run(int expectedExit, params string[] arguments)
    {
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { AgentDll, "install", "--store", folder.Path }.Concat(arguments))
        {
            info.ArgumentList.Add(a);
        }

        using var p = Process.Start(info)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == expectedExit, $"the test agent exited {p.ExitCode}: {output.Result}{error}");
    }
}

public sealed class GetFlyImageEventTests(JournaledStore store) : IClassFixture<JournaledStore>, IDisposable
{
    private readonly PowerShellSession ps = new();

    private Dictionary<string, object?> Vars => new() { ["store"] = store.Path };

    private static string Prop(PSObject o, string name) => o.Properties[name].Value?.ToString() ?? "";

    [Fact]
    public void The_journal_of_an_image_comes_as_typed_events_newest_last()
    {
        var r = ps.Invoke("Get-FlyImageEvent golang -StorePath $store", Vars);
        r.ShouldSucceed();
        Assert.All(r.Output, e => Assert.Equal("FlyImages.Workflows.WorkflowEvent", e.TypeNames[0]));
        Assert.All(r.Output, e => Assert.Equal("golang", Prop(e, "Image")));
        var ids = r.Output.Select(e => (long)e.Properties["Id"].Value).ToList();
        Assert.Equal(ids.Order(), ids);
        var install = r.Output.Where(e => Prop(e, "Kind") == "install-image").Select(e => $"{Prop(e, "From")}>{Prop(e, "To")}").ToList();
        Assert.Equal(["Pending>Resolving", "Resolving>Fetching", "Fetching>Unpacking", "Unpacking>Ready"], install);
        Assert.Equal(5 * 4, r.Output.Count(e => Prop(e, "Kind") == "make-chain"));
        Assert.All(r.Output, e =>
        {
            Assert.False(string.IsNullOrEmpty(Prop(e, "RunId")));
            Assert.False(string.IsNullOrEmpty(Prop(e, "Host")));
            Assert.True((int)e.Properties["ProcessId"].Value > 0);
            Assert.IsType<TimeSpan>(e.Properties["Duration"].Value);
        });
    }

    [Fact]
    public void Names_take_wildcards_and_Last_keeps_the_newest_in_order()
    {
        var r = ps.Invoke("Get-FlyImageEvent G* -StorePath $store", Vars);
        r.ShouldSucceed();
        Assert.NotEmpty(r.Output);
        Assert.All(r.Output, e => Assert.Equal("golang", Prop(e, "Image")));

        var all = ps.Invoke("Get-FlyImageEvent -StorePath $store", Vars);
        Assert.Equal(["golang", "node"], all.Output.Select(e => Prop(e, "Image")).Distinct().Order());

        var last = ps.Invoke("Get-FlyImageEvent golang -Last 2 -StorePath $store", Vars);
        last.ShouldSucceed();
        Assert.Equal(2, last.Output.Count);
        Assert.Equal("Ready", Prop(last.Output[1], "To"));
        Assert.True((long)last.Output[0].Properties["Id"].Value < (long)last.Output[1].Properties["Id"].Value);

        var kind = ps.Invoke("Get-FlyImageEvent golang -Kind install-image -StorePath $store", Vars);
        Assert.Equal(4, kind.Output.Count);
    }

    [Fact]
    public void Installed_images_pipe_in_by_property_name_and_a_rejection_shows_why()
    {
        var image = ps.Invoke("Get-FlyImage -Installed node -StorePath $store", Vars);
        image.ShouldSucceed();
        Assert.Equal("Rejected", Prop(Assert.Single(image.Output), "State"));
        Assert.Contains("escapes the root", Prop(image.Output[0], "StateDetail"), StringComparison.Ordinal);

        var r = ps.Invoke("Get-FlyImage -Installed node -StorePath $store | Get-FlyImageEvent -StorePath $store -Kind install-image", Vars);
        r.ShouldSucceed();
        Assert.All(r.Output, e => Assert.Equal("node", Prop(e, "Image")));
        var rejected = r.Output[^1];
        Assert.Equal("Rejected", Prop(rejected, "To"));
        Assert.Equal("Reject", Prop(rejected, "Trigger"));
        Assert.Contains("escapes the root", Prop(rejected, "Error"), StringComparison.Ordinal);
        Assert.Equal("ImageRejected", Prop(rejected, "ErrorId"));
        Assert.All(r.Output.SkipLast(1), e => Assert.Null(e.Properties["ErrorId"].Value));
        Assert.Contains("escapes the root", Prop(rejected, "Message"), StringComparison.Ordinal);

        // another source's filter (bound by property name) excludes them
        var other = ps.Invoke("[pscustomobject]@{ Name = 'node'; Source = 's3://other-bucket/images' } | Get-FlyImageEvent -StorePath $store", Vars);
        other.ShouldSucceed();
        Assert.Empty(other.Output);
    }

    [Fact]
    public void The_table_view_shows_time_image_transition_and_message()
    {
        var r = ps.Invoke("Get-FlyImageEvent node -Kind install-image -Last 1 -StorePath $store | Out-Default", Vars);
        r.ShouldSucceed();
        var lines = r.HostText.Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0).ToList();
        // 80 columns: the time without the year, Kind shortened, the trigger in Format-List
        Assert.Matches(@"^Time \(UTC\)\s+Image\s+Kind\s+From\s+To\s+Took\s+Message$", lines[0]);
        Assert.Matches(@"^\d\d-\d\d \d\d:\d\d:\d\d\s+node\s+image\s+Unpacking\s+Rejected\s+\d+ ms\s+ImageRejected: Unpacking: ", lines[2]);
    }

    [Fact]
    public void A_typed_name_without_entries_is_ObjectNotFound_but_piped_ones_are_not()
    {
        var r = ps.Invoke("Get-FlyImageEvent golang, python -Kind install-image -StorePath $store", Vars);
        Assert.Equal(4, r.Output.Count);
        var error = Assert.Single(r.Errors);
        Assert.Equal("ImageNotFound,FlyImages.Cmdlets.GetFlyImageEventCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, error.CategoryInfo.Category);
        Assert.Equal("python", error.TargetObject);

        Assert.Empty(ps.Invoke("Get-FlyImageEvent py* -StorePath $store", Vars).AllErrors);
        var piped = ps.Invoke("'python' | Get-FlyImageEvent -StorePath $store", Vars);
        piped.ShouldSucceed();
        Assert.Empty(piped.Output);
    }

    [Fact]
    public void A_missing_store_yields_nothing_and_creates_nothing()
    {
        using var empty = new TempDirectory("flyimages-store");
        var path = System.IO.Path.Combine(empty.Path, "none");
        var r = ps.Invoke("Get-FlyImageEvent -StorePath $p", new Dictionary<string, object?> { ["p"] = path });
        r.ShouldSucceed();
        Assert.Empty(r.Output);
        Assert.False(Directory.Exists(path));
    }

    public void Dispose() => ps.Dispose();
}
