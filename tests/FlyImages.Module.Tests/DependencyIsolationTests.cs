using FlyImages.Module.Tests.Infrastructure;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests;

/// <summary>
/// The module's dependencies live in their own AssemblyLoadContext: a session that already holds
/// other versions of them (here Polly.Core 8.4.2, loaded by this test process) does not break it.
/// </summary>
public sealed class DependencyIsolationTests : IDisposable
{
    private readonly TempDirectory dir = new("flyimages-alc");

    [Fact]
    public void The_module_uses_its_own_dependency_versions_beside_conflicting_ones()
    {
        // Polly keeps AssemblyVersion 8.0.0.0 across 8.x: the informational version tells them apart
        var ours = typeof(Polly.ResiliencePipeline).Assembly;
        Assert.StartsWith("8.4.2", Informational(ours), StringComparison.Ordinal);

        using var ps = new PowerShellSession();
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        // retries go through the module's Polly 8.9.1; a clash would be a MissingMethod/TypeLoad error instead
        var r = ps.Invoke($"Get-FlyImage -Source s3://bucket-x/images -Endpoint http://127.0.0.1:{port} -StorePath $p -Verbose", new Dictionary<string, object?> { ["p"] = dir.Path });
        Assert.Equal("SourceUnreachable,FlyImages.Cmdlets.GetFlyImageCommand", Assert.Single(r.AllErrors).FullyQualifiedErrorId);
        Assert.Equal(3, r.Verbose.Count(v => v.Contains("attempt", StringComparison.Ordinal)));

        var loaded = AppDomain.CurrentDomain.GetAssemblies().Where(a => a.GetName().Name == "Polly.Core").ToList();
        Assert.Equal(2, loaded.Count);
        var module = Assert.Single(loaded, a => a != ours);
        Assert.StartsWith("8.9.1", Informational(module), StringComparison.Ordinal);
        Assert.Contains("/deps/", module.Location, StringComparison.Ordinal);
        Assert.Equal("FlyImages", System.Runtime.Loader.AssemblyLoadContext.GetLoadContext(module)!.Name);
    }

    private static string Informational(System.Reflection.Assembly a)
        => a.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false).Cast<System.Reflection.AssemblyInformationalVersionAttribute>().Single().InformationalVersion;

    [Fact]
    public void The_core_and_native_sqlite_load_in_the_module_context()
    {
        using var ps = new PowerShellSession();
        PublicBucketLayout.WriteFolder(dir.Combine("src"));
        var r = ps.Invoke("""
            $image = Get-FlyImage -Source $src golang -StorePath $p
            [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($image.GetType().Assembly).Name
            $storeType = $image.GetType().Assembly.GetType('FlyImages.State.FlyStore')
            $storeType::Open($p).SchemaVersion()
            """, new Dictionary<string, object?> { ["src"] = dir.Combine("src"), ["p"] = dir.Combine("store") });
        r.ShouldSucceed();
        Assert.Equal("FlyImages", r.Output[0].BaseObject);
        Assert.True((int)r.Output[1].BaseObject >= 1);
    }

    [Fact]
    public void On_NET_10_the_module_loads_the_net10_build_of_System_IO_Hashing_whose_CRCs_are_vectorised()
    {
        // the netstandard2.0 build in deps/ (for pwsh 7.4 on .NET 8) computes CRC-64/NVME at about 0.4 GB/s
        Assert.True(Environment.Version.Major >= 10, $"this test process runs on .NET {Environment.Version}");
        using var ps = new PowerShellSession();
        var r = ps.Invoke("""
            $null = Get-Command Get-FlyImage
            $context = [System.Runtime.Loader.AssemblyLoadContext]::All | Where-Object Name -eq FlyImages
            $context.LoadFromAssemblyName([System.Reflection.AssemblyName]'System.IO.Hashing').Location
            """);
        r.ShouldSucceed();
        Assert.EndsWith("/deps/net10.0/System.IO.Hashing.dll", (string)r.Output.Single().BaseObject, StringComparison.Ordinal);
    }

    public void Dispose() => dir.Dispose();
}
