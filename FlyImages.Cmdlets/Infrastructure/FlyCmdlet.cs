using System.Collections.Concurrent;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;
using FlyImages.Configuration;
using FlyImages.Errors;
using FlyImages.Operations;

namespace FlyImages.Cmdlets.Infrastructure;

/// <summary>
/// Base of every FlyImages cmdlet. Core work runs on a worker thread; everything it reports
/// (progress, verbose, warnings, ShouldProcess questions) is queued and performed here, on the
/// pipeline thread, which waits in short slices so Ctrl+C (StopProcessing) cancels promptly.
/// </summary>
public abstract class FlyCmdlet : PSCmdlet
{
    private readonly CancellationTokenSource stopping = new();
    private FlyImages.State.FlyStore? existingStore;
    private bool existingStoreOpened;

    /// <summary>
    /// The store folder: the SQLite database (flyimages.db), the content store (blobs/) and the thin pools (pools/).
    /// Default: the FLYIMAGES_HOME environment variable, else /var/lib/flyimages for root, else
    /// $XDG_DATA_HOME/flyimages (~/.local/share/flyimages). Cmdlets that only read never create a store.
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? StorePath { get; set; }

    /// <summary>Cancelled when the user presses Ctrl+C or the pipeline is stopped.</summary>
    protected CancellationToken StopToken => stopping.Token;

    /// <summary>The store folder this invocation uses.</summary>
    protected string ResolvedStorePath => FlyEnvironment.ResolveStorePath(StorePath is null ? null : GetUnresolvedProviderPathFromPSPath(StorePath));

    protected override void StopProcessing() => stopping.Cancel();

    /// <summary>
    /// The progress activity ids of this runspace: every bar of every FlyImages cmdlet in it (a listing piped into
    /// installs, each install's bars) takes its own id from this one allocator.
    /// </summary>
    protected ActivityIds ProgressIds
        => Runspace.DefaultRunspace is { } runspace ? RunspaceActivityIds.GetValue(runspace, _ => new ActivityIds()) : ActivityIds.Shared;

    private static readonly ConditionalWeakTable<Runspace, ActivityIds> RunspaceActivityIds = new();

    /// <summary>
    /// The store at <see cref="ResolvedStorePath"/> if it exists, opened once per invocation; null when there is
    /// none (reading cmdlets never create one).
    /// </summary>
    protected FlyImages.State.FlyStore? ExistingStore()
    {
        if (!existingStoreOpened)
        {
            existingStore = FlyImages.State.FlyStore.OpenExisting(ResolvedStorePath);
            existingStoreOpened = true;
        }

        return existingStore;
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a worker thread and pumps its requests on the pipeline thread.
    /// Returns its result; rethrows its exception (cancellation included) here.
    /// </summary>
    protected T RunCore<T>(Func<IOperationContext, Task<T>> work)
    {
        using var context = new PumpedContext(this, stopping.Token);
        var task = Task.Run(() => work(context), stopping.Token);
        context.PumpUntil(task);
        return task.GetAwaiter().GetResult();
    }

    protected void RunCore(Func<IOperationContext, Task> work) => RunCore<object?>(async c =>
    {
        await work(c).ConfigureAwait(false);
        return null;
    });

    /// <summary>
    /// ShouldProcess, except that <paramref name="force"/> skips the confirmation prompt (never -WhatIf):
    /// -Force on a ConfirmImpact High cmdlet is how scripts say "I mean it".
    /// </summary>
    protected bool ShouldProcessUnlessForced(bool force, string target, string action)
    {
        var whatIf = MyInvocation.BoundParameters.TryGetValue("WhatIf", out var w) ? ((SwitchParameter)w).IsPresent
            : SessionState.PSVariable.GetValue("WhatIfPreference") is { } pref && LanguagePrimitives.IsTrue(pref);
        var confirm = MyInvocation.BoundParameters.TryGetValue("Confirm", out var c) && ((SwitchParameter)c).IsPresent;
        return force && !whatIf && !confirm || ShouldProcess(target, action);
    }

    /// <summary>Writes a non-terminating error for <paramref name="exception"/>.</summary>
    protected void WriteFlyError(Exception exception, object? target = null) => WriteError(ErrorMapping.ToErrorRecord(exception, target));

    /// <summary>Stops the pipeline with a terminating error for <paramref name="exception"/>.</summary>
    protected void ThrowFlyError(Exception exception, object? target = null) => ThrowTerminatingError(ErrorMapping.ToErrorRecord(exception, target));

    /// <summary>
    /// Runs <paramref name="action"/>; an expected failure becomes a non-terminating error (the
    /// pipeline goes on with the next item), cancellation stops the pipeline.
    /// Returns false when it failed.
    /// </summary>
    protected bool TryPerItem(Action action, object? target = null)
    {
        try
        {
            action();
            return true;
        }
        catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception e) when (e is FlyException or AggregateException or IOException or UnauthorizedAccessException)
        {
            WriteFlyError(e, target);
            return false;
        }
    }

