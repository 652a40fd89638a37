namespace FlyImages.Errors;

/// <summary>
/// An expected failure: it carries a stable error id (public API: scripts match it with
/// <c>Should -Throw -ErrorId</c>), a category, and the object it concerns. The cmdlet layer turns it
/// into an ErrorRecord without a stack trace.
/// </summary>
public class FlyException : Exception
{
    public FlyException(string errorId, FlyErrorCategory category, string message, object? target = null, Exception? inner = null)
        : base(message, inner)
    {
        ErrorId = errorId;
        Category = category;
        Target = target;
    }

    /// <summary>Stable identifier, one of <see cref="ErrorIds"/>.</summary>
    public string ErrorId { get; }

    public FlyErrorCategory Category { get; }

    /// <summary>What the failure concerns (an image name, a key, a path...).</summary>
    public object? Target { get; }

    /// <summary>A suggestion for the user, shown as the ErrorRecord's recommended action.</summary>
    public string? RecommendedAction { get; init; }
}
