using System.Text;
using FlyImages.Errors;
using FlyImages.Operations;
using FlyImages.State;

namespace FlyImages.Metrics;

/// <summary>Writes the store's metrics into a node_exporter textfile-collector folder, atomically.</summary>
public static class MetricsExporter
{
    /// <summary>The file name the metrics are written to (the textfile collector reads *.prom).</summary>
    public const string FileName = "flyimages.prom";

    /// <summary>
    /// Collects the store's metrics and writes them to <c>&lt;folder&gt;/flyimages.prom</c>: a temporary file in the same
    /// folder (not named *.prom, so the collector never reads it half-written), fsynced, mode 0644, then renamed over the
    /// old file, so a scrape sees the old file or the new one, never a mix.
    /// </summary>
    public static async Task<MetricsFile> WriteAsync(FlyStore store, string folder, IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(context);
        if (string.IsNullOrWhiteSpace(folder) || folder.Any(char.IsControl) || !Directory.Exists(folder))
        {
            throw new FlyException(ErrorIds.MetricsWriteFailed, FlyErrorCategory.ObjectNotFound, $"The metrics folder '{folder}' does not exist.", folder)
            {
                RecommendedAction = "Pass the folder node_exporter reads (its --collector.textfile.directory).",
            };
        }

        var (text, samples) = await StoreMetrics.CollectAsync(store, context).ConfigureAwait(false);
        var target = Path.Combine(Path.GetFullPath(folder), FileName);
        var temp = Path.Combine(Path.GetFullPath(folder), $".{FileName}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        var bytes = Encoding.UTF8.GetBytes(text);
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                // node_exporter runs as its own user: it must be able to read the file
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
            }

            await using (var stream = new FileStream(temp, options))
            {
                await stream.WriteAsync(bytes, context.CancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, target, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            TryDelete(temp);
            if (e is OperationCanceledException)
            {
                throw;
            }

            throw new FlyException(ErrorIds.MetricsWriteFailed, FlyErrorCategory.WriteError, $"The metrics file '{target}' cannot be written: {e.Message}", target, e);
        }

        context.WriteVerbose($"Wrote {samples} samples to {target}.");
        return new MetricsFile { Path = target, Samples = samples, Bytes = bytes.Length, StorePath = store.RootPath };
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // nothing more to do: the temporary name is never read by the collector
        }
    }
}
