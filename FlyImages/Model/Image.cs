namespace FlyImages.Model;

/// <summary>
/// An image: a named folder of ordered layers in a source. Immutable (a changed image is a new object, made
/// with <c>with</c>); its collections are arrays, so PowerShell's intrinsic <c>.ForEach{}</c>/<c>.Where{}</c> work on them.
/// </summary>
public sealed record Image
{
    private readonly IReadOnlyList<Layer> layers = [];
    private readonly IReadOnlyList<string> problems = [];

    public string Name { get; init; } = "";

    /// <summary>The canonical source URI (s3://bucket/prefix or file:///path).</summary>
    public string Source { get; init; } = "";

    /// <summary>The layers in order (an array).</summary>
    public IReadOnlyList<Layer> Layers
    {
        get => layers;
        init => layers = value is null ? [] : value.ToArray();
    }

    /// <summary>Sum of the layers' sizes in bytes.</summary>
    public long Size => Layers.Sum(l => l.Size);

    public ImageState State { get; init; } = ImageState.Remote;

    /// <summary>Why the image is Invalid, Failed or Rejected; empty otherwise (an array).</summary>
    public IReadOnlyList<string> Problems
    {
        get => problems;
        init => problems = value is null ? [] : value.ToArray();
    }

    /// <summary>Detail of the last state change (error text for Failed/Rejected).</summary>
    public string? StateDetail { get; init; }

    public DateTimeOffset? UpdatedAt { get; init; }

    /// <summary>
    /// When the source was listed for this object (UTC; null for what the store records). Install-FlyImage reuses a
    /// listing younger than its reuse window instead of listing the source again; the ETag and size of every layer are
    /// still checked when it is read.
    /// </summary>
    public DateTimeOffset? ListedAt { get; init; }

    /// <summary>
    /// The S3-compatible endpoint the image was listed through (null: AWS, or a folder source), so a piped image
    /// is fetched from where it was listed. Never holds credentials.
    /// </summary>
    public string? Endpoint { get; init; }

    /// <summary>The S3 region the image was listed in (null for a folder source).</summary>
    public string? Region { get; init; }

    /// <summary>The shared AWS profile the listing used, when one was named (a name, never a secret).</summary>
    public string? ProfileName { get; init; }

    /// <summary>Whether the listing used unsigned (anonymous) requests by choice.</summary>
    public bool Anonymous { get; init; }

    /// <summary>The host this object describes (see <see cref="LocalHost"/>).</summary>
    public string ComputerName { get; init; } = LocalHost.ComputerName;

    public bool IsValid => Problems.Count == 0;

    public override string ToString() => Name;
}
