namespace FlyImages.Sources;

/// <summary>One object a source lists: its key relative to the source's prefix.</summary>
public sealed record SourceObject(string Key, long Size, string? ETag, DateTimeOffset? LastModified)
{
    /// <summary>Why the object cannot be a layer whatever its name (e.g. a symbolic link in a folder source).</summary>
    public string? Problem { get; init; }

    /// <summary>An empty listing.</summary>
    internal static async IAsyncEnumerable<SourceObject> NoneAsync()
    {
        await Task.CompletedTask.ConfigureAwait(false);
        yield break;
    }
}
