using System.Collections.Concurrent;
using FlyImages.Model;
using FlyImages.Operations;

namespace FlyImages.Content;

/// <summary>
/// Progress of a multi-image fetch: one bar per image (layers done, bytes, rate, ETA) with one child bar per
/// active layer. Updates arrive from any thread; bars are written a few times a second from a timer, and
/// every bar that was shown gets a Completed record (on dispose too, so failures and Ctrl+C close them).
/// </summary>
internal sealed class FetchProgressBoard : IDisposable
{
    private readonly IOperationContext context;
    private readonly IReadOnlyList<Image> images;
    private readonly ConcurrentDictionary<(int Slot, int Layer), LayerProgress> layers = new();
    private readonly ConcurrentDictionary<int, bool> shown = new();
    private readonly CancellationTokenSource stop = new();
    private readonly Task loop;
    private readonly object gate = new();

    // every bar's id comes from the context's allocator: (slot, 0) is an image's bar, (slot, n) its layer n's
    private readonly Dictionary<(int Slot, int Layer), int> ids = [];
    private readonly Dictionary<int, (int Slot, int Layer)> bars = [];

    public FetchProgressBoard(IOperationContext context, IReadOnlyList<Image> images, TimeSpan interval)
    {
        this.context = context;
        this.images = images;
        loop = LoopAsync(interval);
    }

    public void Update(int slot, Layer layer, LayerProgress progress) => layers[(slot, layer.Index)] = progress;

    public void Dispose()
    {
        stop.Cancel();
        try
        {
            loop.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
        }

        lock (gate)
        {
            foreach (var id in shown.Keys.OrderByDescending(i => i))
            {
                context.WriteProgress(new ProgressReport(id, Activity(id), "done", Completed: true, ParentActivityId: ParentOf(id)));
            }

            shown.Clear();
        }

        stop.Dispose();
    }

    private async Task LoopAsync(TimeSpan interval)
    {
        try
        {
            // a first frame at once (image bars), then every interval
            await Task.Delay(TimeSpan.FromMilliseconds(50), stop.Token).ConfigureAwait(false);
            while (true)
            {
                Render();
                await Task.Delay(interval, stop.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Render()
    {
        lock (gate)
        {
            for (var slot = 0; slot < images.Count; slot++)
            {
                var image = images[slot];
                var states = image.Layers.Select(l => layers.TryGetValue((slot, l.Index), out var p) ? p : null).ToList();
                if (states.All(s => s is null))
                {
                    continue;
                }

                var total = Math.Max(1, image.Size);
                var doneBytes = states.Sum(s => s is null ? 0 : s.Phase == LayerPhase.Done ? s.TotalBytes : s.BytesDone);
                var doneLayers = states.Count(s => s?.Phase == LayerPhase.Done);
                var rate = states.Where(s => s?.Phase == LayerPhase.Downloading).Sum(s => s!.BytesPerSecond);
                var imageId = IdOf(slot, 0);
                var eta = rate > 0 ? (int)Math.Min(int.MaxValue, (total - doneBytes) / rate) : -1;
                context.WriteProgress(new ProgressReport(imageId, $"Saving image {image.Name}",
                    $"{doneLayers} of {image.Layers.Count} layers, {ByteSize.Format(doneBytes)} of {ByteSize.Format(image.Size)}" + (rate > 0 ? $", {ByteSize.Format((long)rate)}/s" : ""),
                    (int)(doneBytes * 100 / total), eta));
                shown[imageId] = true;
                for (var i = 0; i < image.Layers.Count; i++)
                {
                    var layer = image.Layers[i];
                    var id = IdOf(slot, layer.Index);
                    var s = states[i];
                    if (s is null)
                    {
                        continue;
                    }

                    if (s.Phase is LayerPhase.Done or LayerPhase.Failed)
                    {
                        if (shown.TryRemove(id, out _))
                        {
                            context.WriteProgress(new ProgressReport(id, Activity(id), s.Phase.ToString(), 100, Completed: true, ParentActivityId: imageId));
                        }

                        continue;
                    }

                    var status = s.Phase switch
                    {
                        LayerPhase.Downloading => $"{ByteSize.Format(s.BytesDone)} of {ByteSize.Format(s.TotalBytes)}, {ByteSize.Format((long)s.BytesPerSecond)}/s",
                        LayerPhase.Waiting => "waiting for an identical layer",
                        LayerPhase.Verifying => "re-verifying the stored blob",
                        _ => "checking the store",
                    };
                    var layerEta = s.BytesPerSecond > 0 ? (int)Math.Min(int.MaxValue, (s.TotalBytes - s.BytesDone) / s.BytesPerSecond) : -1;
                    context.WriteProgress(new ProgressReport(id, Activity(id), status, s.TotalBytes == 0 ? 0 : (int)(s.BytesDone * 100 / s.TotalBytes), layerEta, ParentActivityId: imageId));
                    shown[id] = true;
                }
            }
        }
    }

    /// <summary>The bar of (slot, layer): a new id from the context's allocator the first time (called under the gate).</summary>
    private int IdOf(int slot, int layer)
    {
        if (!ids.TryGetValue((slot, layer), out var id))
        {
            ids[(slot, layer)] = id = context.NewActivityId();
            bars[id] = (slot, layer);
        }

        return id;
    }

    private string Activity(int id)
    {
        var (slot, index) = bars.TryGetValue(id, out var bar) ? bar : (-1, 0);
        var image = slot >= 0 && slot < images.Count ? images[slot] : null;
        return image is null ? "Saving" : index == 0 ? $"Saving image {image.Name}" : $"Layer {index} ({image.Layers.FirstOrDefault(l => l.Index == index)?.Key})";
    }

    private int ParentOf(int id) => bars.TryGetValue(id, out var bar) && bar.Layer != 0 ? ids[(bar.Slot, 0)] : -1;
}
