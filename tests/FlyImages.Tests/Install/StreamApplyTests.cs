using System.Formats.Tar;
using System.Text;
using FlyImages.Content;
using FlyImages.Engine;
using FlyImages.Install;
using FlyImages.Model;
using FlyImages.Processes;
using FlyImages.Sources;
using FlyImages.TestSupport;
using FlyImages.ThinPools;
using FlyImages.Workflows;
using Xunit;

namespace FlyImages.Tests.Install;

/// <summary>An image whose first layer spans many fetch parts, on one s3rver.</summary>
public sealed class StreamS3 : IAsyncLifetime, IDisposable
{
    public const string Image = "stream";

    /// <summary>Files in layer 1, each <see cref="FileBytes"/> long: 2 MiB in all, 32 parts of 64 KiB.</summary>
    public const int Files = 64;

    public const int FileBytes = 32 * 1024;

    public S3rverFixture Server { get; } = new();

    public async Task InitializeAsync()
    {
        await Server.PutAsync(PublicBucketLayout.Bucket, $"{PublicBucketLayout.Prefix}/{Image}/1.tar", LayerOne());
        await Server.PutAsync(PublicBucketLayout.Bucket, $"{PublicBucketLayout.Prefix}/{Image}/2.tar", LayerTwo());
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => Server.Dispose();

    /// <summary>The content of file <paramref name="i"/> of layer 1 (incompressible, different per file).</summary>
    public static byte[] Content(int i)
    {
        var bytes = new byte[FileBytes];
        new Random(i).NextBytes(bytes);
        return bytes;
    }

    private static byte[] LayerOne()
    {
        using var memory = new MemoryStream();
        using (var writer = new TarWriter(memory, TarEntryFormat.Ustar, leaveOpen: true))
        {
            writer.WriteEntry(new UstarTarEntry(TarEntryType.Directory, "data/"));
            for (var i = 0; i < Files; i++)
            {
                writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, $"data/file-{i:000}") { DataStream = new MemoryStream(Content(i)) });
            }
        }

        return memory.ToArray();
    }

    private static byte[] LayerTwo()
    {
        using var memory = new MemoryStream();
        using (var writer = new TarWriter(memory, TarEntryFormat.Ustar, leaveOpen: true))
        {
            writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, "data/.wh.file-000") { DataStream = new MemoryStream() });
            writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, "etc/layer-2") { DataStream = new MemoryStream(Encoding.UTF8.GetBytes("layer 2\n")) });
        }

        return memory.ToArray();
    }
}

/// <summary>
/// Issue 15.1: a layer is applied while its blob downloads, onto a device of the run's own, and becomes the layer's chain only
/// once the blob is verified; bytes that fail verification never reach a chain. Real s3rver behind a proxy that holds a
/// part back until the test has seen the layer being applied, real pools.
/// </summary>
public abstract class StreamApplyTests : IClassFixture<StreamS3>, IAsyncLifetime
{
    private const long PartSize = 64 * 1024;

    /// <summary>The part the proxy holds back: half the layer has arrived by then.</summary>
    private const long HeldPart = 16;

    private readonly InstallTestBed bed;
    private ImageInstaller? installer;

    protected StreamApplyTests(StreamS3 s3)
    {
        bed = new InstallTestBed(s3.Server, "stream", "strm");
    }

    protected abstract ThinPoolBackendChoice Backend { get; }

    protected abstract void RequireBackend();

    /// <summary>Small parts fetched one at a time, so the layer arrives in order and a held part stops it half-way.</summary>
    private static InstallOptions Options { get; } = new()
    {
        DeviceSize = 256L << 20,
        Fetch = new FetchOptions { PartSize = PartSize, PartConcurrency = 1, MaxPartConcurrency = 1 },
    };

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => bed.DisposeAsync().AsTask();

    [SkippableFact]
    public async Task A_layer_is_applied_while_its_blob_downloads_and_becomes_its_chain_once_the_blob_is_verified()
    {
        RequireBackend();
        var installer = await OpenInstallerAsync();
        using var source = bed.Source();
        var image = await ListAsync(source);
        var result = await InstallHoldingLayerOneAsync(installer, source, image, flip: false, "a file of layer 1 on the staged device while the layer downloads", install =>
        {
            // the first half of layer 1 is on the staged device while its second half has not been sent
            Assert.False(install.IsCompleted);
            Assert.Contains(bed.Devices(), d => d.StartsWith(StagedLayer.Prefix, StringComparison.Ordinal));

            // blobs are requested in layer order: layer 2's waits until every part of layer 1 has been requested (up to three
            // blobs may be in flight, but not ahead of the layer being applied)
            Assert.Empty(bed.Proxy.Gets($"{StreamS3.Image}/2.tar"));
        });
        Assert.NotEmpty(bed.Proxy.Gets($"{StreamS3.Image}/2.tar"));
        Assert.Equal(InstallState.Ready, result.State);
        var chainOne = result.Chains[0];
        Assert.Equal(DeviceNames.Chain(chainOne.ChainId), chainOne.Device);
        Assert.Contains(Events(chainOne.ChainId), e => e.Trigger == nameof(ChainTrigger.Create) && e.Detail!.Contains("adopting stage:", StringComparison.Ordinal));
        Assert.DoesNotContain(bed.Devices(), d => d.StartsWith(StagedLayer.Prefix, StringComparison.Ordinal));
        await AssertTreeAsync(result);
        Assert.Empty(Leaks.MountPointsBelow(Path.Combine(bed.Store.RootPath, "mounts")));
    }

