namespace FlyImages.Operations;

/// <summary>Conveniences over <see cref="IOperationContext"/>.</summary>
public static class OperationContextExtensions
{
    /// <summary>
    /// The same reporting and ShouldProcess, cancelled by <paramref name="cancellationToken"/> instead: so a
    /// call gets one channel (a context whose token is, say, Ctrl+C linked with a lost lease), never a
    /// context and a second token beside it.
    /// </summary>
    public static IOperationContext WithCancellation(this IOperationContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var inner = context is TokenContext wrapped ? wrapped.Inner : context;
        return inner.CancellationToken == cancellationToken ? inner : new TokenContext(inner, cancellationToken);
    }

    private sealed class TokenContext(IOperationContext inner, CancellationToken token) : IOperationContext
    {
        public IOperationContext Inner => inner;

        public CancellationToken CancellationToken => token;

        public void WriteProgress(ProgressReport report) => inner.WriteProgress(report);

        public void WriteVerbose(string message) => inner.WriteVerbose(message);

        public void WriteWarning(string message) => inner.WriteWarning(message);

        public void WriteDebug(string message) => inner.WriteDebug(message);

        public bool ShouldProcess(string target, string action) => inner.ShouldProcess(target, action);

        public ActivityIds ActivityIds => inner.ActivityIds;
    }
}
