using System.Management.Automation;
using FlyImages.Configuration;
using FlyImages.Images;
using FlyImages.Model;
using FlyImages.Sources;
using FlyImages.State;

namespace FlyImages.Cmdlets.Infrastructure;

/// <summary>Cmdlets that read images from a source share these parameters.</summary>
public abstract class SourceCmdlet : FlyCmdlet
{
    /// <summary>
    /// Where images come from: <c>s3://bucket/prefix</c>, a <c>file://</c> URI, or a local folder (relative to the
    /// current location) laid out as <c>&lt;folder&gt;/&lt;image&gt;/&lt;n&gt;.tar</c>. Default: the FLYIMAGES_SOURCE
    /// environment variable, else the public bucket s3://flyio-platform-hiring-challenge/images. Binds by property name
    /// from piped objects with a Source property.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Source { get; set; }

    /// <summary>
    /// URL of an S3-compatible service (MinIO, s3rver...), e.g. http://127.0.0.1:9000, addressed path-style. Default:
    /// the FLYIMAGES_S3_ENDPOINT environment variable, else AWS itself. Binds from piped images by property name (an
    /// image carries the endpoint it was listed through); empty means the default.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [AllowNull]
    [AllowEmptyString]
    public string? Endpoint { get; set; }

    /// <summary>
    /// The S3 region used to sign requests. Default: us-east-1. Binds from piped images by property name; empty means
    /// the default.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [AllowNull]
    [AllowEmptyString]
    public string? Region { get; set; } = FlyEnvironment.DefaultRegion;

