namespace FlyImages.Operations;

/// <summary>
/// Hands out progress activity ids, each once: every bar that may be visible at the same time as another (a listing,
/// each install, each install's download and unpack bars, each blob of a save) takes its own, so no two bars of one
/// pipeline overwrite each other. One allocator per runspace (the cmdlets') or per context (tests, library callers).
/// </summary>
public sealed class ActivityIds
{
    private int last;

    /// <summary>For contexts that have no allocator of their own.</summary>
    public static ActivityIds Shared { get; } = new();

    /// <summary>A new id, never 0 or negative (-1 means "no parent" to PowerShell).</summary>
    public int Next()
    {
        while (true)
        {
            var id = Interlocked.Increment(ref last);
            if (id > 0)
            {
                return id;
            }

            Interlocked.CompareExchange(ref last, 0, id); // wrapped after 2^31 bars: start again at 1
        }
    }
}
