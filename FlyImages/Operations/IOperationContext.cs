namespace FlyImages.Operations;

/// <summary>
/// What the core may ask of whoever runs it (a cmdlet, a test, the console host). The core never
/// sees PSCmdlet: it reports through this small interface and receives ShouldProcess as a call.
/// Implementations must be safe to call from any thread; the cmdlet implementation marshals every
/// call to the pipeline thread.
/// </summary>
public interface IOperationContext
{
    /// <summary>Cancelled on Ctrl+C (StopProcessing). Long work checks it often.</summary>
    CancellationToken CancellationToken { get; }

    void WriteProgress(ProgressReport report);

    void WriteVerbose(string message);

    void WriteWarning(string message);

    void WriteDebug(string message);

    /// <summary>Asks whether to go ahead with a state change (-WhatIf / -Confirm).</summary>
    bool ShouldProcess(string target, string action);

    /// <summary>Where progress bars take their activity ids (each bar its own); wrappers pass their inner context's.</summary>
    ActivityIds ActivityIds => ActivityIds.Shared;

    /// <summary>A progress activity id no other bar of this runspace (or context) has.</summary>
    int NewActivityId() => ActivityIds.Next();
}

/// <summary>One progress bar update. <see cref="ActivityId"/> is stable per bar; <see cref="ParentActivityId"/>
/// nests a bar under another (-1 for none).</summary>
public sealed record ProgressReport(
    int ActivityId,
    string Activity,
    string Status,
    int PercentComplete = -1,
    int SecondsRemaining = -1,
    string? CurrentOperation = null,
    int ParentActivityId = -1,
    bool Completed = false);

/// <summary>A context that reports nothing and approves everything: for tests and library callers.</summary>
public sealed class NullOperationContext : IOperationContext
{
    public NullOperationContext(CancellationToken cancellationToken = default) => CancellationToken = cancellationToken;

    public static NullOperationContext Instance { get; } = new();

    public CancellationToken CancellationToken { get; }

    public void WriteProgress(ProgressReport report) { }

    public void WriteVerbose(string message) { }

    public void WriteWarning(string message) { }

    public void WriteDebug(string message) { }

    public bool ShouldProcess(string target, string action) => true;
}
