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
/// <para type="description">Without -Installed, Get-FlyImage lists the source named by -Source (default: the FLYIMAGES_SOURCE
/// environment variable, else the public bucket s3://flyio-platform-hiring-challenge/images). An image is a folder of
/// numbered layer tars: &lt;prefix&gt;/&lt;image&gt;/1.tar ... &lt;n&gt;.tar (also .tar.gz, .tgz, .tar.zst), applied in
/// order of n. Each image is written as an Image object (Name, Source, Layers, Size, State, Problems, StateDetail,
/// UpdatedAt); the listing is merged with the local store, so State says what this host has of it: Remote, Fetching,
/// Fetched, Unpacking, Ready, Failed or Rejected.</para>
/// <para type="description">Keys that do not fit the layout (a gap or duplicate in the numbering, a nested key, control
/// characters, '..', more than 128 layers, an empty layer) produce a warning and mark their image Invalid, with the
/// reasons in Problems; they never stop the listing and are never dropped silently.</para>
/// <para type="description">With -Installed, the store is read instead of the source (no network): every image this host
/// has recorded, and with -Source only those of that source. Listing never creates a store.</para>
/// <para type="description">A -Name without wildcards that matches nothing writes a non-terminating ImageNotFound error. A
/// source that cannot be listed stops the command with SourceInvalid, SourceUnreachable (after retries), SourceNotFound
/// or SourceAccessDenied.</para>
/// </summary>
/// <example>
/// <code>Get-FlyImage</code>
/// <para>Lists every image of the default source (FLYIMAGES_SOURCE, else the public bucket, read anonymously).</para>
/// </example>
/// <example>
/// <code>Get-FlyImage go*, python -Source s3://my-bucket/images -Endpoint http://127.0.0.1:9000 -ProfileName ci</code>
/// <para>Lists the images whose names start with 'go', and python, from a bucket of an S3-compatible service, signing
/// the requests with the shared AWS profile 'ci'.</para>
/// </example>
/// <example>
/// <code>'node' | Get-FlyImage -Source /srv/images</code>
/// <para>Names come from the pipeline too. The source here is a local folder laid out like the bucket
/// (/srv/images/node/1.tar, 2.tar...).</para>
/// </example>
/// <example>
/// <code>Get-FlyImage -Installed | Where-Object State -ne 'Ready' | Format-List Name, State, StateDetail</code>
/// <para>Reads only the local store: the images this host has recorded that are not Ready, and where and why they
/// stopped (StateDetail).</para>
/// </example>
/// <seealso cref="InstallFlyImageCommand"/>
/// <seealso cref="SaveFlyImageCommand"/>
/// <seealso cref="NewFlyThinSnapshotCommand"/>
/// <seealso cref="GetFlyImageEventCommand"/>
[Cmdlet(VerbsCommon.Get, "FlyImage", DefaultParameterSetName = SourceSet)]
[OutputType(typeof(Image))]
public sealed class GetFlyImageCommand : SourceCmdlet
{
    public const string SourceSet = "Source";
    public const string InstalledSet = "Installed";

    private readonly Dictionary<string, IReadOnlyList<Image>> listings = new(StringComparer.Ordinal);
    private readonly HashSet<string> written = new(StringComparer.Ordinal);

    /// <summary>
    /// Names of the images to list; wildcards allowed, case-insensitive. Default: every image. A name without wildcards
    /// that matches nothing is a non-terminating ImageNotFound error. Binds from the pipeline: strings, or objects with
    /// a Name property.
    /// </summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ImageNameCompleter))]
    public string[]? Name { get; set; }

    /// <summary>
    /// List what the local store records (images fetched, installed, failed or rejected on this host) instead of asking
    /// the source; no network. With -Source, only the images of that source.
    /// </summary>
    [Parameter(Mandatory = true, ParameterSetName = InstalledSet)]
    public SwitchParameter Installed { get; set; }

    protected override void ProcessRecord()
    {
        var images = Installed ? ListInstalled() : ListSource();
        var (matched, missing) = new NameMatcher(Name).Select(images, i => i.Name);
        var store = ExistingStore();
        foreach (var image in matched)
        {
            // each image once per command, however many names (or piped names) match it
            if (written.Add($"{image.Source}\n{image.Name}"))
            {
                WriteObject(ImageDiagnosis.Decorate(image, store));
            }
        }

        WriteNotFound(missing, Installed ? $"the store {ResolvedStorePath}" : DescribeSource());
    }

    private IReadOnlyList<Image> ListSource()
    {
        var options = BuildSourceOptions();
        if (LookUpImages(options, ExistingStore(), Name) is { } found)
        {
            return found; // names without wildcards: each image's own prefix, not the whole source
        }

        var key = $"{FlyEnvironment.ResolveSource(options.Source)}|{options.Endpoint}|{options.Region}";
        if (!listings.TryGetValue(key, out var images))
        {
            listings[key] = images = ListSource(options, ExistingStore());
        }

        return images;
    }

    private IReadOnlyList<Image> ListInstalled()
    {
        try
        {
            var sourceUri = MyInvocation.BoundParameters.ContainsKey(nameof(Source)) && Source is not null ? SourceResolver.Canonical(this, Source) : null;
            var key = $"installed|{sourceUri}";
            if (!listings.TryGetValue(key, out var images))
            {
                var current = ExistingStore();
                listings[key] = images = current is null ? [] : ImageCatalog.ListInstalled(current, sourceUri);
            }

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
