using System.Management.Automation;
using FlyImages.Cmdlets.Infrastructure;
using FlyImages.Errors;
using FlyImages.Install;
using FlyImages.Model;
using FlyImages.Sources;
using FlyImages.State;

namespace FlyImages.Cmdlets;

/// <summary>
/// <para type="synopsis">Installs images onto this host: each layer blob fetched only if it is not already here, each
/// layer chain unpacked into a thin device only if that was not already done.</para>
/// <para type="description">Picks images by name (wildcards) from -Source, or takes the images piped from Get-FlyImage,
/// each from the source it names. For each image, a persisted state machine drives the work: Pending, Resolving,
/// Fetching (layer blobs into the content store, verified, as Save-FlyImage does), Unpacking (each layer chain onto its
/// own thin device in the pool), Ready. Layer chains are shared: images with the same first layers share their devices.
/// A Ready image costs one store lookup. Outputs the Ready images.</para>
/// <para type="description">Ctrl+C stops promptly; the next run resumes from the last completed step, and a run whose
/// process died is taken over. An attempt that fails for a reason worth retrying leaves the image Failed (error
/// InstallFailed); the next Install-FlyImage retries it. A hostile or invalid layer leaves it Rejected (error
/// ImageRejected); it is retried only with -Force. An image listed as Invalid is skipped with an ImageInvalid error.
/// Get-FlyImageEvent shows every step, and Get-FlyImage -Installed shows State and StateDetail.</para>
/// <para type="description">When the store has no thin pool, the first install makes one with Initialize-FlyThinPool's
/// defaults (devicemapper where the kernel has it, else block files on loop devices). Needs root: it attaches loop
/// devices and mounts filesystems. -WhatIf names each image with its layer count and size and changes nothing.</para>
/// <para type="description">Blobs are fetched exactly as Save-FlyImage fetches them, with the same parameters and defaults
/// (-PartSize, -PartConcurrency, -LayerConcurrency, -MaxBlobSize, -StallTimeoutSeconds): each part is requested at most
/// five times, MD5 re-downloads included; from an endpoint that ignores Range each blob comes as one verified stream.</para>
/// </summary>
/// <example>
/// <code>Get-FlyImage go* | Install-FlyImage | New-FlyThinSnapshot</code>
/// <para>Installs every image of the default source whose name starts with 'go', then activates a thin snapshot of each
/// (named after the image and the time).</para>
/// </example>
/// <example>
/// <code>Install-FlyImage golang, node, python -Source s3://my-bucket/images</code>
/// <para>Installs three images from another bucket. Layers they share (the same first layer, say) are downloaded once
/// and unpacked once.</para>
/// </example>
/// <example>
/// <code>Install-FlyImage alpine -Source /srv/images -StorePath /srv/flyimages -WhatIf</code>
/// <para>Shows what would be installed from a local folder into the store /srv/flyimages: one 'What if' line per image,
/// with its layers and size. Nothing is downloaded or created.</para>
/// </example>
/// <example>
/// <code>Get-FlyImage -Installed | Where-Object State -eq 'Rejected' | Install-FlyImage -Force</code>
/// <para>Retries the images a hostile or invalid layer stopped, after the source was fixed; -Force also re-hashes
/// their stored blobs.</para>
/// </example>
/// <example>
/// <code>Install-FlyImage node -PartConcurrency 8 -LayerConcurrency 1 -StallTimeoutSeconds 60</code>
/// <para>Installs node over a bursty link: one blob at a time (in layer order) over eight ranged GETs, and a minute
/// without a byte before a part is retried.</para>
/// </example>
/// <seealso cref="GetFlyImageCommand"/>
/// <seealso cref="SaveFlyImageCommand"/>
/// <seealso cref="NewFlyThinSnapshotCommand"/>
/// <seealso cref="InitializeFlyThinPoolCommand"/>
/// <seealso cref="GetFlyImageEventCommand"/>
[Cmdlet(VerbsLifecycle.Install, "FlyImage", DefaultParameterSetName = NameSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(Image))]
public sealed class InstallFlyImageCommand : FetchCmdlet
{
    private FlyStore? store;
    private ImageInstaller? installer;

    /// <summary>
    /// The name of the thin pool to install into. Default: the store's default pool (the first one
    /// Initialize-FlyThinPool made), else a pool made now with Initialize-FlyThinPool's defaults (devicemapper when the
    /// kernel has it, else block files).
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Pool { get; set; }

