using System.Management.Automation;
using FlyImages.Module.Tests.Infrastructure;
using Xunit;

namespace FlyImages.Module.Tests;

public sealed class ModuleManifestTests : IDisposable
{
    private readonly PowerShellSession ps = new();

    [Fact]
    public void The_published_module_imports_and_exports_exactly_its_manifest_cmdlets()
    {
        var manifest = File.ReadAllText(PowerShellSession.ModuleManifest);
        var r = ps.Invoke("Get-Command -Module FlyImages");
        r.ShouldSucceed();
        var exported = r.Output.Select(o => (string)o.Properties["Name"].Value).Order().ToList();
        Assert.Contains("Get-FlyImage", exported);
        Assert.All(exported, name => Assert.Contains($"'{name}'", manifest, StringComparison.Ordinal));
    }

    [Fact]
    public void Every_cmdlet_uses_an_approved_verb_declares_its_output_and_supports_ShouldProcess_when_it_changes_state()
    {
        // Get-Verb is not in an SMA-only runspace: the approved verbs are the constants of the Verbs* classes
        var approved = new[] { typeof(VerbsCommon), typeof(VerbsData), typeof(VerbsLifecycle), typeof(VerbsDiagnostic), typeof(VerbsCommunications), typeof(VerbsSecurity), typeof(VerbsOther) }
            .SelectMany(t => t.GetFields()).Select(f => (string)f.GetValue(null)!).ToArray();
        var r = ps.Invoke("Get-Command -Module FlyImages | ForEach-Object { [pscustomobject]@{ Name = $_.Name; Approved = $approved -contains $_.Verb; Output = $_.OutputType.Count; WhatIf = $_.Parameters.ContainsKey('WhatIf') } }", new Dictionary<string, object?> { ["approved"] = approved });
        r.ShouldSucceed();
        Assert.NotEmpty(r.Output);
        var readOnlyVerbs = new[] { "Get", "Test", "Find" };
        foreach (var c in r.Output)
        {
            var name = (string)c.Properties["Name"].Value;
            Assert.True((bool)c.Properties["Approved"].Value, $"{name} has an unapproved verb");
            Assert.True((int)c.Properties["Output"].Value > 0 || name.StartsWith("Remove-", StringComparison.Ordinal), $"{name} declares no [OutputType]");
            if (!readOnlyVerbs.Any(v => name.StartsWith(v + "-", StringComparison.Ordinal)))
            {
                Assert.True((bool)c.Properties["WhatIf"].Value, $"{name} changes state but has no -WhatIf");
            }
        }
    }

    [Fact]
    public void The_manifest_declares_what_the_gallery_and_pwsh_require()
    {
        var r = ps.Invoke("Get-Module FlyImages | ForEach-Object { [pscustomobject]@{ V = $_.Version; Ps = $_.PowerShellVersion; Ed = $_.CompatiblePSEditions; Author = $_.Author; Desc = $_.Description; Guid = $_.Guid } }");
        r.ShouldSucceed();
        var m = Assert.Single(r.Output);
        Assert.Equal(new Version(7, 4), (Version)m.Properties["Ps"].Value);
        Assert.Contains("Core", ((System.Collections.IEnumerable)m.Properties["Ed"].Value).Cast<object>().Select(o => o.ToString()));
        Assert.False(string.IsNullOrWhiteSpace((string)m.Properties["Desc"].Value));
        Assert.NotEqual(Guid.Empty, (Guid)m.Properties["Guid"].Value);
    }

    [Fact]
    public void The_version_has_one_place_and_the_gallery_metadata_is_complete()
    {
        var r = ps.Invoke("Get-Module FlyImages | ForEach-Object { [pscustomobject]@{ V = $_.Version; Asm = [Version][Diagnostics.FileVersionInfo]::GetVersionInfo([IO.Path]::Combine($_.ModuleBase, $_.RootModule)).FileVersion; Tags = $_.Tags; License = $_.LicenseUri; Project = $_.ProjectUri; Notes = $_.ReleaseNotes; Cmdlets = $_.ExportedCmdlets.Count; Functions = $_.ExportedFunctions.Count; Base = $_.ModuleBase } }");
        r.ShouldSucceed();
        var m = Assert.Single(r.Output);
        var version = (Version)m.Properties["V"].Value;
        var assembly = (Version)m.Properties["Asm"].Value;
        Assert.Equal(version, new Version(assembly.Major, assembly.Minor, assembly.Build)); // one version: the manifest's, stamped into every assembly
        var tags = ((System.Collections.IEnumerable)m.Properties["Tags"].Value).Cast<object>().Select(o => o.ToString()).ToArray();
        Assert.Contains("PSEdition_Core", tags);
        Assert.Contains("Linux", tags);
        foreach (var uri in new[] { (Uri)m.Properties["License"].Value, (Uri)m.Properties["Project"].Value })
        {
            Assert.True(uri.IsAbsoluteUri && uri.Scheme == "https", $"{uri} is not an absolute https URI");
        }

        Assert.False(string.IsNullOrWhiteSpace((string)m.Properties["Notes"].Value));
        Assert.True(File.Exists(Path.Combine((string)m.Properties["Base"].Value, "LICENSE")), "the module ships no LICENSE");
        Assert.True((int)m.Properties["Cmdlets"].Value > 0);
        Assert.Equal(0, (int)m.Properties["Functions"].Value);

        // explicit exports: no wildcard in any *ToExport list
        var manifest = File.ReadAllText(PowerShellSession.ModuleManifest);
        Assert.DoesNotMatch(@"ToExport\s*=\s*'\*'", manifest);
    }

    [Fact]
    public void Format_views_name_only_cmdlet_assembly_types()
    {
        // PowerShell resolves [Type] literals in the default load context only; the core lives in the
        // module's own (deps/), so a view calling a core type would print nothing but errors
        var views = Directory.GetFiles(Path.GetDirectoryName(PowerShellSession.ModuleManifest)!, "*.ps1xml");
        Assert.NotEmpty(views);
        foreach (var view in views)
        {
            var literals = System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(view), @"\[(FlyImages\.[A-Za-z.]+)\]").Select(m => m.Groups[1].Value);
            Assert.All(literals, l => Assert.StartsWith("FlyImages.Cmdlets.", l, StringComparison.Ordinal));
        }
    }

    public void Dispose() => ps.Dispose();
}
