using FlyImages.Model;
using FlyImages.Operations;

namespace FlyImages.Workflows;

/// <summary>
/// The work an install is made of. The workflow decides WHEN each step runs, persists what it
/// produced and never runs a completed step again; the implementation (content store, unpacker,
/// thin pools) does the work. Every step must be idempotent: after a crash it may be asked again
/// for work it finished but had not yet recorded.
/// Errors: a <see cref="Errors.FlyException"/> with category InvalidData or SecurityError means the
/// input is hostile or invalid (the image becomes Rejected, never retried unless forced); transient
/// ones (connection, timeout, busy, IOException) are retried with backoff; anything else fails the
/// attempt (Failed, retried by the next install).
/// </summary>
public interface IInstallSteps
{
    /// <summary>The image's current layer list from its source (Resolving).</summary>
    Task<Image> ResolveAsync(Image image, StepContext context);

    /// <summary>Puts <paramref name="layer"/>'s blob in the content store, verified (a present blob is not downloaded again).</summary>
    Task<FetchedLayer> FetchAsync(Image image, Layer layer, StepContext context);

    /// <summary>
    /// Makes the chain's device: create-thin + mkfs for the base chain, else a snapshot of
    /// <see cref="ChainPlan.ParentDevice"/>. Returns the device reference recorded for the chain.
    /// </summary>
    Task<string> CreateChainDeviceAsync(ChainPlan chain, StepContext context);

    /// <summary>Mounts <paramref name="device"/>, applies the chain's layer blob, unmounts.</summary>
    Task ApplyLayerAsync(ChainPlan chain, string device, StepContext context);

    /// <summary>Makes the device final (read-only, synced). Idempotent.</summary>
    Task SealChainAsync(ChainPlan chain, string device, StepContext context);

    /// <summary>
    /// Compensation: deletes a half-made chain device (unmounting it first if needed). <paramref name="device"/>
    /// is null when the crash came before the device was recorded: find it from the chain id. Succeeds
    /// when there is nothing to delete.
    /// </summary>
    Task DiscardChainDeviceAsync(ChainPlan chain, string? device, StepContext context);
}

/// <summary>A fetched, verified blob: its digest (sha256:...) and path in the content store.</summary>
public sealed record FetchedLayer(string Digest, string BlobPath);

/// <summary>What a step runs with: reporting, cancellation (Ctrl+C or lease lost), the run, the attempt.</summary>
public sealed record StepContext
{
    private readonly IOperationContext caller;

    public StepContext(IOperationContext operation, CancellationToken cancellationToken, string runId, int attempt = 1)
    {
        ArgumentNullException.ThrowIfNull(operation);
        caller = operation;
        CancellationToken = cancellationToken;
        RunId = runId;
        Attempt = attempt;
    }

    /// <summary>
    /// The caller's reporting and ShouldProcess, cancelled by <see cref="CancellationToken"/>: hand this to
    /// the work a step does (pools, content store), one channel for both.
    /// </summary>
    public IOperationContext Operation => caller.WithCancellation(CancellationToken);

    /// <summary>Cancelled on Ctrl+C or when the run's lease is lost.</summary>
    public CancellationToken CancellationToken { get; init; }

    public string RunId { get; init; }

    public int Attempt { get; init; }
}
