using FlyImages.Engine;
using FlyImages.Errors;
using FlyImages.State;
using FlyImages.Workflows;

namespace FlyImages.Health;

/// <summary>Why an image is Failed or Rejected, derived from its install workflow and journal.</summary>
public sealed record ImageFailure
{
    /// <summary>The step (install state) that failed: Resolving, Fetching or Unpacking.</summary>
    public required string Step { get; init; }

    /// <summary>The error id the failure surfaced with, as the journal recorded it (InstallFailed, ImageRejected, PoolFull, ChainWriteFailed).</summary>
    public required string ErrorId { get; init; }

    /// <summary>The error text the journal recorded.</summary>
    public string? Error { get; init; }

    /// <summary>How many runs the install has had (the failed one included).</summary>
    public int Attempts { get; init; }

    /// <summary>When it failed (UTC).</summary>
    public DateTimeOffset FailedAt { get; init; }

    /// <summary>The failed run (for <c>Get-FlyImageEvent -RunId</c>).</summary>
    public required string RunId { get; init; }

    /// <summary>The host whose process recorded the failure.</summary>
    public string? ComputerName { get; init; }

    public override string ToString() => $"{Step}: {ErrorId}";
}

/// <summary>Diagnoses failed installs from the store's workflow records and journal (reads only).</summary>
public static class FailureDiagnosis
{
    /// <summary>The last failure of the install of (<paramref name="source"/>, <paramref name="image"/>), or null when its last run did not fail.</summary>
    public static ImageFailure? Of(FlyStore store, string source, string image)
    {
        ArgumentNullException.ThrowIfNull(store);
        var key = InstallWorkflow.KeyOf(source, image);
        var workflow = new WorkflowRepository(store).Find(WorkflowKinds.InstallImage, key);
        if (workflow is null || workflow.State is not ("Failed" or "Rejected"))
        {
            return null;
        }

        var failure = store.Read((c, t) => c.Query(t, """
            SELECT from_state, to_state, error, at, run_id, host, error_id FROM workflow_journal
            WHERE kind = $k AND key = $key AND to_state IN ('Failed', 'Rejected') ORDER BY id DESC LIMIT 1;
            """, r => new ImageFailure
        {
            Step = r.GetString(0),
            ErrorId = r.GetStringOrNull(6) ?? (r.GetString(1) == "Rejected" ? ErrorIds.ImageRejected : ErrorIds.InstallFailed),
            Error = r.GetStringOrNull(2),
            FailedAt = StoreTime.Parse(r.GetString(3)),
            RunId = r.GetString(4),
            ComputerName = r.GetString(5),
            Attempts = workflow.Attempt,
        }, ("$k", WorkflowKinds.InstallImage), ("$key", key)).FirstOrDefault());
        return failure;
    }
}
