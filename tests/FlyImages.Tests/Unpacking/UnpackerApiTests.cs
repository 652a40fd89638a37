using System.Collections.Concurrent;
using FlyImages.Errors;
using FlyImages.Operations;
using FlyImages.Unpacking;
using Xunit;

namespace FlyImages.Tests.Unpacking;

/// <summary>The public API around the engine: inputs, destination, cancellation, limits, reporting.</summary>
[Collection(UnpackingCollection.Name)]
public class UnpackerApiTests
{
    [Fact]
    public async Task AppliesFromAFileAndFromANonSeekableStream()
    {
        using var box = new UnpackSandbox();
        var tar = new RawTar().File("a", "from file").End().ToArray();
        var file = Path.Combine(box.Root, "layer.tar");
        await File.WriteAllBytesAsync(file, tar);
        var fromFile = await LayerUnpacker.ApplyAsync(file, box.Destination);
        Assert.Equal(file, fromFile.Path);
        Assert.Equal(tar.Length, fromFile.InputBytes);
        File.Delete(file);

        var gz = LayerBuilders.Gzip(new RawTar().File("b", "from a pipe").End().ToArray());
        var fromStream = await LayerUnpacker.ApplyAsync(new NonSeekable(new MemoryStream(gz)), box.Destination);
        Assert.Null(fromStream.Path);
        Assert.Equal(LayerFormat.Gzip, fromStream.Format);
        Assert.Equal("from a pipe", File.ReadAllText(box.PathOf("b")));
    }

    [Fact]
    public void MissingLayerAndFolderLayerAreNotFound()
    {
        using var box = new UnpackSandbox();
        Assert.Equal(ErrorIds.LayerNotFound, Assert.Throws<FlyException>(() => LayerUnpacker.Apply(Path.Combine(box.Root, "nope.tar"), box.Destination)).ErrorId);
        Assert.Equal(ErrorIds.LayerNotFound, Assert.Throws<FlyException>(() => LayerUnpacker.Apply(box.Canary, box.Destination)).ErrorId);
    }

    [Fact]
    public void DestinationIsCreatedAndMustBeAFolder()
    {
        using var box = new UnpackSandbox();
        var nested = Path.Combine(box.Destination, "x", "y");
        LayerUnpacker.Apply(new MemoryStream(new RawTar().File("f", "1").End().ToArray()), nested);
        Assert.Equal("1", File.ReadAllText(Path.Combine(nested, "f")));

        Assert.Equal(ErrorIds.LayerDestinationInvalid, Assert.Throws<FlyException>(() => LayerUnpacker.Apply(new MemoryStream(new byte[1024]), "/")).ErrorId);

        var file = Path.Combine(box.Destination, "x", "y", "f");
        var e = Assert.Throws<FlyException>(() => LayerUnpacker.Apply(new MemoryStream(new RawTar().End().ToArray()), file));
        Assert.Equal(ErrorIds.LayerDestinationInvalid, e.ErrorId);
    }

    [Fact]
    public async Task CancellationStopsTheApply()
    {
        using var box = new UnpackSandbox();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            LayerUnpacker.ApplyAsync(new MemoryStream(new RawTar().File("f", "1").End().ToArray()), box.Destination, cancellationToken: cancelled.Token));

        // the context's token counts too
        Assert.ThrowsAny<OperationCanceledException>(() =>
            LayerUnpacker.Apply(new MemoryStream(new RawTar().File("f", "1").End().ToArray()), box.Destination, context: new NullOperationContext(cancelled.Token)));
    }

    [Fact]
    public void WallTimeLimitRejects()
    {
        using var box = new UnpackSandbox();
        var e = box.Reject(new RawTar().File("f", "1").End().ToArray(), ErrorIds.LayerRejectedLimit, new UnpackLimits { MaxWallTime = TimeSpan.FromTicks(1) });
        Assert.Contains("wall time limit", e.Message);
    }

    [Fact]
    public void InvalidLimitsAreRefused()
    {
        using var box = new UnpackSandbox();
        Assert.Throws<ArgumentException>(() => box.Apply(new byte[1024], new UnpackLimits { MaxEntries = 0 }));
        Assert.Throws<ArgumentException>(() => box.Apply(new byte[1024], new UnpackLimits { MaxPathLength = 100_000 }));
    }

    [Fact]
    public void DevicesAreReportedAsWarningsAndProgressCompletes()
    {
        using var box = new UnpackSandbox();
        var context = new RecordingContext();
        var result = LayerUnpacker.Apply(new MemoryStream(new RawTar().CharDevice("dev/null").File("f", "x").End().ToArray()), box.Destination, context: context);
        Assert.Equal(1, result.DevicesSkipped);
        Assert.Contains(context.Warnings, w => w.Contains("device", StringComparison.Ordinal));
        Assert.Contains(context.Progress, p => p.Completed);
        Assert.Contains(context.Verbose, v => v.Contains("Applying", StringComparison.Ordinal));
        Assert.Equal("dev/null", Assert.Single(result.Skipped).Name);
    }

    [Fact]
    public void SkippedListIsCappedButCounted()
    {
        using var box = new UnpackSandbox();
        var tar = new RawTar();
        for (var i = 0; i < 30; i++)
        {
            tar.CharDevice($"dev/tty{i}");
        }

        var result = box.Apply(tar.End().ToArray(), new UnpackLimits { MaxSkippedListed = 5 });
        Assert.Equal(30, result.SkippedCount);
        Assert.Equal(5, result.Skipped.Count);
    }

    private sealed class RecordingContext : IOperationContext
    {
        public ConcurrentBag<string> Warnings { get; } = [];

        public ConcurrentBag<string> Verbose { get; } = [];

        public ConcurrentBag<ProgressReport> Progress { get; } = [];

        public CancellationToken CancellationToken => CancellationToken.None;

        public void WriteProgress(ProgressReport report) => Progress.Add(report);

        public void WriteVerbose(string message) => Verbose.Add(message);

        public void WriteWarning(string message) => Warnings.Add(message);

        public void WriteDebug(string message) { }

        public bool ShouldProcess(string target, string action) => true;
    }

    private sealed class NonSeekable(Stream inner) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, 7000));

        public override void Flush() { }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