    /// <summary>
    /// An access key (as the user name) and secret key (as the password), e.g. from Get-Credential. Default:
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, else the shared profile (AWS_PROFILE or
    /// 'default') when one exists, else anonymous requests. Instance metadata (EC2 IMDS) is never asked.
    /// </summary>
    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    /// <summary>
    /// A profile of the shared AWS credentials and config files (~/.aws/credentials, ~/.aws/config). A profile that
    /// does not exist is a SourceInvalid error. Default: the credentials described under -Credential. Binds from piped
    /// images by property name; empty means none.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [AllowNull]
    [AllowEmptyString]
    public string? ProfileName { get; set; }

    /// <summary>
    /// Send unsigned requests even when credentials are available (public buckets such as the default one). Binds
    /// from piped images by property name.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public SwitchParameter Anonymous { get; set; }

    /// <summary>The options these parameters describe; a folder -Source is resolved against the current location.</summary>
    protected SourceOptions BuildSourceOptions(string? sourceOverride = null) => new()
    {
        Source = SourceResolver.Absolute(this, sourceOverride ?? Source),
        Endpoint = NonEmpty(Endpoint),
        Region = NonEmpty(Region) ?? FlyEnvironment.DefaultRegion,
        ProfileName = NonEmpty(ProfileName),
        Anonymous = Anonymous.IsPresent,
        Credentials = Credentials(),
    };

    /// <summary>
    /// The options to reach a piped <paramref name="image"/>: its own source, and the endpoint, region and credential
    /// choice it was listed with, unless this command names them (a secret is never carried: -Credential only).
    /// </summary>
    protected SourceOptions BuildSourceOptions(Image image)
    {
        var bound = MyInvocation.BoundParameters;
        var carried = image.Source.StartsWith("s3://", StringComparison.OrdinalIgnoreCase);
        var ownCredentials = bound.ContainsKey(nameof(ProfileName)) || bound.ContainsKey(nameof(Credential)) || bound.ContainsKey(nameof(Anonymous));
        return new SourceOptions
        {
            Source = SourceResolver.Absolute(this, image.Source.Length == 0 ? Source : image.Source),
            Endpoint = NonEmpty(bound.ContainsKey(nameof(Endpoint)) || !carried ? Endpoint : image.Endpoint),
            Region = NonEmpty(bound.ContainsKey(nameof(Region)) || !carried ? Region : image.Region) ?? NonEmpty(Region) ?? FlyEnvironment.DefaultRegion,
            ProfileName = NonEmpty(ownCredentials || !carried ? ProfileName : image.ProfileName),
            Anonymous = ownCredentials || !carried ? Anonymous.IsPresent : image.Anonymous,
            Credentials = Credentials(),
        };
    }

    private static string? NonEmpty(string? text) => string.IsNullOrEmpty(text) ? null : text;

    private S3Credentials? Credentials()
        => Credential is null ? null : new S3Credentials(Credential.UserName, Credential.GetNetworkCredential().Password);

    /// <summary>
    /// <paramref name="image"/> carrying how it was reached (endpoint, region, profile name, anonymous: never a
    /// secret), so the next cmdlet in a pipeline repeats none of it. Folder sources carry nothing.
    /// </summary>
    protected static Image WithConnection(Image image, SourceOptions options)
        => image.Source.StartsWith("s3://", StringComparison.OrdinalIgnoreCase)
            ? image with
            {
                Endpoint = FlyEnvironment.ResolveEndpoint(options.Endpoint),
                Region = options.Region,
                ProfileName = options.ProfileName,
                Anonymous = options.Anonymous,
            }
            : image;

    /// <summary><paramref name="image"/> carrying the connection <paramref name="listed"/> was reached with.</summary>
    protected static Image WithConnectionOf(Image image, Image listed) => image with
    {
        Endpoint = listed.Endpoint,
        Region = listed.Region,
        ProfileName = listed.ProfileName,
        Anonymous = listed.Anonymous,
    };

    /// <summary>
    /// The images of the source named by <paramref name="options"/> whose names match <paramref name="names"/>
    /// (<see cref="NameMatcher"/>), each carrying its connection. A name without wildcards that matches nothing
    /// is an ImageNotFound error (non-terminating); a source that cannot be listed stops the pipeline.
    /// </summary>
    protected IReadOnlyList<Image> ResolveImageNames(SourceOptions options, FlyStore? store, IEnumerable<string> names)
    {
        var list = names.ToArray();
        var (matched, missing) = new NameMatcher(list).Select(LookUpImages(options, store, list) ?? ListSource(options, store), i => i.Name);
        WriteNotFound(missing, FlyEnvironment.ResolveSource(options.Source));
        return matched;
    }

    /// <summary>How many images one command looks up by their own prefix before it lists the whole source instead.</summary>
    public const int MaxImagesLookedUp = 16;

    private int lookedUp;

    /// <summary>
    /// The images named by <paramref name="names"/>, each from a listing of its own prefix and one store lookup, not a
    /// listing of the whole source. Null when the whole source must be listed: no names, a wildcard, more than
    /// <see cref="MaxImagesLookedUp"/> lookups in this command, or a name the source has not as typed (names match
    /// case-insensitively).
    /// </summary>
    protected IReadOnlyList<Image>? LookUpImages(SourceOptions options, FlyStore? store, IReadOnlyList<string>? names)
    {
        var exact = names?.Where(n => n is not null).Distinct(StringComparer.Ordinal).ToArray() ?? [];
        if (exact.Length == 0 || exact.Any(WildcardPattern.ContainsWildcardCharacters) || lookedUp + exact.Length > MaxImagesLookedUp)
        {
            return null;
        }

        lookedUp += exact.Length;
        var found = ReadSource(options, (source, context) => ImageCatalog.FindAsync(source, exact, store, context));
        return found.Count == exact.Length ? found : null;
    }

    private readonly Dictionary<(string?, string?, string, string?, bool, object?), (IReadOnlyList<Image> Images, DateTime At)> listings = [];

    /// <summary>
    /// Every image the source offers, with the store's state of each and its connection; a failure stops the pipeline.
    /// One command lists a source once while the listing is fresh (<see cref="FlyImages.Install.InstallOptions.ListingReuse"/>): images
    /// piped from Get-FlyImage bind to -Name by property name, and once the prefix lookups were spent, every later
    /// image listed the whole source again (a re-run over N Ready images cost N listings: quadratic).
    /// </summary>
    protected IReadOnlyList<Image> ListSource(SourceOptions options, FlyStore? store)
    {
        var key = (options.Source, options.Endpoint, options.Region, options.ProfileName, options.Anonymous, (object?)options.Credentials);
        if (listings.TryGetValue(key, out var seen) && DateTime.UtcNow - seen.At < ListingReuse)
        {
            return seen.Images;
        }

        var images = ReadSource(options, (source, context) => ImageCatalog.ListAsync(source, store, context));
        listings[key] = (images, DateTime.UtcNow);
        return images;
    }

    private static readonly TimeSpan ListingReuse = new FlyImages.Install.InstallOptions().ListingReuse;

    private IReadOnlyList<Image> ReadSource(SourceOptions options, Func<IImageSource, Operations.IOperationContext, Task<IReadOnlyList<Image>>> read)
    {
        try
        {
            var listed = RunCore(async context =>
            {
                using var source = ImageSourceFactory.Create(options, context);
                return await read(source, context).ConfigureAwait(false);
            });
            return listed.Select(i => WithConnection(i, options)).ToArray();
        }
        catch (Exception e) when (e is not PipelineStoppedException && !(e is OperationCanceledException && StopToken.IsCancellationRequested))
        {
            ThrowFlyError(e, options.Source);
            throw;
        }
    }

    /// <summary>One ImageNotFound error (non-terminating) per name, naming where it was looked for.</summary>
    protected void WriteNotFound(IEnumerable<string> names, string where)
    {
        foreach (var name in names)
        {
            WriteFlyError(ImageCatalog.NotFound(name, where), name);
        }
    }
}
