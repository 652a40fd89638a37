using System.Management.Automation;
using FlyImages.Cmdlets.Infrastructure;
using FlyImages.Configuration;
using FlyImages.Images;
using FlyImages.Model;
using FlyImages.Sources;
using FlyImages.State;

namespace FlyImages.Cmdlets;

/// <summary>
/// <para type="synopsis">Lists the images a source offers, or those this host has recorded.</para>
/// <para type="description">An image is a folder of numbered layer tars (golang/1.tar ... 5.tar). Keys that do
/// not fit the layout produce a warning and mark their image Invalid.</para>
/// </summary>
/// <example><code>Get-FlyImage go* | Save-FlyImage</code></example>
[Cmdlet(VerbsCommon.Get, "FlyImage", DefaultParameterSetName = SourceSet)]
[OutputType(typeof(Image))]
public sealed class GetFlyImageCommand : SourceCmdlet
{
    public const string SourceSet = "Source";
    public const string InstalledSet = "Installed";

    private readonly Dictionary<string, IReadOnlyList<Image>> listings = new(StringComparer.Ordinal);

    /// <summary>Image names; wildcards allowed. Default: all.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ImageNameCompleter))]
    public string[]? Name { get; set; }

    /// <summary>List what the local store records instead of asking the source.</summary>
    [Parameter(Mandatory = true, ParameterSetName = InstalledSet)]
    public SwitchParameter Installed { get; set; }

    protected override void ProcessRecord()
    {
        var images = Installed ? ListInstalled() : ListSource();
        var (matched, missing) = MatchNames(images, Name ?? ["*"]);
        var store = ExistingStore();
        matched.ForEach(i => WriteObject(ImageDiagnosis.Decorate(i, store)));
        WriteNotFound(missing, Installed ? $"the store {ResolvedStorePath}" : DescribeSource());
    }

    private IReadOnlyList<Image> ListSource()
    {
        var options = BuildSourceOptions();
        var key = $"{FlyEnvironment.ResolveSource(options.Source)}|{options.Endpoint}|{options.Region}";
        if (listings.TryGetValue(key, out var cached))
        {
            return cached;
        }

        try
        {
            var current = ExistingStore();
            var images = RunCore(async context =>
            {
                using var source = ImageSourceFactory.Create(options, context);
                return await ImageCatalog.ListAsync(source, current, context).ConfigureAwait(false);
            });
            listings[key] = images;
            return images;
        }
        catch (Exception e) when (e is not PipelineStoppedException && !(e is OperationCanceledException && StopToken.IsCancellationRequested))
        {
            ThrowFlyError(e, Source);
            throw;
        }
    }

    private IReadOnlyList<Image> ListInstalled()
    {
        if (listings.TryGetValue("installed", out var cached))
        {
            return cached;
        }

        try
        {
            var current = ExistingStore();
            string? sourceUri = null;
            if (MyInvocation.BoundParameters.ContainsKey(nameof(Source)) && Source is not null)
            {
                sourceUri = SourceSpec.Parse(BuildSourceOptions().Source!).Uri;
            }

            IReadOnlyList<Image> images = current is null ? [] : ImageCatalog.ListInstalled(current, sourceUri);
            listings["installed"] = images;
            return images;
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            ThrowFlyError(e, StorePath);
            throw;
        }
    }


    private string DescribeSource() => FlyEnvironment.ResolveSource(BuildSourceOptions().Source);
}
