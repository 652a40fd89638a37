using System.Globalization;
using System.Runtime.CompilerServices;
using FlyImages.Errors;
using FlyImages.Streams;

namespace FlyImages.Sources;

/// <summary>
/// A local folder with the bucket's layout (<c>&lt;folder&gt;/&lt;image&gt;/&lt;n&gt;.tar</c>). Symbolic links and
/// special files are reported, never followed. The ETag is derived from size and modification time.
/// </summary>
public sealed class DirectoryImageSource : IImageSource
{
    private const int MaxDepth = 4;

    public DirectoryImageSource(SourceSpec spec)
    {
        Spec = spec;
        Location = spec.DirectoryPath;
    }

    public SourceSpec Spec { get; }

    public string Location { get; }

    public IAsyncEnumerable<SourceObject> ListAsync(CancellationToken cancellationToken) => WalkAsync(null, cancellationToken);

    /// <summary>One image: only its own folder is read (an image folder that is a link or a file is reported as the full listing reports it).</summary>
    public IAsyncEnumerable<SourceObject> ListImageAsync(string image, CancellationToken cancellationToken)
        => image.Length == 0 || image.Contains('/', StringComparison.Ordinal) || image is "." or ".." || image.Any(char.IsControl)
            ? SourceObject.NoneAsync()
            : WalkAsync(image, cancellationToken);

    /// <summary>The objects under the source folder, or (<paramref name="image"/>) under that one entry of it.</summary>
    private async IAsyncEnumerable<SourceObject> WalkAsync(string? image, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.Yield();
        var root = new DirectoryInfo(Spec.DirectoryPath);
        if (!root.Exists)
        {
            throw new FlyException(ErrorIds.SourceNotFound, FlyErrorCategory.ObjectNotFound, $"The source folder '{Spec.DirectoryPath}' does not exist.", Spec.DirectoryPath);
        }

        if (root.LinkTarget is not null)
        {
            root = (DirectoryInfo?)root.ResolveLinkTarget(returnFinalTarget: true) ?? root;
        }

        var pending = new Stack<(DirectoryInfo Dir, string Prefix, int Depth)>();
        if (image is not null)
        {
            var entry = new DirectoryInfo(Path.Combine(root.FullName, image));
            if (entry.LinkTarget is not null)
            {
                yield return new SourceObject(image, 0, null, null) { Problem = "is a symbolic link (not followed)" };
                yield break;
            }

            if (!entry.Exists)
            {
                if (File.Exists(entry.FullName))
                {
                    yield return new SourceObject(image, 0, null, null) { Problem = "is not a regular file" };
                }

                yield break;
            }

            pending.Push((entry, image + "/", 1));
        }
        else
        {
            pending.Push((root, "", 0));
        }

        while (pending.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (dir, prefix, depth) = pending.Pop();
            FileSystemInfo[] entries;
            try
            {
                entries = dir.GetFileSystemInfos();
            }
            catch (UnauthorizedAccessException e)
            {
                throw new FlyException(ErrorIds.SourceAccessDenied, FlyErrorCategory.PermissionDenied, $"The source folder '{dir.FullName}' cannot be read: {e.Message}", dir.FullName, e);
            }

            foreach (var entry in entries.OrderBy(e => e.Name, StringComparer.Ordinal))
            {
                var key = prefix + entry.Name;
                if (entry.LinkTarget is not null)
                {
                    yield return new SourceObject(key, 0, null, null) { Problem = "is a symbolic link (not followed)" };
                }
                else if (entry is DirectoryInfo sub)
                {
                    if (depth + 1 >= MaxDepth)
                    {
                        yield return new SourceObject(key + "/", 0, null, null) { Problem = "is nested too deep" };
                    }
                    else
                    {
                        pending.Push((sub, key + "/", depth + 1));
                    }
                }
                else if (entry is FileInfo file && IsRegular(file))
                {
                    yield return new SourceObject(key, file.Length, ETagOf(file), new DateTimeOffset(file.LastWriteTimeUtc, TimeSpan.Zero));
                }
                else
                {
                    yield return new SourceObject(key, 0, null, null) { Problem = "is not a regular file" };
                }
            }
        }
    }

    public Task<SourceObject> StatAsync(string key, CancellationToken cancellationToken)
    {
        var file = new FileInfo(PathOf(key));
        if (!file.Exists || file.LinkTarget is not null || !IsRegular(file))
        {
            throw new FlyException(ErrorIds.SourceNotFound, FlyErrorCategory.ObjectNotFound, $"The file '{file.FullName}' does not exist or is not a regular file.", key);
        }

        return Task.FromResult(new SourceObject(key, file.Length, ETagOf(file), new DateTimeOffset(file.LastWriteTimeUtc, TimeSpan.Zero)));
    }

    public async Task<SourceRead> OpenReadAsync(string key, long offset, long? length, string? ifMatchETag, CancellationToken cancellationToken)
    {
        var info = await StatAsync(key, cancellationToken).ConfigureAwait(false);
        if (ifMatchETag is not null && !string.Equals(ifMatchETag, info.ETag, StringComparison.Ordinal))
        {
            throw new SourceObjectChangedException(key, ifMatchETag, info.ETag);
        }

        var stream = new FileStream(PathOf(key), new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.Read, Options = FileOptions.Asynchronous | FileOptions.SequentialScan, BufferSize = 0 });
        stream.Seek(offset, SeekOrigin.Begin);
        var count = Math.Max(0, Math.Min(length ?? long.MaxValue, stream.Length - offset));
        // the body ends where the range does, as an HTTP body would: a ranged fetch reads until its end
        return new SourceRead(new RangeBody(stream, count), count, info.ETag, stream.Length);
    }

    public void Dispose()
    {
    }

    private string PathOf(string key)
    {
        if (key.Length == 0 || key.StartsWith('/') || key.Split('/').Any(p => p is "" or "." or "..") || key.Any(char.IsControl))
        {
            throw new FlyException(ErrorIds.ImageKeyRejected, FlyErrorCategory.InvalidArgument, $"The key '{ImageLayout.Show(key)}' is not a safe relative path.", key);
        }

        return Path.Combine(Spec.DirectoryPath, key);
    }

    /// <summary>The bytes of one range of a file: reads end after <c>count</c> bytes.</summary>
    private sealed class RangeBody(FileStream file, long count) : ReadOnlyStream
    {
        private long left = count;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = file.Read(buffer[..(int)Math.Min(buffer.Length, left)]);
            left -= n;
            return n;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await file.ReadAsync(buffer[..(int)Math.Min(buffer.Length, left)], cancellationToken).ConfigureAwait(false);
            left -= n;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                file.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>A regular file itself (lstat), not a fifo, device or socket that would block or lie when read.</summary>
    private static bool IsRegular(FileInfo file) => Native.Libc.FileType(file.FullName) == Native.Libc.S_IFREG;

    private static string ETagOf(FileInfo file)
        => string.Create(CultureInfo.InvariantCulture, $"file-{file.Length:x}-{file.LastWriteTimeUtc.Ticks:x}");
}
