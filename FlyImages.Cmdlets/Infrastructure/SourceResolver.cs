using System.Management.Automation;
using FlyImages.Configuration;
using FlyImages.Sources;

namespace FlyImages.Cmdlets.Infrastructure;

/// <summary>
/// The one reading of a -Source argument, for every cmdlet that takes one: <c>s3://bucket/prefix</c>, a
/// <c>file://</c> URI, or a folder path relative to the current PowerShell location (not the process's
/// working folder). A folder and its <c>file://</c> URI are the same source.
/// </summary>
internal static class SourceResolver
{
    /// <summary>
    /// The argument as the core reads it: a path made absolute against <paramref name="cmdlet"/>'s current
    /// location; URIs unchanged; null stays null (the core then uses FLYIMAGES_SOURCE or the public bucket).
    /// </summary>
    public static string? Absolute(PSCmdlet cmdlet, string? source)
    {
        if (string.IsNullOrEmpty(source) || IsUri(source))
        {
            return source;
        }

        return cmdlet.GetUnresolvedProviderPathFromPSPath(source);
    }

    /// <summary>
    /// The canonical URI the store records for the source (<c>s3://bucket/prefix</c> or <c>file:///path</c>);
    /// null gives the default source's. Throws SourceInvalid (a FlyException) for a malformed source.
    /// </summary>
    public static string Canonical(PSCmdlet cmdlet, string? source)
        => SourceSpec.Parse(FlyEnvironment.ResolveSource(Absolute(cmdlet, source))).Uri;

    private static bool IsUri(string text)
        => text.StartsWith("file:", StringComparison.OrdinalIgnoreCase) || text.Contains("://", StringComparison.Ordinal);
}
