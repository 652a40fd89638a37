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
/// <para type="description">A persisted state machine drives every image (Pending, Resolving, Fetching, Unpacking, Ready;
/// Failed is retried by the next run, Rejected - a hostile or invalid layer - only with -Force). Layer chains are
/// shared: images with the same first layers share their devices. A Ready image costs one store lookup. Ctrl+C stops
/// promptly; the next run resumes from the last completed step. Outputs the Ready images.</para>
/// </summary>
/// <example><code>Get-FlyImage go* | Install-FlyImage | New-FlyThinSnapshot</code></example>
/// <example><code>Install-FlyImage golang, node, python -Source s3://my-bucket/images</code></example>
[Cmdlet(VerbsLifecycle.Install, "FlyImage", DefaultParameterSetName = NameSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(Image))]
public sealed class InstallFlyImageCommand : ImageSelectionCmdlet
{
    private FlyStore? store;
    private ImageInstaller? installer;
    private int activity;

    /// <summary>The thin pool to use. Default: the pool Initialize-FlyThinPool made, else one made now (devicemapper when the kernel has it, else block files).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Pool { get; set; }

    /// <summary>Virtual size of each layer chain's thin device (default 4 GiB; only written blocks use space).</summary>
    [Parameter]
    [ValidateRange(64L * 1024 * 1024, 16L * 1024 * 1024 * 1024 * 1024)]
    public long DeviceSize { get; set; } = InstallOptions.Default.DeviceSize;

    /// <summary>Re-verify blobs by re-hashing them, and retry an image that was Rejected.</summary>
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
            foreach (var group in InputObject.Where(i => i is not null).GroupBy(i => i.Source, StringComparer.Ordinal))
            {
                InstallAll(BuildSourceOptions(group.Key.Length == 0 ? null : group.Key), group.ToList());
            }
        }
        else
        {
            var options = BuildSourceOptions();
            InstallAll(options, ResolveImageNames(options, OpenStore(), Name));
        }
    }

    private void InstallAll(SourceOptions options, List<Image> images)
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
                var id = 1 + (3 * activity++);
                var result = RunCore(async context =>
                {
                    await CollectFirstAsync(context).ConfigureAwait(false);
                    installer ??= await ImageInstaller.OpenAsync(OpenStore(), new InstallOptions { DeviceSize = DeviceSize, Force = Force.IsPresent }, context, Pool).ConfigureAwait(false);
                    if (!warned)
                    {
                        warned = true; // once per invocation: the pool's use as the installs begin
                        if (Lifecycle.PoolUseWarnings.For(await installer.Pool.GetStatusAsync(context.CancellationToken).ConfigureAwait(false)) is { } warning)
                        {
                            context.WriteWarning(warning);
                        }
                    }

                    using var source = ImageSourceFactory.Create(options, context);
                    return await installer.InstallAsync(source, image, context, id).ConfigureAwait(false);
                });
                WriteVerbose(result.DidWork ? $"'{image.Name}' is Ready (run {result.RunId})." : $"'{image.Name}' was already Ready: nothing to do.");
                WriteObject(new ImageRepository(OpenStore()).Find(image.Source, image.Name) ?? result.Image);
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
