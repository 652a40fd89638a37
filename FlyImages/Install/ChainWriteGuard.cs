using FlyImages.Operations;
using System.Globalization;
using FlyImages.Errors;
using FlyImages.Model;
using FlyImages.ThinPools;
using FlyImages.Unpacking;
using FlyImages.Workflows;

namespace FlyImages.Install;

/// <summary>
/// Keeps a full pool from yielding a Ready image. Before a layer is applied: the pool's room (free data
/// above its floor) is measured, a plain tar larger than it is refused before anything is written, and
/// the unpacker gets the room as <see cref="UnpackLimits.DestinationRoomBytes"/> so a compressed layer is
/// refused as soon as its running total passes it. After: the filesystem is flushed and checked
/// (<see cref="Ext4Health"/>) and the pool must still have had room. Every failure is PoolFull (the
/// pool ran out of data or metadata space) or ChainWriteFailed (the bytes did not reach the device safely).
/// </summary>
internal sealed class ChainWriteGuard(IThinPool pool)
{
    /// <summary>When a write failed and the pool has less than this much free, the pool running out is the cause.</summary>
    private const long NearlyFull = 16L << 20;

    /// <summary>The room the pool has for <paramref name="chain"/>'s files: free data above the floor. PoolFull when there is none.</summary>
    public async Task<long> RoomAsync(ChainPlan chain, IOperationContext context)
    {
        var status = await pool.GetStatusAsync(context).ConfigureAwait(false);
        if (Exhausted(status) is { } why)
        {
            throw Full(chain, $"{why} before {chain} was applied", status, null);
        }

        var floor = (long)Math.Ceiling(status.DataTotalBytes * status.FreeSpaceFloorPercent / 100);
        return Math.Max(0, status.DataFreeBytes - floor);
    }

    /// <summary>The uncompressed size of a layer whose blob is a plain tar (its length); null for compressed blobs, whose size shows only as they are read.</summary>
    public static long? PlainTarSize(string blob)
    {
        using var stream = new FileStream(blob, FileMode.Open, FileAccess.Read, FileShare.Read);
        var head = new byte[1024];
        var read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        try
        {
            return FormatDetector.Detect(head.AsSpan(0, read)) == LayerFormat.Tar ? stream.Length : null;
        }
        catch (FlyException)
        {
            return null; // not a layer: the unpacker says so with its own error
        }
    }

    /// <summary>The refusal of a layer that needs more than the pool's room (nothing, or nothing more, is written).</summary>
    public async Task<FlyException> RefusedAsync(ChainPlan chain, long needed, long room, bool beforeWriting, Exception? inner, IOperationContext context)
    {
        var status = await pool.GetStatusAsync(context).ConfigureAwait(false);
        return new FlyException(ErrorIds.PoolFull, FlyErrorCategory.QuotaExceeded,
            string.Create(CultureInfo.InvariantCulture,
                $"Pool '{pool.Name}' has {ByteSize.Format(room)} of room above its free-space floor of {status.FreeSpaceFloorPercent:0.##}% ({ByteSize.Format(status.DataFreeBytes)} free of {ByteSize.Format(status.DataTotalBytes)}), but layer {chain.Depth} ({chain.LayerDigest}) needs {(beforeWriting ? "" : "at least ")}{ByteSize.Format(needed)}. {(beforeWriting ? "Nothing was written." : "The layer was stopped and its device is discarded.")}"),
            pool.Name, inner)
        {
            RecommendedAction = Advice,
        };
    }

    /// <summary>After a layer was written and its filesystem checked: the pool must not have run out on the way (its bytes would be lost).</summary>
    public async Task CheckAfterAsync(ChainPlan chain, IOperationContext context)
    {
        var status = await pool.GetStatusAsync(context).ConfigureAwait(false);
        if (Exhausted(status) is { } why)
        {
            throw Full(chain, $"{why} after {chain} was written", status, null);
        }
    }

