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

    /// <summary>Whether a workflow of <paramref name="kind"/> in <paramref name="state"/> had work in flight (see <see cref="WorkflowMachines.Registry"/>).</summary>
    public static bool IsIntermediate(string kind, string state) => WorkflowMachines.Registry.IsIntermediate(kind, state);
}
