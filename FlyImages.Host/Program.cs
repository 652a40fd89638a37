using System.Management.Automation;
using System.Management.Automation.Runspaces;
using FlyImages.Host;

var line = CommandLine.Parse(args);
if (line.ShowHelp)
{
    Console.Out.WriteLine(CommandLine.Usage);
    return 0;
}

if (line.Error is not null)
{
    Console.Error.WriteLine(line.Error);
    Console.Error.WriteLine(CommandLine.Usage);
    return 64;
}

var host = new ConsoleHost(line.NonInteractive || Console.IsInputRedirected);
var state = InitialSessionState.CreateDefault2();
var manifest = Environment.GetEnvironmentVariable("FLYIMAGES_MODULE") is { Length: > 0 } overridePath
    ? overridePath
    : Path.Combine(AppContext.BaseDirectory, "FlyImages.psd1");
state.ImportPSModule(manifest);
state.ThrowOnRunspaceOpenError = true;
using var runspace = RunspaceFactory.CreateRunspace(host, state);
try
{
    runspace.Open();
}
catch (Exception e) when (e is RuntimeException or InvalidOperationException)
{
    Console.Error.WriteLine($"The FlyImages module could not be imported from '{manifest}': {e.Message}");
    return 70;
}

if (Console.IsOutputRedirected || Environment.GetEnvironmentVariable("NO_COLOR") is not null)
{
    // no escape sequences in files, pipes and CI logs
    using var plain = PowerShell.Create(runspace);
    plain.AddScript("$PSStyle.OutputRendering = 'PlainText'").Invoke();
}

using var ps = PowerShell.Create(runspace);
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // Ctrl+C stops the pipeline (StopProcessing), like pwsh; a second one kills the process.
    if (!cancel.IsCancellationRequested)
    {
        e.Cancel = true;
        cancel.Cancel();
        ps.BeginStop(null, null);
    }
};

string? script = line.Command;
if (script == "-")
{
    script = Console.In.ReadToEnd();
}

if (script is not null)
{
    ps.AddScript(script);
}
else
{
    var path = Path.GetFullPath(line.File!);
    if (!File.Exists(path))
    {
        Console.Error.WriteLine($"The script file '{line.File}' does not exist.");
        return 64;
    }

    ps.AddCommand(path);
    AddFileArguments(ps, line.FileArguments);
}

// Errors go through Out-Default like output, so they are formatted the way pwsh formats them.
ps.Commands.Commands[0].MergeMyResults(PipelineResultTypes.Error, PipelineResultTypes.Output);
ps.AddCommand("Out-Default");
try
{
    ps.Invoke();
}
catch (PipelineStoppedException)
{
    return 130;
}
catch (RuntimeException e)
{
    if (host.ExitCode is { } code)
    {
        return code;
    }

    Console.Error.WriteLine(e.ErrorRecord?.ToString() ?? e.Message);
    if (e.ErrorRecord?.InvocationInfo?.PositionMessage is { Length: > 0 } where)
    {
        Console.Error.WriteLine(where);
    }

    return 1;
}

if (host.ExitCode is { } exit)
{
    return exit;
}

// 'exit n' inside a -File script ends that script and sets $LASTEXITCODE (pwsh -File returns it)
if (line.File is not null && runspace.SessionStateProxy.GetVariable("LASTEXITCODE") is int fileExit)
{
    return fileExit;
}

if (cancel.IsCancellationRequested)
{
    return 130;
}

return ps.HadErrors ? 1 : 0;

static void AddFileArguments(PowerShell ps, IReadOnlyList<string> arguments)
{
    for (var i = 0; i < arguments.Count; i++)
    {
        var a = arguments[i];
        if (a.Length > 1 && a[0] == '-' && !char.IsDigit(a[1]))
        {
            var colon = a.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                ps.AddParameter(a[1..colon], a[(colon + 1)..]);
            }
            else if (i + 1 < arguments.Count && !(arguments[i + 1].StartsWith('-') && arguments[i + 1].Length > 1 && !char.IsDigit(arguments[i + 1][1])))
            {
                ps.AddParameter(a[1..], arguments[++i]);
            }
            else
            {
                ps.AddParameter(a[1..], true);
            }
        }
        else
        {
            ps.AddArgument(a);
        }
    }
}
