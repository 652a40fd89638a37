using System.Management.Automation;
using FlyImages.Cmdlets.Infrastructure;
using FlyImages.Configuration;
using FlyImages.Content;
using FlyImages.Images;
using FlyImages.Model;
using FlyImages.Sources;
using FlyImages.State;

namespace FlyImages.Cmdlets;

/// <summary>
/// <para type="synopsis">Brings every layer blob of images into the local content store, verified, once.</para>
/// <para type="description">Layers already in the store (same source object: key, ETag, size) are not requested again;
/// identical layers of several images are downloaded once. Bytes are verified while they stream (sha256, the MD5 of a
/// plain-MD5 ETag, the announced length) and reach blobs/sha256/ only when they match. An interrupted download keeps
/// its partial file and the next run resumes it. Large blobs are fetched with several ranged GETs in parallel.</para>
/// </summary>
/// <example><code>Get-FlyImage go* | Save-FlyImage</code></example>
/// <example><code>Save-FlyImage golang, node -PassThru | Select-Object -ExpandProperty Layers</code></example>
[Cmdlet(VerbsData.Save, "FlyImage", DefaultParameterSetName = NameSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(Image))]
public sealed class SaveFlyImageCommand : ImageSelectionCmdlet
{
    private readonly List<string> names = [];
    private readonly List<Image> inputImages = [];

    /// <summary>Re-verify blobs already in the store by hashing them again (a damaged blob is fetched again).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Write the saved images (each layer with its Digest and BlobPath) to the pipeline.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>Bytes per ranged GET (default 8 MiB).</summary>
    [Parameter]
    [ValidateRange(64L * 1024, 1024L * 1024 * 1024)]
    public long PartSize { get; set; } = FetchOptions.Default.PartSize;

    /// <summary>Ranged GETs in flight per blob (default 6).</summary>
    [Parameter]
    [ValidateRange(1, 64)]
    public int PartConcurrency { get; set; } = FetchOptions.Default.PartConcurrency;

    /// <summary>Blobs downloading at once (default 3).</summary>
    [Parameter]
    [ValidateRange(1, 64)]
    public int LayerConcurrency { get; set; } = FetchOptions.Default.LayerConcurrency;

    /// <summary>Refuse blobs larger than this many bytes before downloading (default 64 GiB).</summary>
    [Parameter]
    [ValidateRange(1L, long.MaxValue)]
    public long MaxBlobSize { get; set; } = FetchOptions.Default.MaxBlobSize;

    /// <summary>Seconds without a byte on an open download before it is abandoned and retried (default 30).</summary>
    [Parameter]
    [ValidateRange(1, 3600)]
    public int StallTimeoutSeconds { get; set; } = (int)FetchOptions.Default.StallTimeout.TotalSeconds;

    protected override void ProcessRecord()
    {
        if (ParameterSetName == InputObjectSet)
        {
            inputImages.AddRange(InputObject.Where(i => i is not null));
        }
        else
        {
            names.AddRange(Name);
        }
    }

    protected override void EndProcessing()
    {
        if (names.Count == 0 && inputImages.Count == 0)
        {
            return;
        }

        FlyStore store;
        try
        {
            store = FlyStore.Open(ResolvedStorePath);
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            ThrowFlyError(e, ResolvedStorePath);
            throw;
        }

        var content = new ContentStore(store, new FetchOptions
        {
            PartSize = PartSize,
            PartConcurrency = PartConcurrency,
            LayerConcurrency = LayerConcurrency,
            MaxBlobSize = MaxBlobSize,
            StallTimeout = TimeSpan.FromSeconds(StallTimeoutSeconds),
        });

        // by name: from -Source; piped images: from the source each names
        var batches = new List<(SourceOptions Options, IReadOnlyList<Image> Images)>();
        if (names.Count > 0)
        {
            var options = BuildSourceOptions();
            var matched = ResolveImageNames(options, store, names);
            if (matched.Count > 0)
            {
                batches.Add((options, matched));
            }
        }

        // piped images: from where each was listed (source, endpoint, region, credential choice)
        foreach (var group in inputImages.GroupBy(i => (i.Source, i.Endpoint, i.Region, i.ProfileName, i.Anonymous)))
        {
            batches.Add((BuildSourceOptions(group.First()), group.DistinctBy(i => i.Name, StringComparer.Ordinal).ToList()));
        }

        foreach (var (options, images) in batches)
        {
            var approved = new List<Image>();
            foreach (var image in images)
            {
                if (!image.IsValid)
                {
                    WriteFlyError(new Errors.FlyException(Errors.ErrorIds.ImageInvalid, Errors.FlyErrorCategory.InvalidData,
                        $"Image '{image.Name}' in {image.Source} is invalid and cannot be saved: {string.Join("; ", image.Problems)}.", image.Name), image.Name);
                    continue;
                }

                if (ShouldProcess($"{image.Name} ({image.Source})", $"Save {image.Layers.Count} layers ({ByteSize.Format(image.Size)}) into the store {store.RootPath}"))
                {
                    approved.Add(image);
                }
            }

            if (approved.Count == 0)
            {
                continue;
            }

            IReadOnlyList<ImageFetchResult> results;
            try
            {
                results = RunCore(async context =>
                {
                    using var source = ImageSourceFactory.Create(options, context);
                    return await new ImageFetcher(content).FetchAsync(source, approved, context, Force.IsPresent).ConfigureAwait(false);
                });
            }
            catch (Exception e) when (e is not PipelineStoppedException && !(e is OperationCanceledException && StopToken.IsCancellationRequested))
            {
                ThrowFlyError(e, options.Source);
                throw;
            }

            foreach (var result in results)
            {
                if (result.Error is not null)
                {
                    WriteFlyError(result.Error, result.Image.Name);
                }
                else if (PassThru)
                {
                    WriteObject(result.Image);
                }
            }
        }
    }
}
