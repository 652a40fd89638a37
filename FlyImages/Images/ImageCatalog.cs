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
        if (store is null)
        {
            return images;
        }

        var recorded = new ImageRepository(store).List(source.Spec.Uri).ToDictionary(i => i.Name, StringComparer.Ordinal);
        var content = new Content.ContentStore(store);
        return images.Select(image =>
        {
            if (!image.IsValid)
            {
                return image;
            }

            if (recorded.TryGetValue(image.Name, out var known) && ImageLayers.Same(image, known))
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
        }).ToArray();
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
