using System.Reflection.PortableExecutable;
using FlyImages.Module.Tests.Infrastructure;
using Xunit;

namespace FlyImages.Module.Tests;

/// <summary>
/// The published module's dependencies carry ReadyToRun code the runtime of pwsh 7.6 (this test's .NET 10) accepts:
/// the same ReadyToRun major version as the runtime's own precompiled CoreLib. Code of another major version (as the
/// SDK's own ReadyToRun publish of a net8.0 project makes) is silently ignored and every method JIT-compiled.
/// </summary>
public sealed class ReadyToRunTests
{
    private const uint ReadyToRunSignature = 0x00525452; // 'RTR'

    /// <summary>The published module's deps/ folder.</summary>
    private static readonly string Deps = Path.Combine(Path.GetDirectoryName(PowerShellSession.ModuleManifest)!, "deps");

    [Fact]
    public void Every_dependency_is_precompiled_for_the_runtime_pwsh_runs_on()
    {
        var runtimeMajor = ReadyToRunMajor(typeof(object).Assembly.Location);
        Assert.NotNull(runtimeMajor);

        var assemblies = Directory.GetFiles(Deps, "*.dll").Select(a => (Name: Path.GetFileName(a), Major: ReadyToRunMajor(a))).ToList();
        Assert.Contains(assemblies, a => a.Name == "FlyImages.dll");
        Assert.All(assemblies, a => Assert.True(a.Major == runtimeMajor,
            $"{a.Name}: ReadyToRun major version {a.Major?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}, the runtime's is {runtimeMajor}"));
    }

    [Fact]
    public void The_precompiled_core_still_carries_its_IL_for_other_runtimes()
    {
        // pwsh 7.4 (.NET 8) ignores the native code and JIT-compiles the IL, which must be the net8.0 build's
        var core = Path.Combine(Deps, "FlyImages.dll");
        using var pe = new PEReader(File.OpenRead(core));
        var metadata = System.Reflection.Metadata.PEReaderExtensions.GetMetadataReader(pe);
        var frameworks = metadata.CustomAttributes.Select(h => metadata.GetCustomAttribute(h))
            .Select(a => System.Text.Encoding.UTF8.GetString(metadata.GetBlobBytes(a.Value)))
            .Where(v => v.Contains(".NETCoreApp", StringComparison.Ordinal));
        Assert.Contains(frameworks, v => v.Contains(".NETCoreApp,Version=v8.0", StringComparison.Ordinal));
        Assert.True(pe.PEHeaders.CorHeader!.MetadataDirectory.Size > 0);
    }

    /// <summary>The major version of the ReadyToRun header of <paramref name="path"/>, null when it has none.</summary>
    private static int? ReadyToRunMajor(string path)
    {
        using var pe = new PEReader(File.OpenRead(path));
        var native = pe.PEHeaders.CorHeader?.ManagedNativeHeaderDirectory;
        if (native is not { Size: >= 8 } header)
        {
            return null;
        }

        var reader = pe.GetSectionData(header.RelativeVirtualAddress).GetReader();
        return reader.ReadUInt32() == ReadyToRunSignature ? reader.ReadUInt16() : null;
    }
}
