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
    public static async Task<IReadOnlyList<Image>> ListAsync(IImageSource source, FlyStore? store, IOperationContext context)
    {
        var objects = new List<SourceObject>();
        await foreach (var o in source.ListAsync(context.CancellationToken).ConfigureAwait(false))
        {
            objects.Add(o);
            if (objects.Count % 1000 == 0)
            {
                context.WriteProgress(new ProgressReport(1, $"Listing {source.Spec.Uri}", $"{objects.Count} keys"));
            }
        }

        context.WriteProgress(new ProgressReport(1, $"Listing {source.Spec.Uri}", "done", Completed: true));
        var images = ImageLayout.BuildImages(source.Spec.Uri, objects, context.WriteWarning);
        if (store is not null)
        {
            var recorded = new ImageRepository(store).List(source.Spec.Uri).ToDictionary(i => i.Name, StringComparer.Ordinal);
            foreach (var image in images)
            {
                if (image.IsValid && recorded.TryGetValue(image.Name, out var known) && ImageLayers.Same(image, known))
                {
                    image.State = known.State;
                    image.StateDetail = known.StateDetail;
                    image.UpdatedAt = known.UpdatedAt;
                    for (var i = 0; i < image.Layers.Count; i++)
                    {
                        image.Layers[i].Digest = known.Layers[i].Digest;
                        image.Layers[i].BlobPath = known.Layers[i].BlobPath;
                    }
                }
            }

            // layers already in the content store (fetched for this or any image) show their digest and blob
            var content = new Content.ContentStore(store);
            foreach (var image in images.Where(i => i.IsValid))
            {
                foreach (var layer in image.Layers.Where(l => l.BlobPath is null))
                {
                    if (content.TryGetBlob(image.Source, layer) is { } blob)
                    {
                        layer.Digest = blob.Digest;
                        layer.BlobPath = blob.Path;
                    }
                }
            }
        }

        return images;
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
