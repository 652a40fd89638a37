using System.Diagnostics;
using System.Reflection;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests;

/// <summary>FlyImages.Host as a user runs it: a process with -Command / -File, exit codes, output through the views.</summary>
public sealed class HostTests : IDisposable
{
    private static readonly string HostDll = Path.GetFullPath(typeof(HostTests).Assembly.GetCustomAttribute<HostPathAttribute>()!.Path);
    private readonly TempDirectory dir = new("flyimages-host");

    [Fact]
    public void Command_lists_a_folder_source_through_the_table_view()
    {
        PublicBucketLayout.WriteFolder(dir.Combine("src"));
        var r = Run("-NoProfile", "-NonInteractive", "-Command", $"Get-FlyImage -Source {dir.Combine("src")} -StorePath {dir.Combine("store")}");
        Assert.Equal(0, r.ExitCode);
        Assert.Matches(@"Name\s+Layers\s+Size\s+State", r.Stdout);
        Assert.Matches(@"golang\s+5\s+[\d.]+ KiB\s+Remote", r.Stdout);
        Assert.DoesNotContain("\u001b[", r.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("exit 7", 7)]
    [InlineData("throw 'boom'", 1)]
    [InlineData("Get-FlyImage -Source /nonexistent/flyimages-src", 1)]
    [InlineData("1 + 1", 0)]
    public void Exit_codes_follow_pwsh(string script, int expected)
    {
        var r = Run("-Command", script);
        Assert.Equal(expected, r.ExitCode);
    }

    [Fact]
    public void A_failing_command_names_the_problem_without_a_stack_trace()
    {
        var r = Run("-Command", "Get-FlyImage -Source /nonexistent/flyimages-src");
        Assert.Contains("does not exist", r.Stderr + r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", r.Stderr + r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void File_runs_a_script_with_named_and_positional_arguments()
    {
        var script = dir.Combine("s.ps1");
        File.WriteAllText(script, "param([string]$Name, [int]$Code, [switch]$Loud, [Parameter(Position = 0)]$First) \"$First-$Name-$Loud\"; exit $Code");
        var r = Run("-File", script, "pos", "-Name", "golang", "-Loud", "-Code", "3");
        Assert.Equal(3, r.ExitCode);
        Assert.Contains("pos-golang-True", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_options_print_usage_and_fail()
    {
        var r = Run("-Bogus");
        Assert.Equal(64, r.ExitCode);
        Assert.Contains("Usage", r.Stderr, StringComparison.Ordinal);
    }

    private static (int ExitCode, string Stdout, string Stderr) Run(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        info.ArgumentList.Add(HostDll);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var p = Process.Start(info)!;
        p.StandardInput.Close();
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(true);
            throw new TimeoutException("the host did not exit");
        }

        return (p.ExitCode, stdout, stderr.Result);
    }

    public void Dispose() => dir.Dispose();
}
