namespace FlyImages.Errors;

public static partial class ErrorIds
{
    // lifecycle: removal and collection
    /// <summary>An image to remove has thin snapshots (remove them first, or ask for them to go too).</summary>
    public const string ImageHasSnapshots = "ImageHasSnapshots";

    /// <summary>A removal stopped half-way: what is left is recorded and the next run finishes it.</summary>
    public const string RemovalIncomplete = "RemovalIncomplete";

    /// <summary>Collection thresholds or ages that contradict each other (low must be below high, min age below max age).</summary>
    public const string CollectionPolicyInvalid = "CollectionPolicyInvalid";

    /// <summary>A collection removed every image it may and use is still at or above the low threshold.</summary>
    public const string StoreOverLimit = "StoreOverLimit";
}