    /// <summary>
    /// What a failure while writing <paramref name="chain"/> means: PoolFull when the pool is out of (or
    /// nearly out of) space, ChainWriteFailed for a write that did not reach the device safely, otherwise
    /// the failure itself (a hostile layer stays a rejection).
    /// </summary>
    public async Task<Exception> ExplainAsync(ChainPlan chain, Exception failure)
    {
        if (failure is FlyException { ErrorId: ErrorIds.PoolFull })
        {
            return failure;
        }

        if (failure is FlyException { ErrorId: ErrorIds.ThinPoolBelowFloor })
        {
            return new FlyException(ErrorIds.PoolFull, FlyErrorCategory.QuotaExceeded, $"There is no room for {chain} (layer {chain.Depth}, {chain.LayerDigest}): {failure.Message}", pool.Name, failure)
            {
                RecommendedAction = Advice,
            };
        }

        // a write that failed: the pool running out is the likely cause, else it is ChainWriteFailed
        var writeFailure = failure is IOException or FlyException { ErrorId: ErrorIds.ChainWriteFailed or ErrorIds.LayerApplyFailed or ErrorIds.UnmountFailed };
        // a device step that failed: PoolFull when the pool ran out, else it keeps its own id
        var deviceFailure = failure is FlyException { ErrorId: ErrorIds.ThinPoolUnavailable or ErrorIds.ThinDeviceCopyFailed or ErrorIds.FormatFailed }
            or FlyException { Category: FlyErrorCategory.QuotaExceeded or FlyErrorCategory.DeviceError };
        if (!writeFailure && !deviceFailure)
        {
            return failure;
        }

        ThinPoolStatus status;
        try
        {
            status = await pool.GetStatusAsync(NullOperationContext.Instance).ConfigureAwait(false);
        }
        catch (FlyException)
        {
            return failure;
        }

        var why = Exhausted(status)
            ?? (MetadataFull(status) ? $"pool '{pool.Name}' is out of metadata space ({MetadataUse(status)})" : null)
            ?? (status.Mode == ThinPoolMode.OutOfDataSpace || (status.DataTotalBytes > 0 && status.DataFreeBytes < Math.Min(NearlyFull, status.DataTotalBytes / 20))
                ? $"pool '{pool.Name}' is out of data space ({ByteSize.Format(status.DataUsedBytes)} used of {ByteSize.Format(status.DataTotalBytes)})"
                : null);
        if (why is not null)
        {
            return Full(chain, $"{why} while {chain} was written ({failure.Message})", status, failure);
        }

        return !writeFailure || failure is FlyException { ErrorId: ErrorIds.ChainWriteFailed } ? failure : WriteFailed(chain, failure.Message, failure);
    }

    /// <summary>ChainWriteFailed: the layer's bytes are not safely on the device.</summary>
    public FlyException WriteFailed(ChainPlan chain, string problem, Exception? inner = null) => new(ErrorIds.ChainWriteFailed, FlyErrorCategory.WriteError,
        $"Layer {chain.Depth} ({chain.LayerDigest}) did not reach its device in pool '{pool.Name}' safely: {problem}. The device is discarded.", pool.Name, inner)
    {
        RecommendedAction = "Check the kernel log (dmesg) and the pool (Get-FlyThinPool), then install again: downloaded blobs are kept.",
    };

    private const string Advice = "Replace the pool with a bigger one (Remove-FlyThinPool, then Initialize-FlyThinPool -DataSize ...) or free space in it, then install again: downloaded blobs are kept.";

    /// <summary>Why the pool can take no more writes (out of data or metadata space, or in a mode that refuses them), or null.</summary>
    private string? Exhausted(ThinPoolStatus status) => Exhausted(pool.Name, status);

