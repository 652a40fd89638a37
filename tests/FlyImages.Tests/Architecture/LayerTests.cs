using System.Reflection;
using FlyImages.State;
using NetArchTest.Rules;
using Xunit;

namespace FlyImages.Tests.Architecture;

/// <summary>
/// The core's folders (namespaces) in layers: a namespace may use its own layer's and lower layers'
/// namespaces, never a higher one's, and two namespaces of one layer never use each other both ways.
/// The cmdlets (FlyImages.Cmdlets, another assembly) sit on top; the core references no PowerShell.
/// </summary>
public sealed class LayerTests
{
    /// <summary>Bottom first. Each entry: namespaces of one layer.</summary>
    public static readonly string[][] Layers =
    [
        // foundation: plain types and small utilities nothing else builds on
        ["FlyImages.Model", "FlyImages.Errors", "FlyImages.Native", "FlyImages.Configuration", "FlyImages.Operations", "FlyImages.Processes", "FlyImages.Resilience", "FlyImages.Streams"],
        // where images come from
        ["FlyImages.Sources"],
        // the store (SQLite, migrations, the layout of its folder)
        ["FlyImages.State"],
        // resources built on the store: the content store, the unpacker, the thin pools
        ["FlyImages.Content", "FlyImages.Unpacking", "FlyImages.ThinPools"],
        // the catalog: a source's listing merged with the store and the content store
        ["FlyImages.Images"],
        // the workflow engine: persisted machines, the journal, leases, crash recovery, the registry of workflow kinds
        // (it uses only the store and the foundation; the workflows above declare their kinds to it)
        ["FlyImages.Engine"],
        // the image workflows built on the engine: install, layer chains, snapshots, their state machines
        ["FlyImages.Workflows"],
        // application services: install (its steps, Save's fetch)
        ["FlyImages.Install"],
        // taking things away (image removal, collection, pool removal), over the install services, workflows and pools
        ["FlyImages.Lifecycle"],
        // operating a host: identity, health checks, metrics (they read everything below)
        ["FlyImages.Health", "FlyImages.Metrics"],
    ];

    private static readonly Assembly Core = typeof(FlyStore).Assembly;

    public static TheoryData<string, string> LowerOnHigher()
    {
        var data = new TheoryData<string, string>();
        for (var i = 0; i < Layers.Length; i++)
        {
            foreach (var lower in Layers[i])
            {
                foreach (var higher in Layers.Skip(i + 1).SelectMany(l => l))
                {
                    data.Add(lower, higher);
                }
            }
        }

        return data;
    }

    public static TheoryData<string, string> SameLayerPairs()
    {
        var data = new TheoryData<string, string>();
        foreach (var layer in Layers)
        {
            for (var a = 0; a < layer.Length; a++)
            {
                for (var b = a + 1; b < layer.Length; b++)
                {
                    data.Add(layer[a], layer[b]);
                }
            }
        }

        return data;
    }

    [Fact]
    public void EveryCoreNamespaceHasALayer()
    {
        var known = Layers.SelectMany(l => l).ToList();
        var unplaced = Core.GetTypes()
            .Select(t => t.Namespace)
            .Where(n => n is not null && n.StartsWith("FlyImages", StringComparison.Ordinal))
            .Distinct()
            .Where(n => !known.Any(k => n == k || n!.StartsWith(k + ".", StringComparison.Ordinal)))
            .ToList();
        Assert.True(unplaced.Count == 0, "namespaces without a layer: " + string.Join(", ", unplaced));
    }

    [Theory]
    [MemberData(nameof(LowerOnHigher))]
    public void LowerLayerDoesNotUseHigher(string lower, string higher)
    {
        var result = Types.InAssembly(Core).That().ResideInNamespace(lower).ShouldNot().HaveDependencyOn(higher).GetResult();
        Assert.True(result.IsSuccessful, $"{lower} (lower) uses {higher} (higher): {Offenders(result)}");
    }

    [Theory]
    [MemberData(nameof(SameLayerPairs))]
    public void NoCycleInsideALayer(string a, string b)
    {
        var ab = Types.InAssembly(Core).That().ResideInNamespace(a).ShouldNot().HaveDependencyOn(b).GetResult();
        var ba = Types.InAssembly(Core).That().ResideInNamespace(b).ShouldNot().HaveDependencyOn(a).GetResult();
        Assert.False(!ab.IsSuccessful && !ba.IsSuccessful, $"{a} and {b} use each other: {Offenders(ab)} / {Offenders(ba)}");
    }

    [Fact]
    public void CoreReferencesNeitherPowerShellNorTheCmdlets()
    {
        var references = Core.GetReferencedAssemblies().Select(a => a.Name).ToList();
        Assert.DoesNotContain(references, n => n is "System.Management.Automation" or "FlyImages.Cmdlets" or "FlyImages.Host");
        var result = Types.InAssembly(Core).ShouldNot().HaveDependencyOnAny("System.Management.Automation", "FlyImages.Cmdlets", "FlyImages.Host").GetResult();
        Assert.True(result.IsSuccessful, "the core uses PowerShell or the cmdlets: " + Offenders(result));
    }

    private static string Offenders(TestResult result) => result.FailingTypeNames is null ? "" : string.Join(", ", result.FailingTypeNames);
}