    [SkippableFact]
    public async Task Bytes_that_fail_verification_are_applied_while_downloading_but_thrown_away_and_the_verified_blob_is_applied()
    {
        RequireBackend();
        var installer = await OpenInstallerAsync();
        using var source = bed.Source();
        var image = await ListAsync(source);
        // one byte of file-000's content arrives inverted: the tar stays well-formed, only the MD5 of the whole blob tells
        var result = await InstallHoldingLayerOneAsync(installer, source, image, flip: true, "the corrupted file on the staged device while the layer downloads");
        Assert.Equal(InstallState.Ready, result.State);
        Assert.Contains(bed.Context.Warnings, w => w.Contains("MD5", StringComparison.Ordinal));
        Assert.Contains(bed.Context.Verbose, v => v.Contains("failed verification", StringComparison.Ordinal) || v.Contains("could not be applied while it downloaded", StringComparison.Ordinal));
        Assert.DoesNotContain(Events(result.Chains[0].ChainId), e => e.Detail?.Contains("adopting", StringComparison.Ordinal) == true);
        Assert.DoesNotContain(bed.Devices(), d => d.StartsWith(StagedLayer.Prefix, StringComparison.Ordinal));
        await AssertTreeAsync(result);
    }

    [SkippableFact]
    public async Task A_staged_device_left_by_a_run_that_died_is_deleted_by_the_next_install_and_reported_by_a_collection_until_then()
    {
        RequireBackend();
        var installer = await OpenInstallerAsync();
        using var source = bed.Source();
        var image = await ListAsync(source);

        // what a run killed while staging leaves: its intent recorded on the install's workflow, and the half-applied device
        var workflows = new WorkflowRepository(bed.Store);
        var run = workflows.BeginRun(WorkflowKinds.InstallImage, InstallWorkflow.KeyOf(image.Source, image.Name), image.Name, image.Source);
        var left = StagedLayer.DeviceOf("deadbeefdeadbeef", 1);
        workflows.CompleteStep(run.Id, run.RunId, StagedLayer.Prefix + "1", left);
        await installer.Pool.CreateThinAsync(left, 64L << 20, bed.Context);

        // no live run explains it: a collection reports it
        var found = await new FlyImages.Lifecycle.ImageCollector(bed.Store).CollectAsync(new FlyImages.Lifecycle.CollectionPolicy(), bed.Context, whatIf: true);
        Assert.Contains(found.Orphans, o => o.Contains(left, StringComparison.Ordinal));

        var result = await installer.InstallAsync(source, image, bed.Context);
        Assert.Equal(InstallState.Ready, result.State);
        Assert.DoesNotContain(left, bed.Devices());
        Assert.DoesNotContain(bed.Devices(), d => d.StartsWith(StagedLayer.Prefix, StringComparison.Ordinal));
        Assert.Contains(bed.Context.Verbose, v => v.Contains($"Deleting {left}", StringComparison.Ordinal));
    }

    /// <summary>
    /// Installs <paramref name="image"/> with layer 1's part <see cref="HeldPart"/> held back: once the download has
    /// stalled there and file-000 of layer 1 (<paramref name="staged"/>) shows on the staged device, runs
    /// <paramref name="whileHeld"/> with the install still going, then lets the part through; the install's result.
    /// </summary>
    private async Task<InstallResult> InstallHoldingLayerOneAsync(ImageInstaller installer, IImageSource source, Image image, bool flip, string staged, Action<Task<InstallResult>>? whileHeld = null)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        HoldLayerOne(release.Task, flip);

        var install = installer.InstallAsync(source, image, bed.Context);
        try
        {
            await bed.Proxy.Stalling.WaitAsync(TimeSpan.FromMinutes(2));
            await UntilAsync(() => StagedFileVisible("data/file-000"), staged);
            whileHeld?.Invoke(install);
        }
        finally
        {
            release.TrySetResult();
        }

