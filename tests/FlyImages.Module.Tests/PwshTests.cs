using FlyImages.Module.Tests.Infrastructure;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests;

/// <summary>The packaged module in real pwsh (the pinned dotnet tool), as users run it: views, errors, exit codes.</summary>
public sealed class PwshTests : IDisposable
{
    private readonly TempDirectory dir = new("flyimages-pwsh");

    [SkippableFact]
    public void A_folder_source_lists_through_the_table_view()
    {
        Pwsh.Require();
        PublicBucketLayout.WriteFolder(dir.Combine("src"));
        var r = Pwsh.Run($"Get-FlyImage -Source '{dir.Combine("src")}' -StorePath '{dir.Combine("store")}'");
        Assert.Equal(0, r.ExitCode);
        Assert.Matches(@"Name\s+Layers\s+Size\s+State", r.Stdout);
        Assert.Matches(@"golang\s+5\s+[\d.]+ KiB\s+Remote", r.Stdout);
        Assert.DoesNotContain("\u001b[", r.Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void A_failing_cmdlet_exits_1_naming_the_problem()
    {
        Pwsh.Require();
        var r = Pwsh.Run($"Get-FlyImage -Source /nonexistent/flyimages-src -StorePath '{dir.Combine("store")}'");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("does not exist", r.Stderr + r.Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void The_module_loads_from_the_packaged_folder()
    {
        Pwsh.Require();
        var r = Pwsh.Run("(Get-Module FlyImages).ModuleBase");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(Path.GetDirectoryName(Path.GetFullPath(PowerShellSession.ModuleManifest))!.TrimEnd('/'), r.Stdout.Trim().TrimEnd('/'));
    }

    public void Dispose() => dir.Dispose();
}
