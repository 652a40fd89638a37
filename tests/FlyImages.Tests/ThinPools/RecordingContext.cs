using System.Collections.Concurrent;
using FlyImages.Operations;

namespace FlyImages.Tests.ThinPools;

/// <summary>An operation context that keeps what the core reported and answers ShouldProcess as told.</summary>
internal sealed class RecordingContext(bool proceed = true, CancellationToken cancellationToken = default) : IOperationContext
{
    public ConcurrentQueue<string> Verbose { get; } = new();

    public ConcurrentQueue<string> Warnings { get; } = new();

    public ConcurrentQueue<string> Questions { get; } = new();

    public CancellationToken CancellationToken { get; } = cancellationToken;

    public void WriteProgress(ProgressReport report) { }

    public void WriteVerbose(string message) => Verbose.Enqueue(message);

    public void WriteWarning(string message) => Warnings.Enqueue(message);

    public void WriteDebug(string message) { }

    public bool ShouldProcess(string target, string action)
    {
        Questions.Enqueue($"{target}: {action}");
        return proceed;
    }
}
