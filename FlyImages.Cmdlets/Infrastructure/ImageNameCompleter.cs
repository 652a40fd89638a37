using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using FlyImages.Configuration;
using FlyImages.State;

namespace FlyImages.Cmdlets.Infrastructure;

/// <summary>
/// Completes image names from the local store (fast, no network). Completion only reads: it never creates a store
/// (a missing one completes nothing) and never migrates one (a store of another schema version completes nothing).
/// </summary>
public sealed class ImageNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var storePath = fakeBoundParameters is not null && fakeBoundParameters.Contains("StorePath") ? fakeBoundParameters["StorePath"] as string : null;
        IReadOnlyList<string> names;
        try
        {
            var store = StoreProbe.OpenIfCurrent(FlyEnvironment.ResolveStorePath(storePath));
            names = store is null ? [] : new ImageRepository(store).List().Select(i => i.Name).Distinct(StringComparer.Ordinal).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Errors.FlyException)
        {
            yield break;
        }

        var matcher = new NameMatcher([(wordToComplete ?? "") + "*"]);
        foreach (var name in names.Where(matcher.IsMatch))
        {
            yield return new CompletionResult(name, name, CompletionResultType.ParameterValue, name);
        }
    }
}
