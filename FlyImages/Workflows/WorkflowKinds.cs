namespace FlyImages.Workflows;

/// <summary>
/// The kinds of persisted workflow. One machine (one row of <c>workflows</c>) exists per (kind, key);
/// each attempt at it is a run with its own id, stamped on every journal entry it writes.
/// </summary>
public static class WorkflowKinds
{
    /// <summary>Key: <see cref="InstallWorkflow.KeyOf"/> (source and image name).</summary>
    public const string InstallImage = "install-image";

    /// <summary>Key: the chain id (sha256:...).</summary>
    public const string MakeChain = "make-chain";

    /// <summary>Key: the snapshot's image key and name.</summary>
    public const string Snapshot = "snapshot";

    /// <summary>
    /// Journal entries only (no machine): removals and collections with their trigger and what they freed. Key: the
    /// image's install key, or "(orphans)" / "(collection)" for a store-wide run.
    /// </summary>
    public const string Lifecycle = "lifecycle";

    /// <summary>The kinds with a machine (<see cref="Lifecycle"/> has none).</summary>
    public static IReadOnlyList<string> All { get; } = [InstallImage, MakeChain, Snapshot];

    /// <summary>States that end a run: nothing is in flight.</summary>
    public static bool IsFinal(string kind, string state) => kind switch
    {
        InstallImage => state is nameof(InstallState.Ready) or nameof(InstallState.Failed) or nameof(InstallState.Rejected),
        MakeChain => state is nameof(ChainState.Sealed) or nameof(ChainState.Faulty),
        Snapshot => state is nameof(SnapshotState.Active) or nameof(SnapshotState.Removed) or nameof(SnapshotState.Failed),
        _ => true,
    };

    /// <summary>States in which work was in flight: after a crash they are resumed or rolled back.</summary>
    public static bool IsIntermediate(string kind, string state) => !IsFinal(kind, state) && state != InitialState;

    /// <summary>The state every new workflow starts in.</summary>
    public const string InitialState = "Pending";
}
