using System.Management.Automation;
using FlyImages.Content;

namespace FlyImages.Cmdlets.Infrastructure;

/// <summary>
/// The fetch knobs shared by the cmdlets that bring blobs into the content store (Save-FlyImage, Install-FlyImage):
/// the same parameters, ranges and defaults (those of <see cref="FetchOptions"/>) for both.
/// </summary>
public abstract class FetchCmdlet : ImageSelectionCmdlet
{
    /// <summary>
    /// Bytes per ranged GET: 64 KiB to 1 GiB. Default: 8 MiB, smaller (not below 2 MiB) for a blob with fewer parts
    /// than the most GETs a download may grow to; given explicitly, every part has this size.
    /// </summary>
    [Parameter]
    [ValidateRange(64L * 1024, 1024L * 1024 * 1024)]
    public long PartSize { get; set; } = FetchOptions.Default.PartSize;

    /// <summary>
    /// Ranged GETs in flight per blob: 1 to 64. Default: 6 at the start, doubled (up to 16) while the added streams
    /// still add throughput, as behind an endpoint that caps each stream; given explicitly, the number is fixed.
    /// </summary>
    [Parameter]
    [ValidateRange(1, 64)]
    public int PartConcurrency { get; set; } = FetchOptions.Default.PartConcurrency;

    /// <summary>
    /// Blobs downloading at once: 1 to 64. Default: 3. Install-FlyImage starts them in layer order, the next as soon as
    /// every part of the one before is requested, so the layer applied first has the connections first.
    /// </summary>
    [Parameter]
    [ValidateRange(1, 64)]
    public int LayerConcurrency { get; set; } = FetchOptions.Default.LayerConcurrency;

    /// <summary>
    /// Refuse blobs larger than this many bytes, before downloading (BlobTooLarge). Default: 64 GiB.
    /// </summary>
    [Parameter]
    [ValidateRange(1L, long.MaxValue)]
    public long MaxBlobSize { get; set; } = FetchOptions.Default.MaxBlobSize;

    /// <summary>
    /// Seconds without a byte on an open download before that part is abandoned and retried: 1 to 3600. Default: 30.
    /// </summary>
    [Parameter]
    [ValidateRange(1, 3600)]
    public int StallTimeoutSeconds { get; set; } = (int)FetchOptions.Default.StallTimeout.TotalSeconds;

    /// <summary>The fetch options these parameters make.</summary>
    protected FetchOptions BuildFetchOptions() => new()
    {
        PartSize = PartSize,
        MinPartSize = MyInvocation.BoundParameters.ContainsKey(nameof(PartSize)) ? PartSize : FetchOptions.Default.MinPartSize,
        PartConcurrency = PartConcurrency,
        MaxPartConcurrency = MyInvocation.BoundParameters.ContainsKey(nameof(PartConcurrency)) ? PartConcurrency : FetchOptions.Default.MaxPartConcurrency,
        LayerConcurrency = LayerConcurrency,
        MaxBlobSize = MaxBlobSize,
        StallTimeout = TimeSpan.FromSeconds(StallTimeoutSeconds),
    };
}