    /// <summary>Why pool <paramref name="name"/> can take no more writes, or null; names its metadata when that is what ran out.</summary>
    internal static string? Exhausted(string name, ThinPoolStatus status)
    {
        if (status.Mode is ThinPoolMode.ReadOnly or ThinPoolMode.Failed or ThinPoolMode.NeedsCheck)
        {
            return $"pool '{name}' went {status.Mode}{(MetadataFull(status) ? $" with its metadata full ({MetadataUse(status)})" : "")}{(status.ModeDetail is null ? "" : $" ({status.ModeDetail})")}";
        }

        if (status.MetadataTotalBytes > 0 && status.MetadataFreeBytes <= 0)
        {
            return $"pool '{name}' is out of metadata space ({MetadataUse(status)})";
        }

        if ((status.DataTotalBytes > 0 && status.DataFreeBytes <= 0) || (status.Backend == ThinPoolBackend.DeviceMapper && status.Mode == ThinPoolMode.OutOfDataSpace))
        {
            return $"pool '{name}' is out of data space ({ByteSize.Format(status.DataUsedBytes)} used of {ByteSize.Format(status.DataTotalBytes)})";
        }

        return null;
    }

    /// <summary>
    /// Whether the pool's metadata is (all but) used up: under 2 % free. dm-thin's status counts the tenth of the
    /// metadata it keeps back (at most 16 MiB) as used, and the pool turns read-only when that shows all used.
    /// </summary>
    internal static bool MetadataFull(ThinPoolStatus status)
        => status.MetadataTotalBytes > 0 && status.MetadataFreeBytes < Math.Max(status.MetadataTotalBytes / 50, 4096);

    private static string MetadataUse(ThinPoolStatus status)
        => $"{ByteSize.Format(status.MetadataUsedBytes)} used of {ByteSize.Format(status.MetadataTotalBytes)}";

    /// <summary>What to do about a full pool: a bigger -MetadataSize when its metadata ran out, else a bigger pool.</summary>
    internal static string AdviceFor(ThinPoolStatus status) => MetadataFull(status) ? MetadataAdvice : Advice;

    private const string MetadataAdvice = "Replace the pool with one of a larger -MetadataSize (Remove-FlyThinPool, then Initialize-FlyThinPool -MetadataSize ...; a read-only pool can still be removed), then install again: downloaded blobs are kept.";

    /// <summary>
    /// Before an install fetches anything: a pool that is read-only, needs a check or failed takes no new
    /// devices, so the install is refused at once: PoolFull naming the metadata when it ran out, else ThinPoolUnavailable.
    /// </summary>
    internal static void RefuseUnusable(string name, ThinPoolStatus status)
    {
        if (status.Mode is not (ThinPoolMode.ReadOnly or ThinPoolMode.NeedsCheck or ThinPoolMode.Failed))
        {
            return;
        }

        if (MetadataFull(status))
        {
            throw new FlyException(ErrorIds.PoolFull, FlyErrorCategory.QuotaExceeded,
                $"Pool '{name}' is out of metadata space ({MetadataUse(status)}) and went {status.Mode}: it takes no new devices. Nothing was fetched or written.", name)
            {
                RecommendedAction = MetadataAdvice,
            };
        }

        throw new FlyException(ErrorIds.ThinPoolUnavailable, FlyErrorCategory.ResourceUnavailable,
            $"Pool '{name}' is in mode {status.Mode}{(status.ModeDetail is null ? "" : $" ({status.ModeDetail})")}: it takes no new devices. Nothing was fetched or written.", name)
        {
            RecommendedAction = "Check the pool (dmsetup status, thin_check), or replace it (Remove-FlyThinPool, then Initialize-FlyThinPool), then install again.",
        };
    }

    private FlyException Full(ChainPlan chain, string why, ThinPoolStatus status, Exception? inner) => new(ErrorIds.PoolFull, FlyErrorCategory.QuotaExceeded,
        $"Layer {chain.Depth} ({chain.LayerDigest}) does not fit: {why}. Its device is discarded; nothing is recorded Ready.", pool.Name, inner)
    {
        RecommendedAction = status.Mode == ThinPoolMode.Unavailable ? "Run Initialize-FlyThinPool to bring the pool back." : AdviceFor(status),
    };
}
