namespace FlyImages.Configuration;

/// <summary>Environment variables FlyImages reads, and the defaults they override.</summary>
public static class FlyEnvironment
{
    public const string SourceVariable = "FLYIMAGES_SOURCE";
    public const string EndpointVariable = "FLYIMAGES_S3_ENDPOINT";
    public const string HomeVariable = "FLYIMAGES_HOME";

    /// <summary>The public bucket of the challenge.</summary>
    public const string DefaultSource = "s3://flyio-platform-hiring-challenge/images";
    public const string DefaultRegion = "us-east-1";

    public static string ResolveSource(string? explicitSource)
        => NonEmpty(explicitSource) ?? NonEmpty(Environment.GetEnvironmentVariable(SourceVariable)) ?? DefaultSource;

    public static string? ResolveEndpoint(string? explicitEndpoint)
        => NonEmpty(explicitEndpoint) ?? NonEmpty(Environment.GetEnvironmentVariable(EndpointVariable));

    /// <summary>
    /// The store folder: the explicit path, else FLYIMAGES_HOME, else /var/lib/flyimages for root,
    /// else $XDG_DATA_HOME/flyimages (~/.local/share/flyimages).
    /// </summary>
    public static string ResolveStorePath(string? explicitPath)
    {
        var chosen = NonEmpty(explicitPath) ?? NonEmpty(Environment.GetEnvironmentVariable(HomeVariable));
        if (chosen is not null)
        {
            return Path.GetFullPath(chosen);
        }

        if (IsRoot())
        {
            return "/var/lib/flyimages";
        }

        var xdg = NonEmpty(Environment.GetEnvironmentVariable("XDG_DATA_HOME"));
        if (xdg is null || !Path.IsPathRooted(xdg))
        {
            xdg = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share");
        }

        return Path.Combine(xdg, "flyimages");
    }

    public static bool IsRoot() => OperatingSystem.IsLinux() && Native.Libc.geteuid() == 0;

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
