using System.Management.Automation;
using System.Text;
using FlyImages.Module.Tests.Infrastructure;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests.Unpacking;

/// <summary>Expand-FlyLayer in a real PowerShell engine with the published module.</summary>
public sealed class ExpandFlyLayerTests : IDisposable
{
    private readonly PowerShellSession ps = new();
    private readonly TempDirectory folder = new("flyimages-expand");

    private string Dest => folder.Combine("root");

    [Fact]
    public void Applies_layers_in_order_from_the_pipeline_and_outputs_summaries()
    {
        var one = Write("1.tar", Tar(("a/", null), ("a/f", "one"), ("a/gone", "x")));
        var two = Write("2.tar", Tar(("a/f", "two"), ("a/.wh.gone", "")));

        // FileInfo objects bind by FullName; objects with a BlobPath property bind too
        var r = ps.Invoke("[System.IO.FileInfo]::new($one), [pscustomobject]@{ BlobPath = $two } | Expand-FlyLayer -Destination $dest",
            new Dictionary<string, object?> { ["one"] = one, ["two"] = two, ["dest"] = Dest });
        r.ShouldSucceed();
        Assert.Equal(2, r.Output.Count);
        Assert.Equal("FlyImages.Unpacking.LayerApplyResult", r.Output[0].TypeNames[0]);
        Assert.Equal(one, r.Output[0].Properties["Path"].Value);
        Assert.Equal(two, r.Output[1].Properties["Path"].Value);
        Assert.Equal(1L, r.Output[1].Properties["WhiteoutsApplied"].Value);
        Assert.Equal("two", File.ReadAllText(Path.Combine(Dest, "a/f")));
        Assert.False(File.Exists(Path.Combine(Dest, "a/gone")));
    }

    [Fact]
    public void Wildcard_paths_are_expanded_and_the_table_view_renders()
    {
        Write("layer-1.tar", Tar(("f", "one")));
        var r = ps.Invoke("Expand-FlyLayer -Path \"$folder/layer-*.tar\" -Destination $dest | Out-Default",
            new Dictionary<string, object?> { ["folder"] = folder.Path, ["dest"] = Dest });
        r.ShouldSucceed();
        Assert.Equal("one", File.ReadAllText(Path.Combine(Dest, "f")));
        var lines = r.HostText.Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0).ToList();
        Assert.StartsWith("Layer", lines[0], StringComparison.Ordinal);
        Assert.Contains("Written", lines[0], StringComparison.Ordinal);
        Assert.Contains(lines, l => l.StartsWith("layer-1.tar", StringComparison.Ordinal) && l.Contains("Tar", StringComparison.Ordinal) && l.Contains("3 B", StringComparison.Ordinal));
    }

    [Fact]
    public void A_rejected_layer_is_a_terminating_error_with_a_stable_id()
    {
        var bad = Write("bad.tar", Tar(("../escape", "x")));
        var good = Write("good.tar", Tar(("after", "x")));
        var r = ps.Invoke("Expand-FlyLayer -LiteralPath $bad, $good -Destination $dest",
            new Dictionary<string, object?> { ["bad"] = bad, ["good"] = good, ["dest"] = Dest });
        var error = Assert.Single(r.AllErrors);
        Assert.Equal("LayerRejectedTraversal,FlyImages.Cmdlets.ExpandFlyLayerCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.SecurityError, error.CategoryInfo.Category);
        Assert.Contains("../escape", error.Exception.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(folder.Combine("escape")));

        // terminating: the layer after the rejected one is not applied
        Assert.False(File.Exists(Path.Combine(Dest, "after")));
    }

    [Fact]
    public void Limits_are_given_as_a_hashtable()
    {
        var one = Write("1.tar", Tar(("big", "more than four bytes")));
        var vars = new Dictionary<string, object?> { ["one"] = one, ["dest"] = Dest };
        var r = ps.Invoke("Expand-FlyLayer -Path $one -Destination $dest -Limits @{ MaxFileSize = 4; MaxWallTime = '00:05:00' }", vars);
        var error = Assert.Single(r.AllErrors);
        Assert.Equal("LayerRejectedLimit,FlyImages.Cmdlets.ExpandFlyLayerCommand", error.FullyQualifiedErrorId);
        Assert.Contains("single file size limit", error.Exception.Message, StringComparison.Ordinal);

        r = ps.Invoke("Expand-FlyLayer -Path $one -Destination $dest -Limits @{ NoSuchLimit = 1 }", vars);
        Assert.Equal("LayerLimitsInvalid,FlyImages.Cmdlets.ExpandFlyLayerCommand", Assert.Single(r.AllErrors).FullyQualifiedErrorId);

        r = ps.Invoke("Expand-FlyLayer -Path $one -Destination $dest -Limits @{ MaxEntries = 0 }", vars);
        Assert.Equal("LayerLimitsInvalid,FlyImages.Cmdlets.ExpandFlyLayerCommand", Assert.Single(r.AllErrors).FullyQualifiedErrorId);
    }

    [Fact]
    public void WhatIf_applies_nothing()
    {
        var one = Write("1.tar", Tar(("f", "one")));
        var r = ps.Invoke("Expand-FlyLayer -Path $one -Destination $dest -WhatIf", new Dictionary<string, object?> { ["one"] = one, ["dest"] = Dest });
        r.ShouldSucceed();
        Assert.Empty(r.Output);
        Assert.Contains("Apply layer", r.HostText, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Dest));
    }

    public void Dispose()
    {
        ps.Dispose();
        folder.Dispose();
    }

    private string Write(string name, byte[] content)
    {
        var path = folder.Combine(name);
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
