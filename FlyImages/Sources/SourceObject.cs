namespace FlyImages.Sources;

/// <summary>One object a source lists: its key relative to the source's prefix.</summary>
public sealed record SourceObject(string Key, long Size, string? ETag, DateTimeOffset? LastModified);
