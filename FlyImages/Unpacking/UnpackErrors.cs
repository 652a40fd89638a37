using FlyImages.Errors;

namespace FlyImages.Unpacking;

/// <summary>Builds the unpacker's exceptions so every message names the entry and the rule in one shape.</summary>
internal static class UnpackErrors
{
    internal const string Discard = "The destination may hold part of the layer: discard it (or re-create it) before using it.";

    public static FlyException Traversal(string entry, string rule) =>
        Make(ErrorIds.LayerRejectedTraversal, FlyErrorCategory.SecurityError, entry, rule);

    public static FlyException Name(string entry, string rule) =>
        Make(ErrorIds.LayerRejectedName, FlyErrorCategory.SecurityError, entry, rule);

    public static FlyException Link(string entry, string rule) =>
        Make(ErrorIds.LayerRejectedLink, FlyErrorCategory.SecurityError, entry, rule);

    public static FlyException Conflict(string entry, string rule) =>
        Make(ErrorIds.LayerRejectedConflict, FlyErrorCategory.InvalidData, entry, rule);

    public static FlyException Limit(string? entry, string rule) =>
        Make(ErrorIds.LayerRejectedLimit, FlyErrorCategory.LimitsExceeded, entry, rule);

    public static FlyException Invalid(string? entry, string rule) =>
        Make(ErrorIds.LayerFormatInvalid, FlyErrorCategory.InvalidData, entry, rule);

    public static FlyException Truncated(string? entry, string rule) =>
        Make(ErrorIds.LayerTruncated, FlyErrorCategory.InvalidData, entry, rule);

    public static FlyException Unsupported(string? entry, string rule) =>
        Make(ErrorIds.LayerFormatUnsupported, FlyErrorCategory.InvalidData, entry, rule);

    /// <summary>The layer needs more room than the destination has: <paramref name="needed"/> bytes so far, <paramref name="room"/> available.</summary>
    public static FlyException NoRoom(string entry, long needed, long room) =>
        new(ErrorIds.DestinationFull, FlyErrorCategory.QuotaExceeded,
            $"Layer refused at entry '{entry}': its files need at least {needed} bytes so far, more than the {room} bytes of room the destination has.", entry)
        {
            RecommendedAction = Discard,
        };

    public static FlyException Failed(string entry, string operation, int errno) =>
        Make(ErrorIds.LayerApplyFailed, FlyErrorCategory.WriteError, entry,
            $"{operation} failed: {Native.Libc.ErrnoText(errno)}");

    private static FlyException Make(string id, FlyErrorCategory category, string? entry, string rule)
    {
        var message = entry is null ? $"Layer rejected: {rule}." : $"Layer rejected at entry '{entry}': {rule}.";
        return new FlyException(id, category, message, entry) { RecommendedAction = Discard };
    }
}
