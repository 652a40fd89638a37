using FlyImages.Errors;
using FlyImages.Processes;

namespace FlyImages.Tests.ThinPools;

/// <summary>
/// The dmsetup CLI without udev (as tests/vm runs it): the independent reader of the kernel's device-mapper state that
/// the devicemapper tests check FlyImages (which talks to the control device itself) against, and their clean-up tool.
/// </summary>
internal static class DmsetupCli
{
    private static readonly IReadOnlyDictionary<string, string?> NoUdev = new Dictionary<string, string?> { ["DM_DISABLE_UDEV"] = "1" };

    /// <summary>Runs dmsetup and returns its result whatever the exit code (clean-up that tolerates what is already gone).</summary>
    public static Task<ProcessResult> RunAsync(params string[] arguments)
        => ProcessRunner.RunAsync("dmsetup", arguments, TimeSpan.FromMinutes(2), NoUdev);

    /// <summary>Its standard output; a <see cref="FlyException"/> naming the command and its error when it fails.</summary>
    public static async Task<string> OutputAsync(params string[] arguments)
    {
        var result = await RunAsync(arguments);
        return result.Succeeded
            ? result.StandardOutput
            : throw new FlyException(ErrorIds.ExternalCommandFailed, FlyErrorCategory.InvalidResult, $"'{result.CommandText}' failed: {result.StandardError.Trim()}", null);
    }
}
