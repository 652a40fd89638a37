using System.Diagnostics;
using System.Management.Automation;
using System.Net;
using System.Net.Sockets;
using FlyImages.Module.Tests.Infrastructure;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests.Health;

/// <summary>
/// Metrics of a store whose journal the real workflow machinery wrote (golang Ready, node Rejected), checked by the real
/// consumers from Debian: promtool (package prometheus) and prometheus-node-exporter's textfile collector.
/// </summary>
public sealed class ExportFlyMetricsTests(JournaledStore store, SavedStore folders) : IClassFixture<JournaledStore>, IClassFixture<SavedStore>, IDisposable
{
    private const string NodeExporter = "prometheus-node-exporter";

    private readonly PowerShellSession ps = new();

    private string Export(out InvocationResult result)
    {
        var folder = folders.NewFolder();
        result = ps.Invoke("Export-FlyMetrics -Path $dir -StorePath $store", new Dictionary<string, object?> { ["dir"] = folder, ["store"] = store.Path });
        return folder;
    }

    [Fact]
    public void The_file_is_written_atomically_with_the_store_figures_from_records_and_journal()
    {
        var folder = Export(out var r);
        r.ShouldSucceed();
        var file = Assert.Single(r.Output);
        Assert.Equal("FlyImages.Metrics.MetricsFile", file.TypeNames[0]);
        Assert.Equal(Path.Combine(folder, "flyimages.prom"), file.Properties["Path"].Value);
        Assert.Equal(["flyimages.prom"], Directory.GetFiles(folder).Select(Path.GetFileName));
        var text = File.ReadAllText(Path.Combine(folder, "flyimages.prom"));
        Assert.Contains("flyimages_images{state=\"Ready\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("flyimages_images{state=\"Rejected\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("flyimages_install_duration_seconds_count 1\n", text, StringComparison.Ordinal);
        Assert.Contains("flyimages_failures_total{error_id=\"ImageRejected\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("flyimages_failures_total{error_id=\"InstallFailed\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE flyimages_install_duration_seconds histogram\n", text, StringComparison.Ordinal);
        // the journaled store's steps are test doubles: nothing was downloaded
        Assert.Contains("# TYPE flyimages_fetched_bytes_total counter\n", text, StringComparison.Ordinal);
        Assert.Contains("flyimages_fetched_bytes_total 0\n", text, StringComparison.Ordinal);
        var samples = text.Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        Assert.All(samples, l => Assert.StartsWith("flyimages_", l, StringComparison.Ordinal));
        // no timestamps: a sample line is a name (with labels) and one value
        Assert.All(samples, l => Assert.Matches(@"^[a-z_]+(\{[^}]*\})? [^ ]+$", l));
        Assert.Equal(samples.Count, (int)file.Properties["Samples"].Value);

        // again: the file is replaced, nothing else is left in the folder
        ps.Invoke("Export-FlyMetrics -Path $dir -StorePath $store", new Dictionary<string, object?> { ["dir"] = folder, ["store"] = store.Path }).ShouldSucceed();
        Assert.Equal(["flyimages.prom"], Directory.GetFiles(folder).Select(Path.GetFileName));
    }

    [Fact]
    public void WhatIf_writes_nothing_and_a_missing_folder_is_MetricsWriteFailed()
    {
        var folder = folders.NewFolder();
        var r = ps.Invoke("Export-FlyMetrics -Path $dir -StorePath $store -WhatIf", new Dictionary<string, object?> { ["dir"] = folder, ["store"] = store.Path });
        r.ShouldSucceed();
        Assert.Empty(Directory.GetFiles(folder));
        Assert.Contains("flyimages.prom", r.HostText, StringComparison.Ordinal);

        var missing = ps.Invoke("Export-FlyMetrics -Path $dir -StorePath $store", new Dictionary<string, object?> { ["dir"] = Path.Combine(folder, "no"), ["store"] = store.Path });
        Assert.StartsWith("MetricsWriteFailed", Assert.Single(missing.Errors).FullyQualifiedErrorId, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Promtool_accepts_the_file()
    {
        Skip.IfNot(Requirements.OnPath("promtool") is not null, "not run: promtool is not installed (Debian package prometheus; tests/setup.sh installs it)");
        var folder = Export(out var r);
        r.ShouldSucceed();
        var (code, output) = Run("promtool", ["check", "metrics"], File.ReadAllText(Path.Combine(folder, "flyimages.prom")));
        Assert.True(code == 0, $"promtool check metrics exited {code}: {output}");
    }

    [SkippableFact]
    public async Task Node_exporter_serves_the_series_from_its_textfile_folder_over_loopback()
    {
        Skip.IfNot(Requirements.OnPath(NodeExporter) is not null, $"not run: {NodeExporter} is not installed (tests/setup.sh installs it)");
        var folder = folders.NewFolder();
        var r = ps.Invoke("Test-FlyImageStore -StorePath $store -MetricsPath $dir -Quiet", new Dictionary<string, object?> { ["dir"] = folder, ["store"] = store.Path });
        r.ShouldSucceed();
        Assert.True(File.Exists(Path.Combine(folder, "flyimages.prom")));

        var port = FreePort();
        var info = new ProcessStartInfo(NodeExporter) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { $"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults", "--collector.textfile", $"--collector.textfile.directory={folder}" })
        {
            info.ArgumentList.Add(a);
        }

        using var exporter = Process.Start(info)!;
        var log = exporter.StandardError.ReadToEndAsync();
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            string? body = null;
            for (var attempt = 0; attempt < 200 && body is null && !exporter.HasExited; attempt++)
            {
                try
                {
                    body = await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics"));
                }
                catch (HttpRequestException)
                {
                    await Task.Delay(50);
                }
            }

            Assert.True(body is not null, $"node_exporter did not answer: {(exporter.HasExited ? await log : "still starting")}");
            Assert.Contains("flyimages_images{state=\"Ready\"} 1", body, StringComparison.Ordinal);
            Assert.Contains("flyimages_install_duration_seconds_bucket{le=\"+Inf\"} 1", body, StringComparison.Ordinal);
            Assert.Contains("flyimages_failures_total{error_id=\"ImageRejected\"} 1", body, StringComparison.Ordinal);
            // the journaled store's chains have no devices: the round failed, so no passing time was recorded
            Assert.DoesNotContain("flyimages_last_passed_check_timestamp_seconds ", body, StringComparison.Ordinal);
            // the collector read the file without complaint
            Assert.Contains("node_textfile_scrape_error 0", body, StringComparison.Ordinal);
        }
        finally
        {
            exporter.Kill();
            exporter.WaitForExit();
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static (int Code, string Output) Run(string file, string[] args, string input)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var p = Process.Start(info)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        p.StandardInput.Write(input);
        p.StandardInput.Close();
        p.WaitForExit();
        return (p.ExitCode, output.Result + error.Result);
    }

    public void Dispose() => ps.Dispose();
}
