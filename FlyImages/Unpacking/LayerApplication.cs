using System.Diagnostics;
using FlyImages.Model;
using FlyImages.Operations;

namespace FlyImages.Unpacking;

/// <summary>
/// One run of the unpacker over one layer: reads entries, checks names and limits, and hands each
/// entry to the handler for its kind (LayerApplication.Entries.cs) or to the whiteout logic
/// (LayerApplication.Whiteouts.cs). Folder modes and times are applied last, after their contents.
/// </summary>
internal sealed partial class LayerApplication : IDisposable
{
    private const int MaxWarningsListed = 1000;
    private const int MaxWarningsReported = 20;

    private readonly Stream input;
    private readonly long inputLength;
    private readonly string? path;
    private readonly string destination;
    private readonly UnpackLimits limits;
    private readonly IOperationContext context;
    private readonly int progressActivityId;
    private readonly CancellationToken cancellationToken;
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private readonly PathSet created = new();
    private readonly List<DirMeta> directories = [];
    private readonly Dictionary<string, int> directoryIndex = new(StringComparer.Ordinal);
    private readonly List<SkippedEntry> skipped = [];
    private readonly List<string> warnings = [];
    private readonly bool isRoot = Native.Libc.geteuid() == 0;
    private readonly long deadlineTicks;

    private RootedTree? tree;
    private TarReader? reader;
    private CountingStream? counter;
    private LayerFormat format;
    private long lastProgressTicks;
    private int warningsReported;
    private string? firstEntryPath;

    // counters for the result
    private long entries;
    private long files;
    private long dirs;
    private long symlinks;
    private long hardLinks;
    private long fifos;
    private long bytesWritten;
    private long roomUsed;
    private long whiteouts;
    private long opaques;
    private long lowerRemoved;
    private long xattrsApplied;
    private long devicesSkipped;
    private long skippedCount;

    public LayerApplication(Stream input, long inputLength, string? path, string destination, UnpackLimits limits,
        IOperationContext context, CancellationToken cancellationToken)
    {
        this.input = input;
        this.inputLength = inputLength;
        this.path = path;
        this.destination = destination;
        this.limits = limits;
        this.context = context;
        progressActivityId = context.NewActivityId();
        this.cancellationToken = cancellationToken;
        deadlineTicks = limits.MaxWallTime >= TimeSpan.FromDays(3650) ? long.MaxValue : (long)(limits.MaxWallTime.TotalSeconds * Stopwatch.Frequency);
    }

    private string Label => path ?? "layer stream";

    public LayerApplyResult Run()
    {
        cancellationToken.ThrowIfCancellationRequested();
        var (tar, detected) = FormatDetector.Open(input, out var count);
        format = detected;
        counter = count;
        context.WriteVerbose($"Applying {Label} ({format.ToString().ToLowerInvariant()}) onto {destination}");
        using (tar)
        {
            tree = new RootedTree(destination, relPath => created.Add(relPath));
            context.WriteDebug(RootedTree.Openat2Available(tree.RootFd)
                ? "Resolving paths with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS)"
                : "Resolving paths one component at a time (openat O_NOFOLLOW|O_DIRECTORY)");
            reader = new TarReader(tar, limits, OnRead, format.ToString().ToLowerInvariant());
            while (reader.MoveNext())
            {
                ApplyEntry(reader.Entry);
            }

            FinishDirectories();
        }

        context.WriteProgress(new ProgressReport(progressActivityId, $"Applying {Label}", "done", 100, Completed: true));
        if (devicesSkipped > 0)
        {
            context.WriteWarning($"{Label}: {devicesSkipped} device node(s) not created (layers never create devices).");
        }

        return new LayerApplyResult
        {
            Path = path,
            Destination = destination,
            Format = format,
            Entries = entries,
            Files = files,
            Directories = dirs,
            Symlinks = symlinks,
            HardLinks = hardLinks,
            Fifos = fifos,
            BytesWritten = bytesWritten,
            InputBytes = counter.BytesRead,
            WhiteoutsApplied = whiteouts,
            OpaqueDirectories = opaques,
            LowerEntriesRemoved = lowerRemoved,
            XattrsApplied = xattrsApplied,
            DevicesSkipped = devicesSkipped,
            SkippedCount = skippedCount,
            Skipped = skipped.ToArray(),
            Warnings = warnings.ToArray(),
            OwnershipApplied = isRoot,
            Duration = clock.Elapsed,
        };
    }

    public void Dispose()
    {
        reader?.Dispose();
        tree?.Dispose();
    }