        return await install;
    }

    /// <summary>Holds layer 1's part <see cref="HeldPart"/> (once) until <paramref name="release"/>; with <paramref name="flip"/> one byte of part 0 arrives inverted (once).</summary>
    private void HoldLayerOne(Task release, bool flip)
    {
        var held = 0;
        var flipped = 0;
        bed.Proxy.Faults = r =>
        {
            if (!r.IsGet || !Uri.UnescapeDataString(r.Path).EndsWith($"{StreamS3.Image}/1.tar", StringComparison.Ordinal) || r.Range is null)
            {
                return null;
            }

            if (r.Range.StartsWith($"bytes={HeldPart * PartSize}-", StringComparison.Ordinal) && Interlocked.Exchange(ref held, 1) == 0)
            {
                return new Fault.Hold(0, release);
            }

            // the first file's content starts after the folder's and the file's 512-byte headers
            return flip && r.Range.StartsWith("bytes=0-", StringComparison.Ordinal) && Interlocked.Exchange(ref flipped, 1) == 0 ? new Fault.FlipByte(1024 + 100) : null;
        };
    }

    /// <summary>Whether <paramref name="relative"/> exists in a mounted staged device of this store.</summary>
    private bool StagedFileVisible(string relative)
        => Leaks.MountPointsBelow(bed.Store.RootPath).Any(m => File.Exists(Path.Combine(m, relative)));

    private static async Task UntilAsync(Func<bool> condition, string what)
    {
        // a guard against a hang, not a timed assertion: the order of events is what is checked
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"never saw {what}");
            await Task.Delay(20);
        }
    }

    /// <summary>Every file of the image's top chain, mounted read-only, is what its layers say.</summary>
    private async Task AssertTreeAsync(InstallResult result)
    {
        var top = result.Chains[^1];
        var path = await installer!.Pool.ActivateAsync(top.Device!, bed.Context);
        using var mountPoint = new TempDirectory("flyimages-streammnt");
        await ProcessRunner.RunCheckedAsync("mount", ["-o", "ro,noload", path, mountPoint.Path]);
        try
        {
            Assert.False(File.Exists(Path.Combine(mountPoint.Path, "data", "file-000")), "layer 2's whiteout removed file-000");
            for (var i = 1; i < StreamS3.Files; i++)
            {
                Assert.Equal(StreamS3.Content(i), File.ReadAllBytes(Path.Combine(mountPoint.Path, "data", $"file-{i:000}")));
            }

            Assert.Equal("layer 2\n", File.ReadAllText(Path.Combine(mountPoint.Path, "etc", "layer-2")));
        }
        finally
        {
            await ProcessRunner.RunCheckedAsync("umount", [mountPoint.Path]);
            await installer.Pool.DeactivateAsync(top.Device!, bed.Context);
        }

        // the base chain holds file-000 exactly as sent by the server, never the inverted byte
        var basePath = await installer.Pool.ActivateAsync(result.Chains[0].Device!, bed.Context);
        using var baseMount = new TempDirectory("flyimages-streammnt");
        await ProcessRunner.RunCheckedAsync("mount", ["-o", "ro,noload", basePath, baseMount.Path]);
        try
        {
            Assert.Equal(StreamS3.Content(0), File.ReadAllBytes(Path.Combine(baseMount.Path, "data", "file-000")));
        }
        finally
        {
            await ProcessRunner.RunCheckedAsync("umount", [baseMount.Path]);
            await installer.Pool.DeactivateAsync(result.Chains[0].Device!, bed.Context);
        }
    }

    private async Task<ImageInstaller> OpenInstallerAsync()
    {
        installer = await bed.OpenInstallerAsync(new ThinPoolSpec { Backend = Backend, DataSize = 1L << 30 }, Options);
        return installer;
    }

    private async Task<Image> ListAsync(IImageSource source) => (await bed.ListAsync(source, StreamS3.Image)).Single();

    private IReadOnlyList<WorkflowEvent> Events(string chainId) => WorkflowEvents.Query(bed.Store, kind: WorkflowKinds.MakeChain).Where(e => e.Key == chainId).ToList();
}

public sealed class BlockFileStreamApplyTests(StreamS3 s3) : StreamApplyTests(s3)
{
    protected override ThinPoolBackendChoice Backend => ThinPoolBackendChoice.BlockFile;

    protected override void RequireBackend() => Requirements.RequireLoopDevices();
}

[Trait(Requirements.Category, Requirements.DeviceMapper)]
public sealed class DeviceMapperStreamApplyTests(StreamS3 s3) : StreamApplyTests(s3)
{
    protected override ThinPoolBackendChoice Backend => ThinPoolBackendChoice.DeviceMapper;

    protected override void RequireBackend() => Requirements.RequireDeviceMapper();
}
