using System.Diagnostics;
using System.Globalization;
using FlyImages.Images;
using FlyImages.Install;
using FlyImages.Native;
using FlyImages.Sources;
using FlyImages.State;
using FlyImages.TestSupport;
using FlyImages.ThinPools;
using FlyImages.ThinPools.DeviceMapper;
using FlyImages.Workflows;
using Xunit;
using Xunit.Abstractions;

namespace FlyImages.Tests.ThinPools;

/// <summary>
/// Issue 15.6, the devicemapper half, for tests/bench/dm-snapshot-bench.sh: what New-FlyThinSnapshot's core
/// costs on a real devicemapper thin-pool (in the VM) against the raw baseline, <c>dmsetup message POOL 0
/// "create_snap N M"</c> + <c>dmsetup create NAME --table "0 S thin POOL N"</c> on the same pool, same run. Each
/// FlyImages round does what the cmdlet does per call: opens the pool from the store (its reconciliation) and
/// runs <see cref="SnapshotWorkflow.EnsureActiveAsync"/>. It only prints the figures (TRX StdOut, lines starting
/// <c>BENCH</c>): no timed assertion; what it asserts is that every snapshot became Active, that a reconciliation
/// reports the raw thin devices on the pool as unexplained (and nothing before them), and it removes all it made. Rounds: FLYIMAGES_DM_BENCH_ROUNDS (default 5, to stay cheap in CI's VM run).
/// </summary>
[Trait(Requirements.Category, Requirements.DeviceMapper)]
public sealed class DeviceMapperSnapshotBench(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory dir = new("flyimages-dmbench");
    private readonly string poolName = "sb" + Guid.NewGuid().ToString("N")[..8];
    private readonly RecordingContext context = new();

    private static int Rounds => int.TryParse(Environment.GetEnvironmentVariable("FLYIMAGES_DM_BENCH_ROUNDS"), CultureInfo.InvariantCulture, out var n) && n > 0 ? n : 5;

    public void Dispose() => dir.Dispose();

    [SkippableFact]
    public async Task Snapshots_by_the_workflow_against_raw_dmsetup()
    {
        Requirements.RequireDeviceMapper();
        Requirements.RequireLoopDevices();
        var store = FlyStore.Open(dir.Combine("store"));
        var folder = dir.Combine("source");
        PublicBucketLayout.WriteFolder(folder);
        var rounds = Rounds;
        var made = new List<string>();
        var raw = new List<(string Name, int Id)>();
        var catalog = new ThinPoolCatalog(store);
        string? dmPool = null;
        try
        {
            await catalog.InitializeAsync(new ThinPoolSpec { Name = poolName, Backend = ThinPoolBackendChoice.DeviceMapper, DataSize = 1L << 30 }, context);
            var installer = await ImageInstaller.OpenAsync(store, new InstallOptions { DeviceSize = 64L << 20 }, context, poolName);
            using var source = ImageSourceFactory.Create(new SourceOptions { Source = folder }, context);
            var image = (await ImageCatalog.ListAsync(source, store, context)).Single(i => i.Name == "golang");
            await installer.InstallAsync(source, image, context);

            // warm-up (JIT, first reconciliation), then the rounds: a fresh pool object per snapshot, as each cmdlet call opens it
            Assert.Empty((await (await new ThinPoolCatalog(store).OpenAsync(poolName, context)).ReconcileAsync(context)).Unexplained);
            var warm = await new SnapshotWorkflow(store, new PoolSnapshotSteps(await new ThinPoolCatalog(store).OpenAsync(poolName, context))).EnsureActiveAsync(image.Source, image.Name, "warm", context);
            made.Add("warm");
            var fly = new List<double>();
            var watch = new Stopwatch();
            for (var i = 0; i < rounds; i++)
            {
                watch.Restart();
                var pool = await new ThinPoolCatalog(store).OpenAsync(poolName, context);
                var snapshot = await new SnapshotWorkflow(store, new PoolSnapshotSteps(pool)).EnsureActiveAsync(image.Source, image.Name, $"s{i}", context);
                watch.Stop();
                made.Add(snapshot.Name);
                Assert.Equal(SnapshotState.Active, snapshot.State);
                Assert.True(File.Exists(snapshot.DevicePath), snapshot.DevicePath);
                fly.Add(watch.Elapsed.TotalMilliseconds);
            }

            // the baseline on the same pool: the origin is the image's top chain device, as for the workflow's snapshots
            var devices = new ThinPoolRepository(store);
            dmPool = devices.FindPool(poolName)!.DmName ?? poolName;
            var warmDevice = devices.FindDevice(poolName, warm.Device!)!;
            var origin = devices.FindDevice(poolName, warmDevice.OriginId!.Value)!;
            var sectors = origin.SizeBytes / 512;
            var shell = new List<double>();
            for (var i = 0; i < rounds; i++)
            {
                var id = 16_000_000 + i;
                var name = $"{dmPool}-raw{i}";
                watch.Restart();
                Dmsetup("message", dmPool, "0", $"create_snap {id} {origin.DeviceId}");
                raw.Add((name, id));
                Dmsetup("create", name, "--table", $"0 {sectors} thin /dev/mapper/{dmPool} {id}");
                watch.Stop();
                Assert.True(File.Exists($"/dev/mapper/{name}"), name);
                shell.Add(watch.Elapsed.TotalMilliseconds);
            }

            // the same two calls through the control device, in process: what of the workflow's time is device-mapper's
            var control = new DmControl(TimeSpan.FromMinutes(1));
            var direct = new List<double>();
            for (var i = 0; i < rounds; i++)
            {
                var id = 16_100_000 + i;
                var name = $"{dmPool}-ioctl{i}";
                watch.Restart();
                await control.MessageAsync(dmPool, $"create_snap {id} {origin.DeviceId}", null, CancellationToken.None);
                raw.Add((name, id));
                await control.CreateAsync(name, [new DmTarget(0, sectors, "thin", $"/dev/mapper/{dmPool} {id}")], CancellationToken.None);
                watch.Stop();
                Assert.True(File.Exists($"/dev/mapper/{name}"), name);
                direct.Add(watch.Elapsed.TotalMilliseconds);
            }

            // what no record explains is still found: the raw devices hold the pool (sysfs), so their tables are read
            var report = await (await new ThinPoolCatalog(store).OpenAsync(poolName, context)).ReconcileAsync(context);
            for (var i = 0; i < rounds; i++)
            {
                Assert.Contains(report.Unexplained, u => u.Contains($"'{dmPool}-raw{i}'", StringComparison.Ordinal));
            }

            var flyMedian = Median(fly);
            var shellMedian = Median(shell);
            Report($"BENCH rounds {rounds}; origin {origin.DeviceId} {origin.State} (an active origin is suspended and resumed around each of the workflow's snapshots, not the baseline's)");
            Report($"BENCH workflow_ms {string.Join(' ', fly.Select(v => v.ToString("0.0", CultureInfo.InvariantCulture)))}");
            Report($"BENCH dmsetup_ms {string.Join(' ', shell.Select(v => v.ToString("0.0", CultureInfo.InvariantCulture)))}");
            Report($"BENCH ioctl_ms {string.Join(' ', direct.Select(v => v.ToString("0.0", CultureInfo.InvariantCulture)))}");
            Report($"BENCH median workflow {flyMedian:0.0} ms, raw dmsetup message+create {shellMedian:0.0} ms, ratio {flyMedian / shellMedian:0.00}; the same message+create through the control device {Median(direct):0.0} ms");
            Report($"BENCH peak_rss_mib {Process.GetCurrentProcess().PeakWorkingSet64 >> 20}");
        }
        finally
        {
            foreach (var (name, id) in raw)
            {
                TryDmsetup("remove", name);
                TryDmsetup("message", dmPool!, "0", $"delete {id}");
            }

            if (new ThinPoolRepository(store).FindPool(poolName) is not null)
            {
                var pool = await new ThinPoolCatalog(store).OpenAsync(poolName, context);
                var snapshots = new SnapshotWorkflow(store, new PoolSnapshotSteps(pool));
                foreach (var name in made)
                {
                    await snapshots.RemoveAsync(snapshots.List().First(s => s.Name == name).Source, "golang", name, context);
                }

                await new ThinPoolCatalog(store).RemoveAsync(poolName, context);
            }

            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        }
    }

    private void Report(string line) => output.WriteLine(line);

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    /// <summary>dmsetup as a shell runs it: fork, exec, wait (udev off, as in FlyImages' own calls and the VM).</summary>
    private static void Dmsetup(params string[] arguments)
    {
        var start = new ProcessStartInfo("dmsetup") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["DM_DISABLE_UDEV"] = "1";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"dmsetup {string.Join(' ', arguments)}: exit {process.ExitCode}: {stderr.Result}");
    }

    private static void TryDmsetup(params string[] arguments)
    {
        try
        {
            Dmsetup(arguments);
        }
        catch (Xunit.Sdk.XunitException)
        {
        }
    }
}
