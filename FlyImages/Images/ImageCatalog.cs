using FlyImages.Errors;
using FlyImages.Model;
using FlyImages.Operations;
using FlyImages.Sources;
using FlyImages.State;

namespace FlyImages.Images;

/// <summary>Lists images: what a source offers (with what this host has of them) or what the store records.</summary>
public static class ImageCatalog
{
    /// <summary>
    /// The images <paramref name="source"/> offers, by name. Each takes its state from the store when the
    /// store recorded the same layers (key, size, ETag); a changed source shows as Remote.
    /// </summary>
    public static async Task<IReadOnlyList<Image>> ListAsync(IImageSource source, FlyStore? store, IOperationContext context, int? activityId = null)
    {
        var listedAt = DateTimeOffset.UtcNow;
        var id = activityId ?? context.NewActivityId();
        var objects = new List<SourceObject>();
        await foreach (var o in source.ListAsync(context.CancellationToken).ConfigureAwait(false))
        {
            objects.Add(o);
            if (objects.Count % 1000 == 0)
            {
                context.WriteProgress(new ProgressReport(id, $"Listing {source.Spec.Uri}", $"{objects.Count} keys"));
            }
        }

        context.WriteProgress(new ProgressReport(id, $"Listing {source.Spec.Uri}", "done", Completed: true));
        var images = ImageLayout.BuildImages(source.Spec.Uri, objects, context.WriteWarning);
        if (store is null)
        {
            return images.Select(i => i with { ListedAt = listedAt }).ToArray();
        }

        var recorded = new ImageRepository(store).List(source.Spec.Uri).ToDictionary(i => i.Name, StringComparer.Ordinal);
        var content = new Content.ContentStore(store);
        return images.Select(image => Merge(image, recorded.GetValueOrDefault(image.Name), content) with { ListedAt = listedAt }).ToArray();
    }

    /// <summary>
    /// The images named <paramref name="names"/> (exact names), each from a listing of its own prefix
    /// (<see cref="IImageSource.ListImageAsync"/>) and one store lookup: no listing of the whole source. A name the
    /// source does not have is left out.
    /// </summary>
    public static async Task<IReadOnlyList<Image>> FindAsync(IImageSource source, IEnumerable<string> names, FlyStore? store, IOperationContext context)
    {
        var repository = store is null ? null : new ImageRepository(store);
        var content = store is null ? null : new Content.ContentStore(store);
        var found = new List<Image>();
        foreach (var name in names.Distinct(StringComparer.Ordinal))
        {
            var listedAt = DateTimeOffset.UtcNow;
            var objects = new List<SourceObject>();
            await foreach (var o in source.ListImageAsync(name, context.CancellationToken).ConfigureAwait(false))
            {
                objects.Add(o);
            }

            foreach (var image in ImageLayout.BuildImages(source.Spec.Uri, objects, context.WriteWarning).Where(i => i.Name == name))
            {
                var merged = content is null ? image : Merge(image, repository!.Find(source.Spec.Uri, image.Name), content);
                found.Add(merged with { ListedAt = listedAt });
            }
        }

        return found;
    }

    /// <summary><paramref name="image"/> as listed, with the state the store recorded when its layers are the same (key, size, ETag).</summary>
    private static Image Merge(Image image, Image? known, Content.ContentStore content)
    {
        if (!image.IsValid)
        {
            return image;
        }

        if (known is not null && ImageLayers.Same(image, known))
        {
            image = image with
            {
                State = known.State,
                StateDetail = known.StateDetail,
                UpdatedAt = known.UpdatedAt,
                Layers = image.Layers.Zip(known.Layers, (l, k) => l with { Digest = k.Digest, BlobPath = k.BlobPath }).ToArray(),
            };
        }

        // layers already in the content store (fetched for this or any image) show their digest and blob
        var source = image.Source;
        return image with
        {
            Layers = image.Layers.Select(l => l.BlobPath is null && content.TryGetBlob(source, l) is { } blob
                ? l with { Digest = blob.Digest, BlobPath = blob.Path }
                : l).ToArray(),
        };
    }

    /// <summary>What the store records, optionally of one source.</summary>
    public static IReadOnlyList<Image> ListInstalled(FlyStore store, string? sourceUri) => new ImageRepository(store).List(sourceUri);

    /// <summary>The error for a name that matched nothing.</summary>
    public static FlyException NotFound(string name, string where)
        => new(ErrorIds.ImageNotFound, FlyErrorCategory.ObjectNotFound, $"No image named '{ImageLayout.Show(name)}' in {where}.", name)
        {
            RecommendedAction = "Run Get-FlyImage without -Name to see what the source offers.",
        };
}
