using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;

namespace FlyImages.TestSupport;

/// <summary>
/// A real S3 endpoint for tests: s3rver (npm, pinned in tests/s3rver/package-lock.json) started with node
/// on 127.0.0.1 and a random port; its PID is killed on dispose. Objects are seeded with unsigned PUTs
/// (signed aws-chunked PUTs are stored corrupted by s3rver; see shared/reference/s3-endpoint.md).
/// </summary>
public sealed partial class S3rverFixture : IDisposable
{
    private static readonly SemaphoreSlim InstallGate = new(1, 1);
    private readonly Process process;
    private readonly HttpClient http = new() { Timeout = TimeSpan.FromSeconds(60) };

    /// <summary>A guard against a hang, not a timing: node under emulation (the VM) on a loaded host takes over a minute to start.</summary>
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(5);

    public S3rverFixture() : this(PublicBucketLayout.Bucket, "empty-bucket")
    {
    }

    public S3rverFixture(params string[] buckets)
    {
        EnsureInstalled();
        DataDirectory = new TempDirectory("flyimages-s3rver");
        var node = FindNode();
        var info = new ProcessStartInfo(node)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = ServerDirectory,
        };
        foreach (var a in new[] { "--openssl-legacy-provider", Path.Combine("node_modules", "s3rver", "bin", "s3rver.js"), "-d", DataDirectory.Path, "-a", "127.0.0.1", "-p", "0", "--silent" })
        {
            info.ArgumentList.Add(a);
        }

        foreach (var b in buckets)
        {
            info.ArgumentList.Add("--configure-bucket");
            info.ArgumentList.Add(b);
        }

        process = Process.Start(info) ?? throw new InvalidOperationException("node did not start");
        var started = DateTime.UtcNow;
        while (true)
        {
            var line = process.StandardOutput.ReadLine();
            if (line is null)
            {
                throw new InvalidOperationException($"s3rver exited before listening: {process.StandardError.ReadToEnd()}");
            }

            var m = ListeningPattern().Match(line);
            if (m.Success)
            {
                Port = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                break;
            }

            if (DateTime.UtcNow - started > StartTimeout)
            {
                throw new TimeoutException($"s3rver did not report its port within {StartTimeout.TotalSeconds:0} s");
            }
        }

        // drain the pipes so a chatty server never blocks
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
    }

    public static string ServerDirectory => Path.Combine(RepoPaths.Tests, "s3rver");

    public TempDirectory DataDirectory { get; }

    public int Port { get; }

    public string Endpoint => $"http://127.0.0.1:{Port}";

    /// <summary>Puts an object (unsigned). Keys are escaped per segment.</summary>
    public async Task PutAsync(string bucket, string key, byte[] content)
    {
        using var body = new ByteArrayContent(content);
        using var response = await http.PutAsync($"{Endpoint}/{bucket}/{EscapeKey(key)}", body).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"PUT {bucket}/{key}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync().ConfigureAwait(false)}");
        }
    }

    public async Task DeleteAsync(string bucket, string key)
    {
        using var response = await http.DeleteAsync($"{Endpoint}/{bucket}/{EscapeKey(key)}").ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
    }

    public static string EscapeKey(string key) => string.Join('/', key.Split('/').Select(Uri.EscapeDataString));

    public void Dispose()
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        process.Dispose();
        http.Dispose();
        DataDirectory.Dispose();
    }

    /// <summary>Runs <c>npm ci</c> once when node_modules is missing (a lock file keeps parallel test processes apart).</summary>
    private static void EnsureInstalled()
    {
        var marker = Path.Combine(ServerDirectory, "node_modules", "s3rver", "bin", "s3rver.js");
        if (File.Exists(marker))
        {
            return;
        }

        InstallGate.Wait();
        try
        {
            using var fileLock = AcquireFileLock(Path.Combine(Path.GetTempPath(), "flyimages-s3rver-npm.lock"));
            if (File.Exists(marker))
            {
                return;
            }

            var npm = new ProcessStartInfo("npm") { WorkingDirectory = ServerDirectory, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "ci", "--no-audit", "--no-fund" })
            {
                npm.ArgumentList.Add(a);
            }

            using var p = Process.Start(npm) ?? throw new InvalidOperationException("npm did not start (is Node.js installed?)");
            var err = p.StandardError.ReadToEndAsync();
            p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0)
            {
                throw new InvalidOperationException($"npm ci in {ServerDirectory} failed: {err.Result}");
            }
        }
        finally
        {
            InstallGate.Release();
        }
    }

    private static FileStream AcquireFileLock(string path)
    {
        for (var i = 0; ; i++)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (i < 600)
            {
                Thread.Sleep(200);
            }
        }
    }

    private static string FindNode() => Requirements.OnPath("node")
        ?? throw new InvalidOperationException("node was not found on PATH: the S3 tests need Node.js (apt-get install nodejs npm).");

    [GeneratedRegex(@"listening on 127\.0\.0\.1:(\d+)")]
    private static partial Regex ListeningPattern();
}