    /// <summary>
    /// Virtual size in bytes of each layer chain's thin device made by this run: 64 MiB to 16 TiB. Default: 4 GiB. Only
    /// written blocks use pool space.
    /// </summary>
    [Parameter]
    [ValidateRange(64L * 1024 * 1024, 16L * 1024 * 1024 * 1024 * 1024)]
    public long DeviceSize { get; set; } = InstallOptions.Default.DeviceSize;

    /// <summary>
    /// Re-verify the image's stored blobs by hashing them again (a damaged blob is fetched again), and retry an image
    /// that is Rejected.
    /// </summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>
    /// Before the first install, runs a collection with Limit-FlyImageStore's defaults (above 85 % use, unused images go least
    /// recently used first until below 80 %). Default: off, unless the environment variable FLYIMAGES_COLLECT_BEFORE_INSTALL is 1.
    /// </summary>
    [Parameter]
    public SwitchParameter CollectBeforeInstall { get; set; }

    private bool collected;
    private bool warned;

    protected override void ProcessRecord()
    {
        if (ParameterSetName == InputObjectSet)
        {
            // each piped image from where it was listed: its source, endpoint, region and credential choice
            foreach (var image in InputObject.Where(i => i is not null))
            {
                InstallAll(BuildSourceOptions(image), [image]);
            }
        }
        else
        {
            var options = BuildSourceOptions();
            InstallAll(options, ResolveImageNames(options, OpenStore(), Name));
        }
    }

    private void InstallAll(SourceOptions options, IReadOnlyList<Image> images)
    {
        foreach (var image in images.DistinctBy(i => i.Name, StringComparer.Ordinal))
        {
            if (!image.IsValid)
            {
                WriteFlyError(new FlyException(ErrorIds.ImageInvalid, FlyErrorCategory.InvalidData,
                    $"Image '{image.Name}' in {image.Source} is invalid and cannot be installed: {string.Join("; ", image.Problems)}.", image.Name), image.Name);
                continue;
            }

            if (!ShouldProcess($"{image.Name} ({image.Source})", $"Install {image.Layers.Count} layers ({ByteSize.Format(image.Size)}) into a thin pool of {ResolvedStorePath}"))
            {
                continue;
            }

            TryPerItem(() =>
            {
                var result = RunCore(async context =>
                {
                    await CollectFirstAsync(context).ConfigureAwait(false);
                    installer ??= await ImageInstaller.OpenAsync(OpenStore(), new InstallOptions { DeviceSize = DeviceSize, Force = Force.IsPresent, Fetch = BuildFetchOptions() }, context, Pool).ConfigureAwait(false);
                    if (!warned)
                    {
                        warned = true; // once per invocation: the pool's use as the installs begin
                        if (Lifecycle.PoolUseWarnings.For(await installer.Pool.GetStatusAsync(context).ConfigureAwait(false)) is { } warning)
                        {
                            context.WriteWarning(warning);
                        }
                    }

                    using var source = ImageSourceFactory.Create(options, context);
                    return await installer.InstallAsync(source, image, context).ConfigureAwait(false);
                });
                WriteVerbose(result.DidWork ? $"'{image.Name}' is Ready (run {result.RunId})." : $"'{image.Name}' was already Ready: nothing to do.");
                WriteObject(WithConnectionOf(new ImageRepository(OpenStore()).Find(image.Source, image.Name) ?? result.Image, image));
            }, image.Name);
        }
    }

    /// <summary>-CollectBeforeInstall (or FLYIMAGES_COLLECT_BEFORE_INSTALL=1): one collection per invocation, before the first install.</summary>
    private async Task CollectFirstAsync(Operations.IOperationContext context)
    {
        if (collected || !(CollectBeforeInstall.IsPresent || Environment.GetEnvironmentVariable(CollectVariable) == "1"))
        {
            return;
        }

        collected = true;
        var result = await new Lifecycle.ImageCollector(OpenStore())
            .CollectAsync(new Lifecycle.CollectionPolicy { Trigger = "Install-FlyImage -CollectBeforeInstall" }, context).ConfigureAwait(false);
        context.WriteVerbose($"Collected before installing: {result}.");
        if (result.Shortfall is { } shortfall)
        {
            context.WriteWarning($"The collection before installing could not free enough: {shortfall}.");
        }
    }

    /// <summary>The environment variable that turns -CollectBeforeInstall on by default.</summary>
    public const string CollectVariable = "FLYIMAGES_COLLECT_BEFORE_INSTALL";

    private FlyStore OpenStore()
    {
        try
        {
            return store ??= FlyStore.Open(ResolvedStorePath);
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            ThrowFlyError(e, ResolvedStorePath);
            throw;
        }
    }
}
