using System.Management.Automation;
using FlyImages.Cmdlets.Infrastructure;
using FlyImages.Errors;
using System.Collections;
using System.Collections.ObjectModel;
using System.Globalization;
using System.Reflection;
using FlyImages.Unpacking;

namespace FlyImages.Cmdlets;

/// <summary>
/// <para type="synopsis">Applies image layers (tar, tar.gz, tar.zst, tar.bz2) onto a folder, safely.</para>
/// <para type="description">Layers are applied in the order given with OCI semantics (whiteouts, opaque
/// folders, hard links, symlinks, owners, modes, xattrs), through the same engine Install-FlyImage uses; the format
/// is detected from the bytes, not the file name. Use it to inspect a suspicious blob, or to build a root filesystem
/// in a plain folder.</para>
/// <para type="description">Layers are treated as hostile: nothing is ever written, linked, chmod'ed or deleted outside the
/// destination, devices are not created (they are skipped and counted), and limits bound size, entries and time
/// (-Limits). A layer that breaks a rule stops the command with a terminating error whose id names the rule
/// (LayerRejectedTraversal, LayerRejectedName, LayerRejectedLink, LayerRejectedConflict, LayerRejectedLimit,
/// LayerFormatUnsupported, LayerFormatInvalid, LayerTruncated, LayerEmpty, LayerNotFound, LayerApplyFailed,
/// LayerDestinationInvalid; LayerLimitsInvalid for a bad -Limits): later layers build on it, so none is applied after
/// it. Outputs one summary per layer (entries, bytes, whiteouts, skipped entries and why, duration).</para>
/// </summary>
/// <example>
/// <code>Expand-FlyLayer ./golang/1.tar, ./golang/2.tar -Destination ./rootfs</code>
/// <para>Applies two layers, in that order, onto ./rootfs (created when missing), and writes a summary of each.</para>
/// </example>
/// <example>
/// <code>Get-ChildItem ./suspect/*.tar.gz | Expand-FlyLayer -Destination /tmp/inspect -Limits @{ MaxTotalBytes = 2GB; MaxWallTime = '00:05:00' }</code>
/// <para>Files bind by property name (FullName). Each layer may write at most 2 GB and take at most five minutes;
/// a layer over a limit stops the command with LayerRejectedLimit, naming the limit.</para>
/// </example>
/// <example>
/// <code>Save-FlyImage node -PassThru | ForEach-Object Layers | Expand-FlyLayer -Destination /tmp/node-root</code>
/// <para>Unpacks the stored blobs of an image into a folder: layers bind their BlobPath by property name and come in
/// layer order.</para>
/// </example>
/// <example>
/// <code>Expand-FlyLayer -LiteralPath './odd[name].tar' -Destination ./out -WhatIf</code>
/// <para>-LiteralPath takes the name as typed (no wildcards); -WhatIf says which layer would be applied where, and
/// applies nothing.</para>
/// </example>
/// <seealso cref="SaveFlyImageCommand"/>
/// <seealso cref="InstallFlyImageCommand"/>
[Cmdlet(VerbsData.Expand, "FlyLayer", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = PathParameterSet)]
[OutputType(typeof(LayerApplyResult))]
public sealed class ExpandFlyLayerCommand : FlyCmdlet
{
    public const string PathParameterSet = "Path";
    public const string LiteralPathParameterSet = "LiteralPath";

    private UnpackLimits? limits;