    private sealed class PumpedContext : IOperationContext, IDisposable
    {
        private readonly FlyCmdlet cmdlet;
        private readonly BlockingCollection<Action> queue = new();
        private readonly int pipelineThreadId = Environment.CurrentManagedThreadId;

        public PumpedContext(FlyCmdlet cmdlet, CancellationToken token)
        {
            this.cmdlet = cmdlet;
            CancellationToken = token;
            ActivityIds = cmdlet.ProgressIds;
        }

        public CancellationToken CancellationToken { get; }

        public ActivityIds ActivityIds { get; }

        public void WriteProgress(ProgressReport report) => Post(() =>
        {
            var record = new ProgressRecord(report.ActivityId, report.Activity, string.IsNullOrEmpty(report.Status) ? report.Activity : report.Status)
            {
                PercentComplete = Math.Clamp(report.PercentComplete, -1, 100),
                SecondsRemaining = report.SecondsRemaining,
                CurrentOperation = report.CurrentOperation,
                ParentActivityId = report.ParentActivityId,
                RecordType = report.Completed ? ProgressRecordType.Completed : ProgressRecordType.Processing,
            };
            cmdlet.WriteProgress(record);
        });

        public void WriteVerbose(string message) => Post(() => cmdlet.WriteVerbose(message));

        public void WriteWarning(string message) => Post(() => cmdlet.WriteWarning(message));

        public void WriteDebug(string message) => Post(() => cmdlet.WriteDebug(message));

        public bool ShouldProcess(string target, string action)
        {
            if (Environment.CurrentManagedThreadId == pipelineThreadId)
            {
                return cmdlet.ShouldProcess(target, action);
            }

            var answer = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            Post(() =>
            {
                try
                {
                    answer.TrySetResult(cmdlet.ShouldProcess(target, action));
                }
                catch (Exception e)
                {
                    answer.TrySetException(e);
                    throw;
                }
            });
            using var registration = CancellationToken.Register(() => answer.TrySetCanceled());
            return answer.Task.GetAwaiter().GetResult();
        }

        /// <summary>Performs queued actions until <paramref name="task"/> ends, then the rest.</summary>
        public void PumpUntil(Task task)
        {
            // The end of the work wakes the loop at once: waiting for the next poll cost up to 50 ms a call (most
            // of a New-FlyThinSnapshot). The poll stays as a fallback, for a wake-up that found the queue closed.
            task.ContinueWith(static (_, state) => ((PumpedContext)state!).Post(static () => { }), this,
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            while (!task.IsCompleted)
            {
                if (queue.TryTake(out var action, 250))
                {
                    action();
                }
            }

            while (queue.TryTake(out var action))
            {
                action();
            }
        }

        public void Dispose() => queue.Dispose();

        private void Post(Action action)
        {
            if (Environment.CurrentManagedThreadId == pipelineThreadId)
            {
                action();
                return;
            }

            try
            {
                queue.Add(action);
            }
            catch (ObjectDisposedException)
            {
                // the cmdlet is gone; a late report has nowhere to go
            }
            catch (InvalidOperationException)
            {
            }
        }
    }
}
