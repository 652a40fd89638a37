using System.Diagnostics;
using System.Text;
using FlyImages.Errors;

namespace FlyImages.Processes;

/// <summary>The outcome of an external command.</summary>
public sealed record ProcessResult(string FileName, IReadOnlyList<string> Arguments, int ExitCode, string StandardOutput, string StandardError, TimeSpan Duration)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>The command as a person would read it (for messages only; never executed).</summary>
    public string CommandText => string.Join(' ', new[] { FileName }.Concat(Arguments.Select(Quote)));

    private static string Quote(string a) => a.Length > 0 && a.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,+@%".Contains(c)) ? a : "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

/// <summary>
/// Runs external programs with an argv array (never a shell line), bounded in time and output,
/// cancellable. Output is read fully (capped) so a chatty child never blocks on a full pipe.
/// </summary>
public static class ProcessRunner
{
    private const int MaxCapturedChars = 1 << 20;

    public static async Task<ProcessResult> RunAsync(
        string fileName,
        IReadOnlyList<string> arguments,
        TimeSpan? timeout = null,
        IReadOnlyDictionary<string, string?>? environment = null,
        string? standardInput = null,
        CancellationToken cancellationToken = default)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = standardInput is not null,
            UseShellExecute = false,
            CreateNoWindow = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["LC_ALL"] = "C";
        if (environment is not null)
        {
            foreach (var (k, v) in environment)
            {
                if (v is null)
                {
                    info.Environment.Remove(k);
                }
                else
                {
                    info.Environment[k] = v;
                }
            }
        }

        var watch = Stopwatch.StartNew();
        using var process = new Process { StartInfo = info };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new FlyException(ErrorIds.ExternalCommandMissing, FlyErrorCategory.NotInstalled, $"'{fileName}' could not be started: {e.Message}", fileName, e);
        }

        var stdout = ReadCappedAsync(process.StandardOutput);
        var stderr = ReadCappedAsync(process.StandardError);
        if (standardInput is not null)
        {
            await process.StandardInput.WriteAsync(standardInput).ConfigureAwait(false);
            process.StandardInput.Close();
        }

        using var timeoutSource = timeout is null ? new CancellationTokenSource() : new CancellationTokenSource(timeout.Value);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeoutSource.Token);
        try
        {
            await process.WaitForExitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // already exited
            }

            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            if (cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            throw new FlyException(ErrorIds.ExternalCommandFailed, FlyErrorCategory.OperationTimeout,
                $"'{fileName} {string.Join(' ', arguments)}' did not finish within {timeout!.Value.TotalSeconds:0.#} s and was killed.", fileName);
        }

        return new ProcessResult(fileName, arguments.ToArray(), process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false), watch.Elapsed);
    }

    /// <summary>Runs and throws <see cref="FlyException"/> (ExternalCommandFailed) on a non-zero exit.</summary>
    public static async Task<ProcessResult> RunCheckedAsync(string fileName, IReadOnlyList<string> arguments, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var result = await RunAsync(fileName, arguments, timeout, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            throw new FlyException(ErrorIds.ExternalCommandFailed, FlyErrorCategory.InvalidResult,
                $"'{result.CommandText}' failed with exit code {result.ExitCode}: {result.StandardError.Trim()}", fileName);
        }

        return result;
    }

    private static async Task<string> ReadCappedAsync(StreamReader reader)
    {
        var builder = new StringBuilder();
        var buffer = new char[8192];
        int n;
        while ((n = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            if (builder.Length < MaxCapturedChars)
            {
                builder.Append(buffer, 0, Math.Min(n, MaxCapturedChars - builder.Length));
            }
        }

        return builder.ToString();
    }
}
