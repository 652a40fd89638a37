using FlyImages.Content;
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

    /// <summary>Whether these steps can apply a layer while its blob downloads (<see cref="StageLayerAsync"/>).</summary>
    bool CanStage => false;

    /// <summary>
    /// <see cref="FetchAsync(Image, Layer, StepContext)"/>, calling <paramref name="onIncoming"/> with a reader of the bytes as they
    /// land when the blob is downloaded here (not when it is present or another fetch brings it).
    /// </summary>
    Task<FetchedLayer> FetchAsync(Image image, Layer layer, StepContext context, Action<IncomingBlob> onIncoming) => FetchAsync(image, layer, context);

    /// <summary>
    /// Makes <paramref name="stage"/>'s device (a snapshot of the parent chain's device, or a fresh ext4 for the base) and applies the
    /// layer onto it from <paramref name="incoming"/> as its bytes land, with every check <see cref="ApplyLayerAsync"/> makes. The bytes are
    /// unverified: the device becomes a chain's (<see cref="AdoptStagedAsync"/>) only once the fetch returns the verified blob.
    /// </summary>
    Task StageLayerAsync(StagedLayer stage, IncomingBlob incoming, StepContext context) => throw new NotSupportedException("these steps do not stage layers");

    /// <summary>Makes a staged device the chain's device (the name the chain's device has); returns that name. Idempotent.</summary>
    Task<string> AdoptStagedAsync(ChainPlan chain, string stagedDevice, StepContext context) => throw new NotSupportedException("these steps do not stage layers");

    /// <summary>Deletes a staged device if it is still there (an adopted one has the chain's name by then). Idempotent.</summary>
    Task DiscardStagedAsync(string stagedDevice, StepContext context) => Task.CompletedTask;

    /// <summary>
    /// Compensation: deletes a half-made chain device (unmounting it first if needed). <paramref name="device"/>
    /// is null when the crash came before the device was recorded: find it from the chain id. Succeeds
    /// when there is nothing to delete.
    /// </summary>
    Task DiscardChainDeviceAsync(ChainPlan chain, string? device, StepContext context);
}

/// <summary>A layer being applied while its blob downloads: the device it goes to (named for the run, never a chain's name), the parent chain's device (null for the base).</summary>
public sealed record StagedLayer(string Device, int Depth, string? ParentDevice, string LayerKey)
{
    /// <summary>The staged device of layer <paramref name="depth"/> in run <paramref name="runId"/>: unique, so discarding it never touches another run's.</summary>
    public static string DeviceOf(string runId, int depth) => $"{Prefix}{runId}:{depth}";

    /// <summary>Every staged device's name starts so.</summary>
    public const string Prefix = "stage:";

    /// <summary>The run id in a staged device's name, or null when it is not one.</summary>
    public static string? RunOf(string device)
        => device.StartsWith(Prefix, StringComparison.Ordinal) && device.LastIndexOf(':') is var colon && colon > Prefix.Length ? device[Prefix.Length..colon] : null;

    public override string ToString() => $"layer {Depth} ('{LayerKey}') on {Device}";
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
