using FlyImages.Configuration;
using FlyImages.Operations;

namespace FlyImages.Sources;

/// <summary>Makes the source that -Source/-Endpoint/-Region name.</summary>
public static class ImageSourceFactory
{
    public static IImageSource Create(SourceOptions options, IOperationContext context)
    {
        var spec = SourceSpec.Parse(FlyEnvironment.ResolveSource(options.Source));
        if (spec.Kind == SourceKind.Directory)
        {
            return new DirectoryImageSource(spec);
        }

        var effective = new SourceOptions
        {
            Source = options.Source,
            Endpoint = FlyEnvironment.ResolveEndpoint(options.Endpoint),
            Region = string.IsNullOrWhiteSpace(options.Region) ? FlyEnvironment.DefaultRegion : options.Region,
            Credentials = options.Credentials,
            ProfileName = options.ProfileName,
            Anonymous = options.Anonymous,
            MaxAttempts = options.MaxAttempts,
            RetryBaseDelay = options.RetryBaseDelay,
            RequestTimeout = options.RequestTimeout,
        };
        return new S3ImageSource(spec, effective, context);
    }
}
