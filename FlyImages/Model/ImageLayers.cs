namespace FlyImages.Model;

/// <summary>Comparisons of images' layer lists.</summary>
public static class ImageLayers
{
    /// <summary>The same layers, in the same order, with the same identity (key, size, ETag).</summary>
    public static bool Same(Image a, Image b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return a.Layers.Count == b.Layers.Count && a.Layers.Zip(b.Layers).All(p =>
            p.First.Index == p.Second.Index && p.First.Key == p.Second.Key && p.First.Size == p.Second.Size && p.First.ETag == p.Second.ETag);
    }
}
