using FlyImages.Configuration;

namespace FlyImages.Sources;

/// <summary>Where images come from and how to reach them.</summary>
public sealed class SourceOptions
{
    /// <summary>-Source as given (null: FLYIMAGES_SOURCE, else the public bucket).</summary>
    public string? Source { get; init; }

    /// <summary>URL of an S3-compatible service (null: FLYIMAGES_S3_ENDPOINT, else AWS).</summary>
    public string? Endpoint { get; init; }

    public string Region { get; init; } = FlyEnvironment.DefaultRegion;

    /// <summary>Explicit credentials; null means: a named profile, else the SDK chain, else anonymous.</summary>
    public S3Credentials? Credentials { get; init; }

    /// <summary>A profile of the shared AWS credentials file.</summary>
    public string? ProfileName { get; init; }

    /// <summary>Force unsigned requests even when credentials are found.</summary>
    public bool Anonymous { get; init; }

    /// <summary>Attempts for transient failures (1 = no retry).</summary>
    public int MaxAttempts { get; init; } = 4;

    /// <summary>First backoff delay; grows exponentially with jitter.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Timeout of one request.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>An access key pair, with an optional session token.</summary>
public sealed record S3Credentials(string AccessKeyId, string SecretAccessKey, string? SessionToken = null);
