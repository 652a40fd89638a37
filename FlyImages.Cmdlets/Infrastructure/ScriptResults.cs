using System.Management.Automation;
using FlyImages.Health;

namespace FlyImages.Cmdlets.Infrastructure;

/// <summary>Turns what a check script returns (objects with Check, Passed or Status, Message...) into check results.</summary>
internal static class ScriptResults
{
    public static StoreCheckResult From(PSObject item, string scriptName, TimeSpan elapsed, int iteration, string storePath)
    {
        string? Text(string property) => item.Properties[property]?.Value?.ToString();
        var status = Text("Status") is { } s && Enum.TryParse<StoreCheckStatus>(s, true, out var parsed) ? parsed
            : item.Properties["Passed"]?.Value is { } passed ? (LanguagePrimitives.IsTrue(passed) ? StoreCheckStatus.Passed : StoreCheckStatus.Failed)
            : item.BaseObject is bool b ? (b ? StoreCheckStatus.Passed : StoreCheckStatus.Failed)
            : StoreCheckStatus.Failed;
        var message = Text("Message") ?? (item.BaseObject is bool ? $"{scriptName} returned {item}" : $"{scriptName} returned an object without Passed or Status: {item}");
        return new StoreCheckResult
        {
            Check = Text("Check") is { Length: > 0 } check ? check : scriptName,
            Status = status,
            Message = FlyImages.Engine.WorkflowJournal.Clean(message) ?? "",
            Duration = item.Properties["Duration"]?.Value is TimeSpan d ? d : elapsed,
            Iteration = iteration,
            StorePath = storePath,
        };
    }

    public static StoreCheckResult Failed(string scriptName, string message, TimeSpan elapsed, int iteration, string storePath) => new()
    {
        Check = scriptName,
        Status = StoreCheckStatus.Failed,
        Message = FlyImages.Engine.WorkflowJournal.Clean(message) ?? "",
        Duration = elapsed,
        Iteration = iteration,
        StorePath = storePath,
    };
}
