using System.Diagnostics;
using System.Reflection;

namespace FlyImages.Tests.Workflows;

/// <summary>Runs tests/FlyImages.TestAgent (a real InstallWorkflow in its own process) with `dotnet`.</summary>
internal static class TestAgent
{
    public static string Dll { get; } = Path.GetFullPath(typeof(TestAgent).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "FlyImages.TestAgent").Value!);

    public static Process Start(params string[] arguments)
    {
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Dll);
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        return Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start");
    }

    public static async Task<(int Exit, string Output)> RunAsync(params string[] arguments)
    {
        using var p = Start(arguments);
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, await output + await error);
    }
}
