using System.Management.Automation;
using FlyImages.Cmdlets.Infrastructure;
using FlyImages.Errors;
using System.Collections.ObjectModel;
using FlyImages.Unpacking;

namespace FlyImages.Cmdlets;

/// <summary>
/// <para type="synopsis">Applies image layers (tar, tar.gz, tar.zst, tar.bz2) onto a folder, safely.</para>
/// <para type="description">Layers are applied in the order given with OCI semantics (whiteouts, opaque
/// folders, hard links, symlinks, owners, modes, xattrs). Layers are treated as hostile: nothing is
/// ever written outside the destination, devices are not created, and limits bound size, entries and
/// time. A layer that breaks a rule stops the command with a terminating error whose id names the rule
/// (LayerRejectedTraversal, LayerRejectedLimit, LayerFormatUnsupported, LayerTruncated...).
/// Outputs one summary per layer.</para>
/// </summary>
[Cmdlet(VerbsData.Expand, "FlyLayer", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = PathParameterSet)]
[OutputType(typeof(LayerApplyResult))]
public sealed class ExpandFlyLayerCommand : FlyCmdlet
{
    public const string PathParameterSet = "Path";
    public const string LiteralPathParameterSet = "LiteralPath";

    /// <summary>
    /// <para type="description">Layer files, applied in order. Wildcards are expanded (sorted by the provider).
    /// Accepts pipeline input, by value or by property name (FullName, BlobPath).</para>
    /// </summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathParameterSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "BlobPath")]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    /// <summary>
    /// <para type="description">Layer files, used exactly as typed (no wildcards). Accepts PSPath from the pipeline.</para>
    /// </summary>
    [Parameter(Mandatory = true, ParameterSetName = LiteralPathParameterSet, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")]
    [ValidateNotNullOrEmpty]
    public string[] LiteralPath { get; set; } = [];

    /// <summary>
    /// <para type="description">The folder the layers are applied onto; created when missing.</para>
    /// </summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string Destination { get; set; } = string.Empty;

    /// <summary>
    /// <para type="description">Limits for each layer (bytes, entries, names, ratio, xattrs, time).
    /// Default: [FlyImages.Unpacking.UnpackLimits]::Default.</para>
    /// </summary>
    [Parameter]
    public UnpackLimits? Limits { get; set; }

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
                result = RunCore(context => LayerUnpacker.ApplyAsync(layer, destination, Limits, context, context.CancellationToken));
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
