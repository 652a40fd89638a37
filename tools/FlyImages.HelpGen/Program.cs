using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;

namespace FlyImages.HelpGen;

/// <summary>
/// FlyImages.HelpGen &lt;cmdlet assembly&gt; &lt;help file&gt;: writes the MAML help of every public cmdlet class of the
/// assembly. The assembly is loaded from its build folder (its dependencies beside it) into a load context of its
/// own; PowerShell's assemblies come from this tool, so the cmdlets' attributes are the engine's own types.
/// Missing text is reported, not fatal: the help tests fail on it.
/// </summary>
internal static class Program
{
    public const string AboutTopic = "about_FlyImages";

    public static int Main(string[] args)
    {
        if (args.Length != 2)
        {
            Console.Error.WriteLine("usage: FlyImages.HelpGen <cmdlet assembly> <output help file>");
            return 2;
        }

        var assemblyPath = Path.GetFullPath(args[0]);
        var context = new BesideContext(Path.GetDirectoryName(assemblyPath)!);
        var assembly = context.LoadFromAssemblyPath(assemblyPath);
        var cmdletTypes = assembly.GetExportedTypes()
            .Where(t => !t.IsAbstract && typeof(Cmdlet).IsAssignableFrom(t) && t.GetCustomAttribute<CmdletAttribute>() is not null)
            .ToDictionary(DocComments.Id, t => t.GetCustomAttribute<CmdletAttribute>()!, StringComparer.Ordinal);
        var docs = new DocComments(id => cmdletTypes.TryGetValue(id, out var c) ? $"{c.VerbName}-{c.NounName}" : null);

        var commands = cmdletTypes.Keys
            .Select(id => assembly.GetType(id[2..], throwOnError: true)!)
            .Select(t => CommandHelp.Read(t, docs, AboutTopic))
            .OrderBy(c => c.Noun, StringComparer.Ordinal)
            .ThenBy(c => c.Verb, StringComparer.Ordinal)
            .ToList();
        MamlWriter.Write(commands, Path.GetFullPath(args[1]));

        foreach (var gap in commands.SelectMany(Gaps))
        {
            Console.WriteLine($"FlyImages.HelpGen: no text: {gap}");
        }

        Console.WriteLine($"FlyImages.HelpGen: {commands.Count} cmdlets -> {args[1]}");
        return 0;
    }

    private static IEnumerable<string> Gaps(CommandHelp c)
    {
        if (c.Synopsis.Length == 0)
        {
            yield return $"{c.Name} synopsis";
        }

        if (c.Description.Count == 0)
        {
            yield return $"{c.Name} description";
        }

        foreach (var p in c.Parameters.Where(p => p.Description.Count == 0))
        {
            yield return $"{c.Name} -{p.Name}";
        }

        if (c.Examples.Count < 2 || c.Examples.Any(e => e.Code.Length == 0 || e.Remarks.Count == 0))
        {
            yield return $"{c.Name} examples (two at least, each with code and a remark)";
        }
    }

    /// <summary>Resolves the cmdlet assembly's references from its own folder; everything else (PowerShell, .NET) from the default context.</summary>
    private sealed class BesideContext(string directory) : AssemblyLoadContext("FlyImages.HelpGen.Module")
    {
        protected override Assembly? Load(AssemblyName assemblyName)
        {
            if (assemblyName.Name is "System.Management.Automation" or "netstandard")
            {
                return null;
            }

            var path = Path.Combine(directory, assemblyName.Name + ".dll");
            return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
        }
    }
}