    /// <summary>
    /// Layer files, applied in the order given. Wildcards are expanded (in the provider's order); a pattern that
    /// matches nothing is LayerNotFound. Binds from the pipeline by value, or by property name (FullName, BlobPath:
    /// files from Get-ChildItem, layers from Save-FlyImage -PassThru).
    /// </summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathParameterSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "BlobPath")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    /// <summary>
    /// Layer files, used exactly as typed (no wildcards), applied in the order given. Binds PSPath from piped files.
    /// </summary>
    [Parameter(Mandatory = true, ParameterSetName = LiteralPathParameterSet, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")]
    [ValidateNotNullOrEmpty]
    public string[] LiteralPath { get; set; } = [];

    /// <summary>
    /// The folder the layers are applied onto; created when missing. Nothing is ever written outside it.
    /// </summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string Destination { get; set; } = string.Empty;

    /// <summary>
    /// Limits for each layer, as a hashtable of unpack limit names: MaxTotalBytes, MaxFileSize, MaxEntries,
    /// MaxPathLength, MaxPathDepth, MaxLinkTargetLength, MaxCompressionRatio, CompressionRatioGraceBytes,
    /// MaxXattrsPerEntry, MaxXattrValueSize, MaxExtendedHeaderSize, MaxWallTime, MaxSkippedListed, e.g. -Limits @{
    /// MaxTotalBytes = 2GB; MaxWallTime = '00:10:00' }. Unnamed limits keep their defaults (those Install-FlyImage
    /// uses); an unknown name or a bad value is LayerLimitsInvalid.
    /// </summary>
    [Parameter]
    [ValidateNotNull]
    public Hashtable? Limits { get; set; }

    protected override void BeginProcessing()
    {
        base.BeginProcessing();
        limits = ToLimits(Limits);
    }

    protected override void ProcessRecord()
    {
        var destination = GetUnresolvedProviderPathFromPSPath(Destination);
        foreach (var layer in ResolveLayers())
        {
            if (!ShouldProcess(destination, $"Apply layer '{layer}'"))
            {
                continue;
            }

            LayerApplyResult result;
            try
            {
                result = RunCore(context => LayerUnpacker.ApplyAsync(layer, destination, limits, context, context.CancellationToken));
            }
            catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
            {
                throw new PipelineStoppedException();
            }
            catch (Exception e) when (e is FlyException or IOException or UnauthorizedAccessException)
            {
                // later layers build on this one: a rejected layer stops the whole command
                ThrowFlyError(e, layer);
                return;
            }

            WriteObject(result);
        }
    }

    /// <summary>
    /// Builds the limits from the hashtable (a hashtable because scripts cannot name core types: the
    /// core lives in the module's own load context).
    /// </summary>
    private UnpackLimits? ToLimits(Hashtable? table)
    {
        if (table is null)
        {
            return null;
        }

        var result = new UnpackLimits();
        foreach (DictionaryEntry pair in table)
        {
            var name = pair.Key?.ToString() ?? string.Empty;
            var property = typeof(UnpackLimits).GetProperty(name, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
            if (property is null || !property.CanWrite)
            {
                ThrowFlyError(new FlyException(ErrorIds.LayerLimitsInvalid, FlyErrorCategory.InvalidArgument,
                    $"'{name}' is not an unpack limit. Limits: {string.Join(", ", typeof(UnpackLimits).GetProperties().Where(p => p.CanWrite).Select(p => p.Name))}.", name));
                return null;
            }

            try
            {
                // init-only setters are ordinary setters to reflection: fill a fresh instance
                property.SetValue(result, LanguagePrimitives.ConvertTo(pair.Value, property.PropertyType, CultureInfo.InvariantCulture));
            }
            catch (PSInvalidCastException e)
            {
                ThrowFlyError(new FlyException(ErrorIds.LayerLimitsInvalid, FlyErrorCategory.InvalidArgument,
                    $"The limit {property.Name} must be a {property.PropertyType.Name}: {e.Message}", name, e));
            }
        }

        try
        {
            result.Validate();
        }
        catch (ArgumentException e)
        {
            ThrowFlyError(new FlyException(ErrorIds.LayerLimitsInvalid, FlyErrorCategory.InvalidArgument, e.Message, table, e));
        }

        return result;
    }

    private IEnumerable<string> ResolveLayers()
    {
        if (ParameterSetName == LiteralPathParameterSet)
        {
            foreach (var literal in LiteralPath)
            {
                yield return GetUnresolvedProviderPathFromPSPath(literal);
            }

            yield break;
        }

        foreach (var pattern in Path)
        {
            if (!WildcardPattern.ContainsWildcardCharacters(pattern))
            {
                yield return GetUnresolvedProviderPathFromPSPath(pattern);
                continue;
            }

            Collection<string> resolved;
            try
            {
                resolved = GetResolvedProviderPathFromPSPath(pattern, out _);
            }
            catch (ItemNotFoundException e)
            {
                ThrowFlyError(new FlyException(ErrorIds.LayerNotFound, FlyErrorCategory.ObjectNotFound, e.Message, pattern, e), pattern);
                yield break;
            }

            foreach (var path in resolved)
            {
                yield return path;
            }
        }
    }
}
