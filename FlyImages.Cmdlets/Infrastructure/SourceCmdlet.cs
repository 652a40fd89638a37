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
    /// the FLYIMAGES_S3_ENDPOINT environment variable, else AWS itself.
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Endpoint { get; set; }

    /// <summary>The S3 region used to sign requests. Default: us-east-1.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Region { get; set; } = FlyEnvironment.DefaultRegion;

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
    /// does not exist is a SourceInvalid error. Default: the credentials described under -Credential.
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ProfileName { get; set; }

    /// <summary>
    /// Send unsigned requests even when credentials are available (public buckets such as the default one).
    /// </summary>
    [Parameter]
    public SwitchParameter Anonymous { get; set; }

    /// <summary>The options these parameters describe; a folder -Source is resolved against the current location.</summary>
    protected SourceOptions BuildSourceOptions(string? sourceOverride = null)
    {
        var source = sourceOverride ?? Source;
        if (source is not null && !source.Contains("://", StringComparison.Ordinal))
        {
            source = GetUnresolvedProviderPathFromPSPath(source);
        }

        return new SourceOptions
        {
            Source = source,
            Endpoint = Endpoint,
            Region = Region,
            ProfileName = ProfileName,
            Anonymous = Anonymous.IsPresent,
            Credentials = Credential is null ? null : new S3Credentials(Credential.UserName, Credential.GetNetworkCredential().Password),
        };
    }

    /// <summary>
    /// The images of the source named by <paramref name="options"/> whose names match <paramref name="names"/>
    /// (wildcards, case-insensitive). A name without wildcards that matches nothing is an ImageNotFound error
    /// (non-terminating); a source that cannot be listed stops the pipeline.
    /// </summary>
    protected List<Image> ResolveImageNames(SourceOptions options, FlyStore? store, IEnumerable<string> names)
    {
        IReadOnlyList<Image> listed;
        try
        {
            listed = RunCore(async context =>
            {
                using var source = ImageSourceFactory.Create(options, context);
                return await ImageCatalog.ListAsync(source, store, context).ConfigureAwait(false);
            });
        }
        catch (Exception e) when (e is not PipelineStoppedException && !(e is OperationCanceledException && StopToken.IsCancellationRequested))
        {
            ThrowFlyError(e, options.Source);
            throw;
        }

        var (matched, missing) = MatchNames(listed, names.Distinct(StringComparer.OrdinalIgnoreCase));
        WriteNotFound(missing, FlyEnvironment.ResolveSource(options.Source));
        return matched;
    }

    /// <summary>
    /// The images whose names match any of <paramref name="names"/> (wildcards, case-insensitive), in
    /// <paramref name="images"/>' order, and the names without wildcards that matched nothing.
    /// </summary>
    protected static (List<Image> Matched, List<string> Missing) MatchNames(IEnumerable<Image> images, IEnumerable<string> names)
    {
        var patterns = names.Select(n => (Text: n, Pattern: WildcardPattern.Get(n, WildcardOptions.IgnoreCase))).ToList();
        var found = new bool[patterns.Count];
        var matched = new List<Image>();
        foreach (var image in images)
        {
            var match = false;
            for (var i = 0; i < patterns.Count; i++)
            {
                if (patterns[i].Pattern.IsMatch(image.Name))
                {
                    found[i] = match = true;
                }
            }

            if (match)
            {
                matched.Add(image);
            }
        }

        var missing = patterns.Where((p, i) => !found[i] && !WildcardPattern.ContainsWildcardCharacters(p.Text)).Select(p => p.Text).ToList();
        return (matched, missing);
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
