using FlyImages.Module.Tests.Infrastructure;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests.Install;

/// <summary>
/// kill -9 mid-way, as a user's process would die: real pwsh (the pinned dotnet tool) running the packaged
/// module and installing an image is
/// SIGKILLed again and again (each time after a different number of its verbose lines, so the points
/// are the same at any machine speed), then one more install must end Ready with nothing leaked (no
/// mount, no loop device) and no sealed chain made twice.
/// </summary>
[Collection(SeededS3Collection.Name)]
public sealed class CrashRecoveryTests(SeededS3 s3) : IDisposable
{
    private readonly PowerShellSession ps = new();
    private readonly TempDirectory store = new("flyimages-crash");
    private readonly string pool = "cr" + Guid.NewGuid().ToString("N")[..8];

    private Dictionary<string, object?> Vars => new() { ["ep"] = s3.Endpoint, ["src"] = PublicBucketLayout.SourceUri, ["store"] = store.Path, ["pool"] = pool };

    [SkippableFact]
    public async Task An_install_killed_mid_way_again_and_again_ends_Ready_on_the_next_run_with_nothing_leaked()
    {
        Requirements.RequireLoopDevices();
        Pwsh.Require();
        ps.Invoke("Initialize-FlyThinPool -Name $pool -Backend BlockFile -DataSize 2GB -StorePath $store", Vars).ShouldSucceed();
        var command = $"Install-FlyImage node -Source {PublicBucketLayout.SourceUri} -Endpoint {s3.Endpoint} -StorePath {store.Path} -DeviceSize 128MB -Verbose";
        var killedMidway = 0;
        foreach (var killAfter in new[] { 2, 5, 9, 14, 20, 27 })
        {
            using var child = Pwsh.Start(command);
            var drainErr = child.Launcher.StandardError.ReadToEndAsync();
            var verbose = 0;
            string? line;
            while ((line = await child.Output.ReadLineAsync()) is not null)
            {
                if (line.StartsWith("VERBOSE:", StringComparison.Ordinal) && ++verbose >= killAfter)
                {
                    child.KillPwsh(); // SIGKILL: no finally blocks, no cleanup
                    killedMidway++;
                    break;
                }
            }

            await child.Output.ReadToEndAsync();
            await child.Launcher.WaitForExitAsync();
            await drainErr;
        }

        var r = ps.Invoke("Install-FlyImage node -Source $src -Endpoint $ep -StorePath $store -DeviceSize 128MB", Vars);
        r.ShouldSucceed();
        Assert.Equal("Ready", Assert.Single(r.Output).Properties["State"].Value.ToString());
        Assert.True(killedMidway > 0, "no run was killed before it finished: the test proved nothing");

        // nothing leaked: no chain mount, no loop device on a device image (sealed chains are detached); a pool
        // on its own reflink filesystem keeps that mounted, as a devicemapper pool keeps its table: it is the pool
        Assert.Empty(Leaks.MountsUnder(Path.Combine(store.Path, "mounts")));
        Assert.Empty(Leaks.LoopDevicesUnder(Path.Combine(store.Path, "pools", pool, "devices")));

        // every chain of the image is sealed, and each chain was sealed exactly once
        var events = ps.Invoke("Get-FlyImageEvent node -StorePath $store -Kind make-chain", Vars);
        events.ShouldSucceed();
        var seals = events.Output.Where(e => (string)e.Properties["To"].Value == "Sealed").Select(e => (string)e.Properties["Key"].Value).ToList();
        Assert.Equal(seals.Distinct().Count(), seals.Count);
    }

    public void Dispose()
    {
        // the folder goes, with what the pool keeps mounted and attached (TempDirectory takes those down)
        ps.Dispose();
        store.Dispose();
    }
}
