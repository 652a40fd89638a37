namespace FlyImages.Operations;

/// <summary>
/// Passes everything through to <paramref name="inner"/> but approves state changes: for work the caller
/// already asked about (the default pool made on demand by an install; the pool removal the user confirmed).
/// </summary>
public sealed class ApprovingContext(IOperationContext inner) : IOperationContext
{
    public CancellationToken CancellationToken => inner.CancellationToken;

    public void WriteProgress(ProgressReport report) => inner.WriteProgress(report);

    public void WriteVerbose(string message) => inner.WriteVerbose(message);

    public void WriteWarning(string message) => inner.WriteWarning(message);

    public void WriteDebug(string message) => inner.WriteDebug(message);

    public bool ShouldProcess(string target, string action) => true;

    public ActivityIds ActivityIds => inner.ActivityIds;
}
