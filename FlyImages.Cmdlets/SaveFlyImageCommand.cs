using System.Management.Automation;
using FlyImages.Install;
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
/// identical layers of several images are downloaded once, and a layer whose plain-MD5 ETag matches a stored blob is
/// reused without downloading. Bytes are verified while they stream (sha256, the announced length, and the MD5 of a
/// plain-MD5 ETag or, for large blobs and multipart uploads, the cheaper full-object checksum S3 keeps, such as CRC64NVME) and reach blobs/sha256/ under the store only when they match. An interrupted download keeps its finished
/// parts and the next run fetches only the missing ones. Large blobs are fetched as several ranged GETs in
/// parallel; from an endpoint that ignores Range (answers a ranged GET with the whole object) each blob is fetched as
/// one stream, verified the same way, and -Verbose says so.</para>
/// <para type="description">Save-FlyImage does not unpack anything: Install-FlyImage does that (and saves first). Afterwards
/// Get-FlyImage -Installed shows the images Fetched. -WhatIf names each image with its layer count and size and
/// downloads nothing.</para>
/// <para type="description">Errors: BlobTooLarge (larger than -MaxBlobSize), StoreFull (not enough free space), both before
/// downloading; BlobCorrupt, BlobLengthMismatch and BlobDownloadFailed after every attempt (each part is requested at
/// most five times, MD5 re-downloads included); SourceObjectChanged (the
/// object changed since it was listed); BlobWriteFailed; ImageInvalid for an image listed as Invalid; ImageNotFound for
/// a -Name without wildcards that matches nothing.</para>
/// </summary>
/// <example>
/// <code>Get-FlyImage go* | Save-FlyImage</code>
/// <para>Downloads the layers of every image whose name starts with 'go', each blob once.</para>
/// </example>
/// <example>
/// <code>Save-FlyImage golang, node, python -PassThru | ForEach-Object Layers | Format-Table Index, Key, Digest</code>
/// <para>Saves three images and shows where each layer went: -PassThru writes the images with each layer's Digest and
/// BlobPath.</para>
/// </example>
/// <example>
/// <code>Save-FlyImage golang -Force</code>
/// <para>Hashes the stored blobs of golang again; a damaged blob is fetched again.</para>
/// </example>
/// <example>
/// <code>Save-FlyImage node -PartSize 16MB -PartConcurrency 8 -StallTimeoutSeconds 60</code>
/// <para>Tunes the download for a fast but bursty link: 16 MiB ranged GETs, eight in flight per blob, and a minute
/// without a byte before a part is retried.</para>
/// </example>
/// <seealso cref="GetFlyImageCommand"/>
/// <seealso cref="InstallFlyImageCommand"/>
/// <seealso cref="ExpandFlyLayerCommand"/>
[Cmdlet(VerbsData.Save, "FlyImage", DefaultParameterSetName = NameSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(Image))]
public sealed class SaveFlyImageCommand : FetchCmdlet
{
    private readonly List<string> names = [];
    private readonly List<Image> inputImages = [];

    /// <summary>
    /// Re-verify blobs already in the store by hashing them again; a damaged blob is fetched again.
    /// </summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>
    /// Write the saved images to the pipeline, each layer with its Digest and BlobPath. By default nothing is written.
    /// </summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

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

        var content = new ContentStore(store, BuildFetchOptions());

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
