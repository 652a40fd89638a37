using System.Diagnostics;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests.Infrastructure;

/// <summary>
/// Real pwsh, as users run the module: the PowerShell dotnet tool pinned in .config/dotnet-tools.json
/// (`dotnet pwsh`, restored by tests/setup.sh), importing the packaged module (the same publish the hosted
/// engine imports, <see cref="PowerShellSession.ModuleManifest"/>) in its own process.
/// </summary>
public static class Pwsh
{
    private static readonly Lazy<string?> Missing = new(Probe);

    /// <summary>Skips (saying why) when `dotnet pwsh` cannot start here: the tool manifest was not restored.</summary>
    public static void Require() => Skip.If(Missing.Value is not null, Missing.Value);

    /// <summary>
    /// Starts `dotnet pwsh -NoProfile -NonInteractive -Command` with the packaged module imported first; stdin
    /// closed. Output (verbose lines included: pwsh writes them to stdout) is read from <see cref="PwshProcess.Output"/>.
    /// </summary>
    public static PwshProcess Start(string script)
    {
        var manifest = Path.GetFullPath(PowerShellSession.ModuleManifest).Replace("'", "''", StringComparison.Ordinal);
        var info = Info("-NoProfile", "-NonInteractive", "-Command",
            $"$ErrorActionPreference = 'Stop'; $PSStyle.OutputRendering = 'PlainText'; 'pwsh-pid ' + $PID; Import-Module '{manifest}'; {script}");
        return new PwshProcess(Process.Start(info)!);
    }

    /// <summary>Runs <paramref name="script"/> to the end: exit code, stdout and stderr.</summary>
    public static (int ExitCode, string Stdout, string Stderr) Run(string script)
    {
        using var p = Start(script);
        var stderr = p.Launcher.StandardError.ReadToEndAsync();
        var stdout = p.Output.ReadToEnd();
        p.Launcher.WaitForExit();
        return (p.Launcher.ExitCode, stdout, stderr.Result);
    }

    private static ProcessStartInfo Info(params string[] args)
    {
        // the tool manifest is found from the working folder upwards
        var info = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true,
            WorkingDirectory = RepoPaths.Root,
        };
        info.ArgumentList.Add("pwsh");
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["NO_COLOR"] = "1";
        return info;
    }

    private static string? Probe()
    {
        try
        {
            using var p = Process.Start(Info("-NoProfile", "-NonInteractive", "-Command", "exit 0"))!;
            p.StandardInput.Close();
            var stderr = p.StandardError.ReadToEndAsync();
            p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode == 0 ? null
                : $"not run: `dotnet pwsh` does not start (run `dotnet tool restore`, as tests/setup.sh does): {stderr.Result.Trim()}";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"not run: dotnet is not on PATH ({e.Message})";
        }
    }
}

/// <summary>
/// A running pwsh. `dotnet pwsh` is three processes (the dotnet CLI, the tool's shim, pwsh itself); pwsh's
/// first output line names its own process id, so <see cref="KillPwsh"/> SIGKILLs pwsh, not the launcher
/// in front of it (the launchers then exit with it).
/// </summary>
public sealed class PwshProcess : IDisposable
{
    internal PwshProcess(Process launcher)
    {
        Launcher = launcher;
        launcher.StandardInput.Close();
        var first = launcher.StandardOutput.ReadLine();
        if (first is null || !first.StartsWith("pwsh-pid ", StringComparison.Ordinal))
        {
            launcher.WaitForExit();
            throw new InvalidOperationException($"pwsh did not start: first output '{first}', errors: {launcher.StandardError.ReadToEnd()}");
        }

        PwshId = int.Parse(first["pwsh-pid ".Length..], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The `dotnet pwsh` process this test started (the outermost of the three).</summary>
    public Process Launcher { get; }

    /// <summary>The process id of pwsh itself.</summary>
    public int PwshId { get; }

    /// <summary>pwsh's stdout after its first line (output, and verbose lines).</summary>
    public StreamReader Output => Launcher.StandardOutput;

    /// <summary>SIGKILL to pwsh itself: no finally blocks, no cleanup.</summary>
    public void KillPwsh()
    {
        try
        {
            using var pwsh = Process.GetProcessById(PwshId);
            pwsh.Kill(entireProcessTree: false);
        }
        catch (ArgumentException)
        {
            // it has already exited
        }
    }

    public void Dispose() => Launcher.Dispose();
}