    private void ApplyEntry(TarEntry entry)
    {
        cancellationToken.ThrowIfCancellationRequested();
        CheckTime(entry.Name);
        tree!.BeginEntry();
        entries++;

        var relPath = EntryPath.Normalize(entry.Name, limits, "name");
        var display = EntryPath.Display(relPath.Length == 0 ? entry.Name : relPath);
        CheckImageArchive(relPath, display);
        var (parent, leaf) = EntryPath.Split(relPath);

        if (relPath.Length == 0)
        {
            if (entry.Kind != TarEntryKind.Directory)
            {
                throw UnpackErrors.Name(display, "a non-folder entry names the layer root itself");
            }

            ApplyRootDirectory(entry, display);
            return;
        }

        if (parent.StartsWith(".wh.", StringComparison.Ordinal) || parent.Contains("/.wh.", StringComparison.Ordinal))
        {
            throw UnpackErrors.Name(display, "a whiteout name is used as a folder");
        }

        if (leaf.StartsWith(".wh.", StringComparison.Ordinal))
        {
            ApplyWhiteout(parent, leaf, display);
            return;
        }

        switch (entry.Kind)
        {
            case TarEntryKind.File:
                WriteFile(entry, relPath, parent, leaf, display);
                break;
            case TarEntryKind.Directory:
                MakeDirectory(entry, relPath, parent, leaf, display);
                break;
            case TarEntryKind.Symlink:
                MakeSymlink(entry, relPath, parent, leaf, display);
                break;
            case TarEntryKind.HardLink:
                MakeHardLink(entry, relPath, parent, leaf, display);
                break;
            case TarEntryKind.Fifo:
                MakeFifo(entry, relPath, parent, leaf, display);
                break;
            case TarEntryKind.CharDevice:
            case TarEntryKind.BlockDevice:
                devicesSkipped++;
                Skip(display, $"{(entry.Kind == TarEntryKind.CharDevice ? "character" : "block")} device not created (layers never create devices)");
                break;
            default:
                Skip(display, $"entry type '{(entry.TypeFlag is >= 0x20 and < 0x7F ? ((char)entry.TypeFlag).ToString() : $"\\x{entry.TypeFlag:x2}")}' is not supported; its data was skipped");
                break;
        }

        ReportProgress();
    }

    /// <summary>Refuses docker-save and OCI image-layout archives passed as a layer, before anything of them is written.</summary>
    private void CheckImageArchive(string relPath, string display)
    {
        if (entries > 2)
        {
            return;
        }

        if (entries == 1)
        {
            firstEntryPath = relPath;
        }

        var imageShaped = relPath is "oci-layout" or "blobs" || relPath.StartsWith("blobs/sha256", StringComparison.Ordinal) || IsDigestShaped(relPath);
        var manifestNamed = firstEntryPath is "manifest.json" or "index.json" or "repositories";
        if (imageShaped && (entries == 1 || manifestNamed))
        {
            throw UnpackErrors.Unsupported(display,
                "this is an image archive (docker save or OCI image layout: blobs, manifest.json, oci-layout), not a layer; pass the layer blobs inside it instead");
        }
    }

    private static bool IsDigestShaped(string relPath)
    {
        var first = relPath.Split('/', 2)[0];
        if (first.EndsWith(".json", StringComparison.Ordinal))
        {
            first = first[..^5];
        }

        return first.Length == 64 && first.All(char.IsAsciiHexDigitLower);
    }

    private void Skip(string display, string reason)
    {
        skippedCount++;
        if (skipped.Count < limits.MaxSkippedListed)
        {
            skipped.Add(new SkippedEntry(display, reason));
        }

        if (skippedCount <= 10)
        {
            context.WriteVerbose($"{display}: skipped: {reason}");
        }
    }

    private void Warn(string message)
    {
        if (warnings.Count < MaxWarningsListed)
        {
            warnings.Add(message);
        }

        if (warningsReported++ < MaxWarningsReported)
        {
            context.WriteWarning(message);
        }
    }

    /// <summary>Called by the reader after each read: decompression ratio, wall time.</summary>
    private void OnRead(long decompressed)
    {
        if (format != LayerFormat.Tar && decompressed > limits.CompressionRatioGraceBytes)
        {
            var compressed = Math.Max(1, counter!.BytesRead);
            if (decompressed > limits.MaxCompressionRatio * compressed)
            {
                throw UnpackErrors.Limit(reader?.Entry.Name is { Length: > 0 } n ? EntryPath.Display(n) : null,
                    $"{decompressed} bytes decompressed from {compressed} exceeds the decompression ratio limit ({limits.MaxCompressionRatio}:1)");
            }
        }

        CheckTime(reader?.Entry.Name);
    }

    private void CheckTime(string? entryName)
    {
        if (clock.ElapsedTicks > deadlineTicks)
        {
            throw UnpackErrors.Limit(entryName is { Length: > 0 } ? EntryPath.Display(entryName) : null,
                $"applying took longer than the wall time limit ({limits.MaxWallTime})");
        }
    }

    private void ReportProgress()
    {
        var now = clock.ElapsedTicks;
        if (now - lastProgressTicks < Stopwatch.Frequency / 2)
        {
            return;
        }

        lastProgressTicks = now;
        var percent = inputLength > 0 ? (int)Math.Min(100, counter!.BytesRead * 100 / inputLength) : -1;
        context.WriteProgress(new ProgressReport(progressActivityId, $"Applying {Label}",
            $"{entries} entries, {ByteSize.Format(bytesWritten)} written", percent));
    }

    private sealed class DirMeta(string path, uint mode, long mtimeSeconds, int mtimeNanoseconds)
    {
        public string Path { get; } = path;

        public uint Mode { get; set; } = mode;

        public long MtimeSeconds { get; set; } = mtimeSeconds;

        public int MtimeNanoseconds { get; set; } = mtimeNanoseconds;
    }
}
