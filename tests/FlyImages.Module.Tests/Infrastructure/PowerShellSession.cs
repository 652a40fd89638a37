using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Reflection;
using FlyImages.TestSupport;

namespace FlyImages.Module.Tests.Infrastructure;

/// <summary>
/// A real PowerShell engine (System.Management.Automation, hosted) with the PUBLISHED FlyImages module
/// imported (ThrowOnRunspaceOpenError, so a broken module fails loudly). A recording host captures
/// -WhatIf text, prompts and formatted output.
/// </summary>
public sealed class PowerShellSession : IDisposable
{
    private readonly Runspace runspace;

    /// <param name="width">The console width the engine's formatting sees (default 160).</param>
    public PowerShellSession(int width = 160)
    {
        Host = new RecordingHost(width);
        var state = InitialSessionState.CreateDefault2();
        state.ImportPSModule(ModuleManifest);
        state.ThrowOnRunspaceOpenError = true;
        runspace = RunspaceFactory.CreateRunspace(Host, state);
        runspace.Open();
        using var plain = PowerShell.Create(runspace);
        plain.AddScript("$PSStyle.OutputRendering = 'PlainText'").Invoke();
    }

    /// <summary>The published module's manifest (bin/module/FlyImages/FlyImages.psd1, made by the build).</summary>
    public static string ModuleManifest { get; } = typeof(PowerShellSession).Assembly.GetCustomAttribute<ModulePathAttribute>()!.Path;

    public RecordingHost Host { get; }

    /// <summary>Runs <paramref name="script"/>; variables are set first. Never throws for script errors: inspect the result.</summary>
    public InvocationResult Invoke(string script, IDictionary<string, object?>? variables = null)
    {
        using var ps = Create(script, variables);
        Host.Clear();
        Collection<PSObject> output;
        RuntimeException? terminating = null;
        try
        {
            output = ps.Invoke();
        }
        catch (RuntimeException e)
        {
            output = [];
            terminating = e;
        }

        return new InvocationResult(output, ps.Streams.Error.ToList(), ps.Streams.Warning.Select(w => w.Message).ToList(),
            ps.Streams.Verbose.Select(v => v.Message).ToList(), ps.Streams.Progress.ToList(), terminating, Host.Text);
    }

    /// <summary>Starts <paramref name="script"/> without waiting (for Ctrl+C tests: call Stop on the handle).</summary>
    public PowerShell Start(string script, IDictionary<string, object?>? variables, out IAsyncResult handle)
    {
        var ps = Create(script, variables);
        handle = ps.BeginInvoke();
        return ps;
    }

    public void Dispose() => runspace.Dispose();

    private PowerShell Create(string script, IDictionary<string, object?>? variables)
    {
        var ps = PowerShell.Create(runspace);
        foreach (var (name, value) in variables ?? new Dictionary<string, object?>())
        {
            runspace.SessionStateProxy.SetVariable(name, value);
        }

        ps.AddScript(script);
        return ps;
    }
}

/// <summary>What a script produced.</summary>
public sealed record InvocationResult(
    IReadOnlyList<PSObject> Output,
    IReadOnlyList<ErrorRecord> Errors,
    IReadOnlyList<string> Warnings,
    IReadOnlyList<string> Verbose,
    IReadOnlyList<ProgressRecord> Progress,
    RuntimeException? Terminating,
    string HostText)
{
    /// <summary>Every error, the terminating one included.</summary>
    public IEnumerable<ErrorRecord> AllErrors => Terminating?.ErrorRecord is { } t ? Errors.Append(t) : Errors;

    public T[] Objects<T>() => Output.Select(o => o.BaseObject).OfType<T>().ToArray();

    public void ShouldSucceed()
    {
        if (Terminating is not null || Errors.Count > 0)
        {
            throw new Xunit.Sdk.XunitException("The script failed: " + string.Join(Environment.NewLine, AllErrors.Select(e => $"[{e.FullyQualifiedErrorId}] {e}")));
        }
    }
}
