using FlyImages.Errors;
using FlyImages.Operations;

namespace FlyImages.Unpacking;

/// <summary>
/// Applies OCI/Docker image layers (tar, optionally gzip/zstd/bzip2-compressed) onto a folder, the
/// security boundary of FlyImages: the layer is hostile. Nothing is written, linked, chmod'ed,
/// chown'ed or deleted outside <c>destinationRoot</c>; limits bound bytes, entries, names, time and
/// decompression; a layer that breaks a rule is rejected with a <see cref="FlyException"/> naming the
/// entry and the rule (ids in <see cref="ErrorIds"/>: LayerRejected*, LayerFormat*, LayerTruncated...).
/// A rejected layer may have been partly applied: discard the destination.
/// </summary>
public static class LayerUnpacker
{
    /// <summary>Applies the layer file at <paramref name="layerPath"/> onto <paramref name="destinationRoot"/> (created if missing).</summary>
    public static Task<LayerApplyResult> ApplyAsync(string layerPath, string destinationRoot, UnpackLimits? limits = null,
        IOperationContext? context = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(layerPath);
        ArgumentException.ThrowIfNullOrEmpty(destinationRoot);
        return Task.Run(() => Apply(layerPath, destinationRoot, limits, context, cancellationToken), cancellationToken);
    }

    /// <summary>Applies the layer read from <paramref name="layer"/> (not closed) onto <paramref name="destinationRoot"/>.</summary>
    public static Task<LayerApplyResult> ApplyAsync(Stream layer, string destinationRoot, UnpackLimits? limits = null,
        IOperationContext? context = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentException.ThrowIfNullOrEmpty(destinationRoot);
        return Task.Run(() => Apply(layer, destinationRoot, limits, context, cancellationToken), cancellationToken);
    }

    /// <summary>Synchronous form of <see cref="ApplyAsync(string, string, UnpackLimits?, IOperationContext?, CancellationToken)"/>.</summary>
    public static LayerApplyResult Apply(string layerPath, string destinationRoot, UnpackLimits? limits = null,
        IOperationContext? context = null, CancellationToken cancellationToken = default)
    {
        FileStream stream;
        try
        {
            if (Directory.Exists(layerPath))
            {
                throw new FlyException(ErrorIds.LayerNotFound, FlyErrorCategory.InvalidArgument, $"The layer path '{layerPath}' is a folder, not a layer file.", layerPath);
            }

            stream = new FileStream(layerPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new FlyException(ErrorIds.LayerNotFound, FlyErrorCategory.ObjectNotFound, $"The layer file '{layerPath}' does not exist.", layerPath, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FlyException(ErrorIds.LayerNotFound, FlyErrorCategory.ReadError, $"The layer file '{layerPath}' cannot be read: {e.Message}", layerPath, e);
        }

        using (stream)
        {
            var length = stream.CanSeek ? stream.Length : -1;
            return Run(stream, length, layerPath, destinationRoot, limits, context, cancellationToken);
        }
    }

    /// <summary>Synchronous form of <see cref="ApplyAsync(Stream, string, UnpackLimits?, IOperationContext?, CancellationToken)"/>.</summary>
    public static LayerApplyResult Apply(Stream layer, string destinationRoot, UnpackLimits? limits = null,
        IOperationContext? context = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(layer);
        long length = -1;
        try
        {
            length = layer.CanSeek ? layer.Length - layer.Position : -1;
        }
        catch (NotSupportedException)
        {
        }

        return Run(layer, length, null, destinationRoot, limits, context, cancellationToken);
    }

    private static LayerApplyResult Run(Stream input, long length, string? path, string destinationRoot, UnpackLimits? limits,
        IOperationContext? context, CancellationToken cancellationToken)
    {
        limits ??= UnpackLimits.Default;
        limits.Validate();
        context ??= NullOperationContext.Instance;
        var destination = Path.GetFullPath(destinationRoot);
        if (destination.TrimEnd('/').Length == 0)
        {
            throw new FlyException(ErrorIds.LayerDestinationInvalid, FlyErrorCategory.InvalidArgument,
                "The destination is the host's root folder '/': layers are applied onto a folder or a mounted device of their own.", destination);
        }

        try
        {
            Directory.CreateDirectory(destination);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FlyException(ErrorIds.LayerDestinationInvalid, FlyErrorCategory.InvalidArgument,
                $"The destination '{destination}' is not a usable folder: {e.Message}", destination, e);
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, context.CancellationToken);
        using var application = new LayerApplication(input, length, path, destination, limits, context, linked.Token);
        return application.Run();
    }
}
