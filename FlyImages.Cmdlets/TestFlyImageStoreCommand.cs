using System.Diagnostics;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using FlyImages.Cmdlets.Infrastructure;
using FlyImages.Errors;
using FlyImages.Health;

namespace FlyImages.Cmdlets;

/// <summary>
/// <para type="synopsis">Smoke-tests a store in the style of Test-Connection: one result object per check, or one Boolean with -Quiet.</para>
/// <para type="description">Runs the built-in health checks of the store, in this order: Database (PRAGMA quick_check; with -Deep
/// integrity_check), Blobs (every recorded blob present with its size; with -Deep re-hashed), ChainDevices (every Ready image's
/// layer chains Sealed and their devices present), SnapshotDevices (every Active snapshot's device and block device present),
/// Pools (present, read-write, writable, above their free-space floor), Source (the source answers a listing; only with -Source),
/// Leaks (no mount or loop device of this store left by a process that is gone) and Leases (no lease held by a dead owner).
/// Then the script checks of -CheckPath.</para>
/// <para type="description">Each result says Check, Passed, Status (Passed, Failed, Skipped), Message, Duration, ComputerName,
/// Timestamp and Iteration. A failed check is a result, not an error. -Count runs the checks that many times, -Repeat every
/// -Delay seconds until Ctrl+C (which ends it at once); -MetricsPath writes the store's metrics (Prometheus text format, with
/// the time of the last passing round) into a node_exporter textfile-collector folder after every round.</para>
/// <para type="description">Checks read the store; the Pools check writes and deletes a probe file in each block-file pool,
/// and a passing round records its time in the store for the metrics.</para>
/// </summary>
/// <example>
/// <code>Test-FlyImageStore</code>
/// <para>Runs every built-in check once and shows one row per check.</para>
/// </example>
/// <example>
/// <code>if (-not (Test-FlyImageStore -Quiet)) { Test-FlyImageStore | Where-Object { -not $_.Passed } }</code>
/// <para>A runbook gate: -Quiet answers one Boolean; when false, the failed checks say what is wrong.</para>
/// </example>
/// <example>
/// <code>Test-FlyImageStore -Repeat -Delay 60 -MetricsPath /var/lib/prometheus/node-exporter -Quiet</code>
/// <para>Checks every minute until Ctrl+C and keeps the metrics file of node_exporter's textfile collector current.</para>
/// </example>
/// <example>
/// <code>Test-FlyImageStore -Deep -Source s3://my-bucket/images -Endpoint http://10.0.0.5:9000 -CheckPath /etc/flyimages/checks</code>
/// <para>Re-hashes every blob, runs integrity_check, checks that the source answers, and runs the site's own *.ps1 checks.</para>
/// </example>
/// <seealso cref="GetFlyHostCommand"/>
/// <seealso cref="ExportFlyMetricsCommand"/>
[Cmdlet(VerbsDiagnostic.Test, "FlyImageStore", DefaultParameterSetName = CountSet)]
[OutputType(typeof(StoreCheckResult), typeof(bool))]
public sealed class TestFlyImageStoreCommand : SourceCmdlet
{
    private const string CountSet = "Count";
    private const string RepeatSet = "Repeat";

    /// <summary>Re-hash every blob (sha256) and run PRAGMA integrity_check instead of quick_check. Default: off (sizes only).</summary>
    [Parameter]
    public SwitchParameter Deep { get; set; }

    /// <summary>
    /// Folders of script checks: every *.ps1 in them (not recursive, in name order) runs after the built-ins, with the store
    /// path as its first argument, and returns objects with Check, Passed (or Status: Passed, Failed, Skipped) and Message.
    /// A script that throws is a failed check named after its file. Default: none.
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? CheckPath { get; set; }

    /// <summary>How many rounds of checks to run, -Delay seconds apart. Default: 1.</summary>
    [Parameter(ParameterSetName = CountSet)]
    [ValidateRange(1, int.MaxValue)]
    public int Count { get; set; } = 1;

    /// <summary>Run rounds of checks every -Delay seconds until Ctrl+C.</summary>
    [Parameter(Mandatory = true, ParameterSetName = RepeatSet)]
    public SwitchParameter Repeat { get; set; }

    /// <summary>Seconds between the start of one round and the next (1 to 86400). Default: 10.</summary>
    [Parameter]
    [ValidateRange(1, 86400)]
    public int Delay { get; set; } = 10;

    /// <summary>Output only a Boolean: whether every check of the round passed (one per round with -Repeat, else one in all).</summary>
    [Parameter]
    public SwitchParameter Quiet { get; set; }

