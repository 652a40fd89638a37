using FlyImages.Content;
using FlyImages.Errors;
using FlyImages.Model;
using FlyImages.Operations;
using FlyImages.Sources;
using FlyImages.State;

namespace FlyImages.Install;

/// <summary>What fetching one image came to: the image (layers with Digest and BlobPath) or why it failed.</summary>
public sealed record ImageFetchResult(Image Image, FlyException? Error)
{
    public bool Succeeded => Error is null;
}

/// <summary>
/// Brings whole images into the content store: every layer of every image in flight at once (the store
/// bounds how many download), identical layers fetched once, the image recorded with its layer digests
/// (its state through <see cref="Workflows.ImageSaves"/>). Progress: one bar per image with a child bar per layer; every bar
/// gets a Completed record at the end, whatever happens.
/// </summary>
public sealed class ImageFetcher(ContentStore content)
{
    private readonly Workflows.ImageSaves saves = new(content.Store);

    public async Task<IReadOnlyList<ImageFetchResult>> FetchAsync(IImageSource source, IReadOnlyList<Image> toFetch, IOperationContext context, bool force = false)
    {
        ArgumentNullException.ThrowIfNull(source);
        var token = context.CancellationToken;
        using var board = new FetchProgressBoard(context, toFetch, content.Options.ProgressInterval);
        var perImage = new List<Task<ImageFetchResult>>(toFetch.Count);
        for (var i = 0; i < toFetch.Count; i++)
        {
            perImage.Add(FetchImageAsync(source, toFetch[i], i, board, context, force, token));
        }

        try
        {
            await Task.WhenAll(perImage).ConfigureAwait(false);
        }
        catch (Exception) when (perImage.All(t => t.IsCompleted))
        {
            // cancellation and failures are reported per image below
        }

        token.ThrowIfCancellationRequested();
        return perImage.Select(t => t.IsCompletedSuccessfully ? t.Result : new ImageFetchResult(toFetch[perImage.IndexOf(t)], Wrap(t.Exception!.GetBaseException()))).ToList();
    }

    private async Task<ImageFetchResult> FetchImageAsync(IImageSource source, Image image, int slot, FetchProgressBoard board, IOperationContext context, bool force, CancellationToken token)
    {
        await Task.Yield();
        if (!image.IsValid)
        {
            return new ImageFetchResult(image, new FlyException(ErrorIds.ImageInvalid, FlyErrorCategory.InvalidData,
                $"Image '{image.Name}' in {image.Source} is invalid: {string.Join("; ", image.Problems)}.", image.Name));
        }

        // no blob deletion while this image's blobs are looked up, fetched and recorded (ContentGuard)
        using var guard = await ContentGuard.SharedAsync(content.Store.RootPath, token).ConfigureAwait(false);

        var layerTasks = image.Layers.Select(layer => content.FetchLayerAsync(source, layer, context, token, p => board.Update(slot, layer, p), force)).ToList();
        try
        {
            await Task.WhenAll(layerTasks).ConfigureAwait(false);
        }
        catch (Exception) when (layerTasks.All(t => t.IsCompleted))
        {
            var cancelled = token.IsCancellationRequested;
            var first = layerTasks.Where(t => t.IsFaulted).Select(t => t.Exception!.GetBaseException()).FirstOrDefault();
            if (cancelled || first is null)
            {
                throw new OperationCanceledException(token);
            }

            var error = Wrap(first);
            var failedLayers = layerTasks.Count(t => t.IsFaulted);
            image = Keep(image, layerTasks);
            await saves.RecordAsync(image, error).ConfigureAwait(false);
            return new ImageFetchResult(image, failedLayers == 1 ? error : new FlyException(error.ErrorId, error.Category,
                $"{failedLayers} layers of image '{image.Name}' could not be fetched; the first: {error.Message}", image.Name, error) { RecommendedAction = error.RecommendedAction });
        }

        image = Keep(image, layerTasks);
        image = image with { State = await saves.RecordAsync(image, null).ConfigureAwait(false), UpdatedAt = DateTimeOffset.UtcNow };
        var downloaded = layerTasks.Count(t => t.Result.Outcome == FetchOutcome.Downloaded);
        context.WriteVerbose($"Image '{image.Name}': {image.Layers.Count} layers in the store ({downloaded} downloaded, {image.Layers.Count - downloaded} already here or shared).");
        return new ImageFetchResult(image, null);
    }

    /// <summary>The digest and blob of every layer that is in the store.</summary>
    private static Image Keep(Image image, List<Task<BlobInfo>> layerTasks) => image with
    {
        Layers = image.Layers.Select((l, i) => layerTasks[i].IsCompletedSuccessfully
            ? l with { Digest = layerTasks[i].Result.Digest, BlobPath = layerTasks[i].Result.Path }
            : l).ToArray(),
    };

    private static FlyException Wrap(Exception e) => e as FlyException
        ?? new FlyException(ErrorIds.UnexpectedError, FlyErrorCategory.NotSpecified, e.Message, null, e);
}
