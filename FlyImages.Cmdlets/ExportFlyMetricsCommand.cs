using System.Management.Automation;
using FlyImages.Cmdlets.Infrastructure;
using FlyImages.Errors;
using FlyImages.Metrics;

namespace FlyImages.Cmdlets;

/// <summary>
/// <para type="synopsis">Writes the store's metrics in the Prometheus text format into a node_exporter textfile-collector folder.</para>
/// <para type="description">Writes &lt;Path&gt;/flyimages.prom atomically (a temporary file in the same folder, then renamed), so
/// node_exporter started with --collector.textfile.directory=&lt;Path&gt; serves them on its /metrics. Every series is named
/// flyimages_*, has a stable HELP and TYPE, and carries no timestamp: images by state, layer chains by state and their device
/// bytes, blobs (count and bytes), bytes fetched, pool data and metadata use, install and snapshot durations (histograms from
/// the workflow journal), failures by error id, and the time Test-FlyImageStore last passed every check.</para>
/// <para type="description">Reads the store only; it never creates one. Outputs the file written (Path, Samples, Bytes,
/// StorePath, ComputerName, WrittenAt).</para>
/// </summary>
/// <example>
/// <code>Export-FlyMetrics -Path /var/lib/prometheus/node-exporter</code>
/// <para>Writes flyimages.prom into the folder Debian's prometheus-node-exporter reads by default.</para>
/// </example>
/// <example>
/// <code>Export-FlyMetrics -Path /tmp/metrics -WhatIf</code>
/// <para>Says which file it would write, and writes nothing.</para>
/// </example>
/// <example>
/// <code>Export-FlyMetrics -Path /var/lib/prometheus/node-exporter -StorePath /srv/flyimages | Select-Object Path, Samples</code>
/// <para>Writes the metrics of another store and shows which file was written and how many samples it holds. To keep the
/// file current from the health checker instead, use Test-FlyImageStore -Repeat -MetricsPath, which also records the time
/// of the last passing round.</para>
/// </example>
/// <seealso cref="TestFlyImageStoreCommand"/>
/// <seealso cref="GetFlyHostCommand"/>
[Cmdlet(VerbsData.Export, "FlyMetrics", SupportsShouldProcess = true)]
[OutputType(typeof(MetricsFile))]
public sealed class ExportFlyMetricsCommand : FlyCmdlet
{
    /// <summary>The textfile-collector folder (it must exist). The file written is flyimages.prom in it.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    protected override void EndProcessing()
    {
        var folder = GetUnresolvedProviderPathFromPSPath(Path);
        var target = System.IO.Path.Combine(folder, MetricsExporter.FileName);
        FlyImages.State.FlyStore? store;
        try
        {
            store = ExistingStore();
        }
        catch (Exception e) when (e is FlyException or IOException or UnauthorizedAccessException)
        {
            ThrowFlyError(e, ResolvedStorePath);
            return;
        }

        if (store is null)
        {
            ThrowFlyError(new FlyException(ErrorIds.StoreUnavailable, FlyErrorCategory.ObjectNotFound, $"There is no store at '{ResolvedStorePath}'.", ResolvedStorePath)
            {
                RecommendedAction = "Pass -StorePath (or set FLYIMAGES_HOME) to the store to describe.",
            }, ResolvedStorePath);
            return;
        }

        if (!ShouldProcess(target, "Write the store's metrics"))
        {
            return;
        }

        TryPerItem(() => WriteObject(RunCore(context => MetricsExporter.WriteAsync(store, folder, context))), target);
    }
}
