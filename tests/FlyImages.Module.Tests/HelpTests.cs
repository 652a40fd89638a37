using FlyImages.Module.Tests.Infrastructure;
using Xunit;

namespace FlyImages.Module.Tests;

/// <summary>
/// The published module's help (en-US/FlyImages.Cmdlets.dll-Help.xml, generated at build from the cmdlets and their
/// doc comments, and about_FlyImages) through Get-Help in the hosted engine. The rules are those of
/// tests/acceptance/HelpChecks.ps1, which the Pester Help tests run in real pwsh too; every command the module exports
/// is checked, so new cmdlets need complete help to pass.
/// </summary>
public sealed class HelpTests : IDisposable
{
    private readonly PowerShellSession ps = new();

    [Fact]
    public void Every_cmdlet_has_complete_help_that_agrees_with_its_code()
    {
        var r = ps.Invoke(". $checks; Get-FlyHelpProblem -Module FlyImages", new Dictionary<string, object?> { ["checks"] = HelpChecksScript() });
        r.ShouldSucceed();
        var problems = r.Output.Select(o => o.ToString()).ToList();
        Assert.True(problems.Count == 0, "Help problems:" + Environment.NewLine + string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void The_help_is_found_for_every_exported_cmdlet_and_names_its_examples_and_links()
    {
        var r = ps.Invoke("Get-Command -Module FlyImages | ForEach-Object { $h = Get-Help $_.Name -Full; [pscustomobject]@{ Name = $_.Name; Synopsis = [string]$h.Synopsis; Examples = @($h.examples.example).Count; About = @($h.relatedLinks.navigationLink.linkText) -contains 'about_FlyImages' } }");
        r.ShouldSucceed();
        Assert.True(r.Output.Count >= 11, $"only {r.Output.Count} commands");
        foreach (var c in r.Output)
        {
            var name = (string)c.Properties["Name"].Value;
            Assert.False(((string)c.Properties["Synopsis"].Value).StartsWith(name, StringComparison.Ordinal), $"{name}: Get-Help shows the generated syntax, not the MAML");
            Assert.True((int)c.Properties["Examples"].Value >= 2, $"{name}: fewer than two examples");
            Assert.True((bool)c.Properties["About"].Value, $"{name}: no link to about_FlyImages");
        }
    }

    [Fact]
    public void About_FlyImages_is_found_and_covers_the_concepts_errors_and_environment()
    {
        var r = ps.Invoke("Get-Help about_FlyImages");
        r.ShouldSucceed();
        var text = string.Join(Environment.NewLine, r.Output.Select(o => o.ToString()));
        foreach (var expected in new[] { "TOPIC", "SHORT DESCRIPTION", "LONG DESCRIPTION", "LAYER CHAINS", "THIN POOLS", "SNAPSHOTS", "THE STORE", "STATES", "ERRORS", "ENVIRONMENT VARIABLES",
                     "FLYIMAGES_HOME", "FLYIMAGES_SOURCE", "FLYIMAGES_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_PROFILE", "ImageNotFound", "SourceUnreachable", "ImageNotReady", "ThinPoolInUse" })
        {
            Assert.Contains(expected, text, StringComparison.Ordinal);
        }
    }

    public void Dispose() => ps.Dispose();

    /// <summary>tests/acceptance/HelpChecks.ps1, found above the test assembly.</summary>
    private static string HelpChecksScript()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "acceptance", "HelpChecks.ps1");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException("tests/acceptance/HelpChecks.ps1 was not found above " + AppContext.BaseDirectory);
    }
}
