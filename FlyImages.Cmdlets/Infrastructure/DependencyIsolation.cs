using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;

namespace FlyImages.Cmdlets.Infrastructure;

/// <summary>
/// Keeps the module's dependencies (the core, AWSSDK, SQLite, Polly...) in their own
/// AssemblyLoadContext, loaded from the <c>deps/</c> folder beside the cmdlet assembly, so another
/// module in the same session (AWS.Tools with its own AWSSDK, say) cannot clash with them.
/// Only this cmdlet assembly lives in the default context. Where the dependencies are not in
/// <c>deps/</c> (the console host, which references them directly) nothing changes.
/// Two rules follow for the cmdlet assembly: no PUBLIC type may derive from, implement, or hold a
/// field (an auto-property's too) of a core VALUE type — PowerShell loads every exported type with
/// GetExportedTypes() before OnImport runs (a core enum parameter needs a cmdlet-side enum); and format
/// views call only cmdlet-assembly types (see <see cref="Display"/>).
/// </summary>
public sealed class DependencyIsolation : IModuleAssemblyInitializer
{
    private static readonly object Gate = new();
    private static string? depsDirectory;
    private static DependencyLoadContext? context;
    private static bool hooked;

    /// <summary>The load context of the dependencies, or null when they are not isolated.</summary>
    internal static AssemblyLoadContext? Context => context;

    /// <summary>PowerShell calls this on Import-Module, before any cmdlet's metadata (which names core types) is read.</summary>
    public void OnImport() => Initialize();

    // No IModuleAssemblyCleanup: the resolver is process-wide while the module is imported per runspace;
    // unhooking when one runspace removes the module breaks every other runspace that still uses it.

    private static void Initialize()
    {
        lock (Gate)
        {
            if (hooked)
            {
                return;
            }

            var here = Path.GetDirectoryName(typeof(DependencyIsolation).Assembly.Location);
            var deps = string.IsNullOrEmpty(here) ? null : Path.Combine(here, "deps");
            if (deps is null || !Directory.Exists(deps))
            {
                return;
            }

            depsDirectory = deps;
            context ??= new DependencyLoadContext(deps);
            AssemblyLoadContext.Default.Resolving += ResolveFromDeps;
            hooked = true;
        }
    }

    private static Assembly? ResolveFromDeps(AssemblyLoadContext defaultContext, AssemblyName name)
    {
        // only the cmdlet assembly's own references come here; the isolated context resolves the rest
        var path = Path.Combine(depsDirectory!, name.Name + ".dll");
        return File.Exists(path) ? context!.LoadFromAssemblyName(name) : null;
    }

    private sealed class DependencyLoadContext(string directory) : AssemblyLoadContext("FlyImages", isCollectible: false)
    {
        protected override Assembly? Load(AssemblyName assemblyName)
        {
            // a dependency's build for this runtime or an older one above net8.0 (deps/net10.0/: see the project's IsolateDependencies)
            for (var major = Environment.Version.Major; major > 8; major--)
            {
                var newer = Path.Combine(directory, $"net{major}.0", assemblyName.Name + ".dll");
                if (File.Exists(newer))
                {
                    return LoadFromAssemblyPath(newer);
                }
            }

            var path = Path.Combine(directory, assemblyName.Name + ".dll");
            // framework assemblies (System.*) are not in deps/: null defers them to the default context
            return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
        }

        protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
        {
            foreach (var candidate in new[] { unmanagedDllName, $"lib{unmanagedDllName}.so", $"{unmanagedDllName}.so" })
            {
                var path = Path.Combine(directory, candidate);
                if (File.Exists(path))
                {
                    return LoadUnmanagedDllFromPath(path);
                }
            }

            return IntPtr.Zero;
        }
    }
}