    /// <summary>
    /// A node_exporter textfile-collector folder: after every round the store's metrics (flyimages_*.prom) are written there
    /// atomically (a temporary file in the folder, then renamed). Default: none.
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? MetricsPath { get; set; }

    protected override void EndProcessing()
    {
        var scripts = ScriptChecks();
        var options = new StoreCheckOptions
        {
            Deep = Deep.IsPresent,
            Source = MyInvocation.BoundParameters.ContainsKey(nameof(Source)) ? BuildSourceOptions() : null,
        };
        var allPassed = true;
        for (var iteration = 1; Repeat.IsPresent || iteration <= Count; iteration++)
        {
            var started = Stopwatch.StartNew();
            var passed = RunRound(iteration, options, scripts);
            allPassed &= passed;
            if (Quiet.IsPresent && Repeat.IsPresent)
            {
                WriteObject(passed);
            }

            if (!Repeat.IsPresent && iteration == Count)
            {
                break;
            }

            // wait on the cancellation token: Ctrl+C ends the wait at once
            var wait = TimeSpan.FromSeconds(Delay) - started.Elapsed;
            if (wait > TimeSpan.Zero && StopToken.WaitHandle.WaitOne(wait))
            {
                throw new PipelineStoppedException();
            }

            if (StopToken.IsCancellationRequested)
            {
                throw new PipelineStoppedException();
            }
        }

        if (Quiet.IsPresent && !Repeat.IsPresent)
        {
            WriteObject(allPassed);
        }
    }

    private bool RunRound(int iteration, StoreCheckOptions options, IReadOnlyList<string> scripts)
    {
        var storePath = ResolvedStorePath;
        var store = StoreHealth.OpenForCheck(storePath);
        var passed = true;
        foreach (var check in StoreHealth.BuiltIn)
        {
            StoreCheckResult result;
            try
            {
                result = RunCore(context => StoreHealth.RunAsync(check, new StoreCheckContext(storePath, store, options, context), iteration));
            }
            catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
            {
                throw new PipelineStoppedException();
            }

            passed &= Emit(result);
        }

        foreach (var script in scripts)
        {
            foreach (var result in RunScript(script, storePath, iteration))
            {
                passed &= Emit(result);
            }
        }

        if (passed)
        {
            StoreHealth.RecordPass(store, DateTimeOffset.UtcNow);
        }

        if (MetricsPath is not null && store is not null)
        {
            var folder = GetUnresolvedProviderPathFromPSPath(MetricsPath);
            TryPerItem(() => RunCore(context => Metrics.MetricsExporter.WriteAsync(store, folder, context)), folder);
        }

        return passed;
    }

    private bool Emit(StoreCheckResult result)
    {
        if (!Quiet.IsPresent)
        {
            WriteObject(result);
        }

        WriteVerbose($"{result.Check}: {result.Status}: {result.Message}");
        return result.Passed;
    }

    private List<string> ScriptChecks()
    {
        var scripts = new List<string>();
        foreach (var path in CheckPath ?? [])
        {
            var folder = GetUnresolvedProviderPathFromPSPath(path);
            if (!Directory.Exists(folder))
            {
                ThrowFlyError(new FlyException(ErrorIds.HealthCheckPathNotFound, FlyErrorCategory.ObjectNotFound, $"The check folder '{folder}' does not exist.", folder)
                {
                    RecommendedAction = "Pass -CheckPath a folder of *.ps1 check scripts.",
                }, folder);
            }

            scripts.AddRange(Directory.GetFiles(folder, "*.ps1").Order(StringComparer.Ordinal));
        }

        return scripts;
    }

    private List<StoreCheckResult> RunScript(string script, string storePath, int iteration)
    {
        var name = Path.GetFileNameWithoutExtension(script);
        var clock = Stopwatch.StartNew();
        var results = new List<StoreCheckResult>();
        try
        {
            var output = InvokeCommand.InvokeScript("param($__flyScript, $__flyStore) & $__flyScript $__flyStore", true, PipelineResultTypes.None, null, script, storePath);
            foreach (var item in output)
            {
                results.Add(ScriptResults.From(item, name, clock.Elapsed, iteration, storePath));
            }

            if (results.Count == 0)
            {
                results.Add(ScriptResults.Failed(name, $"The check script '{script}' returned nothing.", clock.Elapsed, iteration, storePath));
            }
        }
        catch (PipelineStoppedException)
        {
            throw;
        }
        catch (RuntimeException e)
        {
            WriteError(new ErrorRecord(e, ErrorIds.HealthCheckScriptFailed, ErrorCategory.InvalidResult, script));
            results.Add(ScriptResults.Failed(name, $"The check script '{script}' failed: {e.Message}", clock.Elapsed, iteration, storePath));
        }

        return results;
    }
}
