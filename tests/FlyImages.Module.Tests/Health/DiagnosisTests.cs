using System.Diagnostics;
using System.Management.Automation;
using System.Reflection;
using FlyImages.Module.Tests.Infrastructure;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests.Health;

/// <summary>Failure diagnosis from the journal the real workflow machinery wrote (tests/FlyImages.TestAgent: node rejected at layer 4).</summary>
public sealed class DiagnosisTests(JournaledStore store, SavedStore folders) : IClassFixture<JournaledStore>, IClassFixture<SavedStore>, IDisposable
{
    private static readonly string AgentDll = Path.GetFullPath(typeof(JournaledStore).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "FlyImages.TestAgent").Value!);

    private readonly PowerShellSession ps = new();

    private Dictionary<string, object?> Vars => new() { ["store"] = store.Path };

    private static string Text(PSObject o, string name) => o.Properties[name]?.Value?.ToString() ?? "";

    [Fact]
    public void A_failed_image_says_which_step_failed_its_error_id_attempts_and_when()
    {
        var r = ps.Invoke("Get-FlyImage -Installed node, golang -StorePath $store", Vars);
        r.ShouldSucceed();
        var node = r.Output.Single(o => Text(o, "Name") == "node");
        Assert.Equal("Unpacking", Text(node, "FailedStep"));
        Assert.Equal("ImageRejected", Text(node, "FailedErrorId"));
        Assert.Equal(1, (int)node.Properties["FailedAttempts"].Value);
        Assert.IsType<DateTimeOffset>(node.Properties["FailedAt"].Value);
        var golang = r.Output.Single(o => Text(o, "Name") == "golang");
        Assert.Null(golang.Properties["FailedStep"]);

        // the failed run's id leads to its timeline
        var run = ps.Invoke("Get-FlyImageEvent node -RunId $run -StorePath $store", new Dictionary<string, object?> { ["store"] = store.Path, ["run"] = Text(node, "FailedRunId") });
        run.ShouldSucceed();
        Assert.Equal("Rejected", Text(run.Output.Last(o => Text(o, "Kind") == "install-image"), "To"));
        Assert.All(run.Output, e => Assert.Equal(Text(node, "FailedRunId"), Text(e, "RunId")));
    }

    [Fact]
    public void Wait_follows_new_events_as_they_are_written_until_Ctrl_C()
    {
        var target = Path.Combine(folders.NewFolder(), "store");
        var seen = Path.Combine(folders.NewFolder(), "seen.txt");
        using var pipeline = ps.Start("Get-FlyImageEvent -Wait -PollMilliseconds 50 -Kind install-image -StorePath $store | ForEach-Object { [IO.File]::AppendAllText($seen, \"$($_.Image) $($_.To)`n\") }",
            new Dictionary<string, object?> { ["store"] = target, ["seen"] = seen }, out var handle);

        // the store does not exist yet: an install in another process makes it and journals as it goes
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { AgentDll, "install", "--store", target, "--image", "golang" })
        {
            info.ArgumentList.Add(a);
        }

        using (var agent = Process.Start(info)!)
        {
            agent.StandardOutput.ReadToEnd();
            agent.WaitForExit();
            Assert.Equal(0, agent.ExitCode);
        }

        // a hang guard, not a speed assertion
        var guard = Stopwatch.StartNew();
        while (!(File.Exists(seen) && File.ReadAllText(seen).Contains("golang Ready", StringComparison.Ordinal)) && !handle.IsCompleted && guard.Elapsed < TimeSpan.FromMinutes(5))
        {
            Thread.Sleep(20);
        }

        Assert.False(handle.IsCompleted, "-Wait ended by itself");
        pipeline.Stop();
        Assert.Equal(PSInvocationState.Stopped, pipeline.InvocationStateInfo.State);
        Assert.Equal(["golang Resolving", "golang Fetching", "golang Unpacking", "golang Ready"], File.ReadAllLines(seen));
    }

    public void Dispose() => ps.Dispose();
}
