using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Reflection;
using System.Text;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests.Unpacking;

/// <summary>
/// Expand-FlyLayer in a real PowerShell engine with the published module. (Self-contained: a small
/// runspace helper of its own until the shared session helper exists.)
/// </summary>
public sealed class ExpandFlyLayerTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "flyimages-expand-" + Guid.NewGuid().ToString("N")[..12]);

    public ExpandFlyLayerTests() => Directory.CreateDirectory(folder);

    [Fact]
    public void AppliesLayersInOrderFromThePipelineAndOutputsSummaries()
    {
        var one = Write("1.tar", Tar(("a/", null), ("a/f", "one"), ("a/gone", "x")));
        var two = Write("2.tar", Tar(("a/f", "two"), ("a/.wh.gone", "")));
        var dest = Path.Combine(folder, "root");

        // FileInfo objects bind by FullName; objects with a BlobPath property bind too
        var results = Invoke($"[System.IO.FileInfo]::new('{one}'), [pscustomobject]@{{ BlobPath = '{two}' }} | Expand-FlyLayer -Destination '{dest}'", out var errors);
        AssertNoErrors(errors);
        Assert.Equal(2, results.Count);
        Assert.Equal("FlyImages.Unpacking.LayerApplyResult", results[0].BaseObject.GetType().FullName);
        Assert.Equal(one, results[0].Properties["Path"].Value);
        Assert.Equal(two, results[1].Properties["Path"].Value);
        Assert.Equal(1L, results[1].Properties["WhiteoutsApplied"].Value);
        Assert.Equal("two", File.ReadAllText(Path.Combine(dest, "a/f")));
        Assert.False(File.Exists(Path.Combine(dest, "a/gone")));
    }

    [Fact]
    public void WildcardPathsAreExpanded()
    {
        Write("layer-1.tar", Tar(("f", "one")));
        var dest = Path.Combine(folder, "root");
        var results = Invoke($"Expand-FlyLayer -Path '{folder}/layer-*.tar' -Destination '{dest}'", out var errors);
        AssertNoErrors(errors);
        Assert.Single(results);
        Assert.Equal("one", File.ReadAllText(Path.Combine(dest, "f")));
    }

    [Fact]
    public void RejectedLayerIsATerminatingErrorWithAStableId()
    {
        var bad = Write("bad.tar", Tar(("../escape", "x")));
        var dest = Path.Combine(folder, "root");
        var good = Write("good.tar", Tar(("after", "x")));
        Invoke($"Expand-FlyLayer -LiteralPath '{bad}', '{good}' -Destination '{dest}'", out var errors);
        var error = Assert.Single(errors);
        Assert.Equal("LayerRejectedTraversal,FlyImages.Cmdlets.ExpandFlyLayerCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.SecurityError, error.CategoryInfo.Category);
        Assert.Contains("../escape", error.Exception.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(folder, "escape")));

        // terminating: the layer after the rejected one is not applied
        Assert.False(File.Exists(Path.Combine(dest, "after")));
    }

    [Fact]
    public void LimitsCanBeSetFromAHashtable()
    {
        var one = Write("1.tar", Tar(("big", "more than four bytes")));
        var dest = Path.Combine(folder, "root");
        Invoke($"Expand-FlyLayer -Path '{one}' -Destination '{dest}' -Limits ([FlyImages.Unpacking.UnpackLimits]@{{ MaxFileSize = 4 }})", out var errors);
        var error = Assert.Single(errors);
        Assert.Equal("LayerRejectedLimit,FlyImages.Cmdlets.ExpandFlyLayerCommand", error.FullyQualifiedErrorId);
        Assert.Contains("single file size limit", error.Exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WhatIfAppliesNothing()
    {
        var one = Write("1.tar", Tar(("f", "one")));
        var dest = Path.Combine(folder, "root");
        var results = Invoke($"Expand-FlyLayer -Path '{one}' -Destination '{dest}' -WhatIf", out var errors);
        AssertNoErrors(errors);
        Assert.Empty(results);
        Assert.False(Directory.Exists(dest));
    }

    private static void AssertNoErrors(IReadOnlyList<ErrorRecord> errors) =>
        Assert.True(errors.Count == 0, string.Join("\n", errors.Select(e => $"{e.FullyQualifiedErrorId}: {e}")));

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static Collection<PSObject> Invoke(string script, out IReadOnlyList<ErrorRecord> errors)
    {
        var manifest = typeof(ExpandFlyLayerTests).Assembly.GetCustomAttribute<ModulePathAttribute>()!.Path;
        var state = InitialSessionState.CreateDefault2();
        state.ImportPSModule(manifest);
        using var runspace = RunspaceFactory.CreateRunspace(state);
        runspace.Open();
        using var shell = PowerShell.Create(runspace);
        shell.AddScript(script);
        var output = shell.Invoke();
        errors = shell.Streams.Error.ToList();
        return output;
    }

    private string Write(string name, byte[] content)
    {
        var path = Path.Combine(folder, name);
        File.WriteAllBytes(path, content);
        return path;
    }

    /// <summary>A minimal ustar writer: names ending in "/" are folders, the rest files.</summary>
    private static byte[] Tar(params (string Name, string? Content)[] entries)
    {
        var output = new MemoryStream();
        foreach (var (name, content) in entries)
        {
            var data = Encoding.UTF8.GetBytes(content ?? string.Empty);
            var h = new byte[512];
            Encoding.UTF8.GetBytes(name).CopyTo(h, 0);
            Encoding.ASCII.GetBytes(name.EndsWith('/') ? "0000755\0" : "0000644\0").CopyTo(h, 100);
            Encoding.ASCII.GetBytes("0000000\0").CopyTo(h, 108);
            Encoding.ASCII.GetBytes("0000000\0").CopyTo(h, 116);
            Encoding.ASCII.GetBytes(Convert.ToString(data.Length, 8).PadLeft(11, '0') + "\0").CopyTo(h, 124);
            Encoding.ASCII.GetBytes("14000000000\0").CopyTo(h, 136);
            h[156] = (byte)(name.EndsWith('/') ? '5' : '0');
            Encoding.ASCII.GetBytes("ustar\000").CopyTo(h, 257);
            Encoding.ASCII.GetBytes("        ").CopyTo(h, 148);
            var sum = h.Sum(b => (int)b);
            Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(h, 148);
            output.Write(h);
            output.Write(data);
            output.Write(new byte[(512 - (data.Length % 512)) % 512]);
        }

        output.Write(new byte[1024]);
        return output.ToArray();
    }
}
