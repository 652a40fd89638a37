namespace FlyImages.Model;

/// <summary>An image: a named folder of ordered layers in a source.</summary>
public sealed class Image
{
    public string Name { get; init; } = "";

    /// <summary>The canonical source URI (s3://bucket/prefix or file:///path).</summary>
    public string Source { get; init; } = "";

    public IReadOnlyList<Layer> Layers { get; init; } = Array.Empty<Layer>();

    /// <summary>Sum of the layers' sizes in bytes.</summary>
    public long Size => Layers.Sum(l => l.Size);

    public ImageState State { get; set; } = ImageState.Remote;

    /// <summary>Why the image is Invalid, Failed or Rejected; empty otherwise.</summary>
    public IReadOnlyList<string> Problems { get; init; } = Array.Empty<string>();

    /// <summary>Detail of the last state change (error text for Failed/Rejected).</summary>
    public string? StateDetail { get; set; }

    public DateTimeOffset? UpdatedAt { get; set; }

    public bool IsValid => Problems.Count == 0;

    public override string ToString() => Name;
}
