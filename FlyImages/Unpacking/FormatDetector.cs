using System.IO.Compression;
using System.Text;
using FlyImages.Streams;
using ICSharpCode.SharpZipLib.BZip2;

namespace FlyImages.Unpacking;

/// <summary>
/// Recognizes a layer from its first bytes (never its name) and opens the matching decompressor.
/// Refuses other kinds with a message saying what the bytes look like.
/// </summary>
internal static class FormatDetector
{
    public const int PeekSize = 512;

    /// <summary>Reads up to <see cref="PeekSize"/> bytes, detects the format, and returns a stream of the tar bytes.</summary>
    public static (Stream Tar, LayerFormat Format) Open(Stream input, out CountingStream counter)
    {
        var head = new byte[PeekSize];
        var filled = 0;
        while (filled < head.Length)
        {
            var n = input.Read(head, filled, head.Length - filled);
            if (n <= 0)
            {
                break;
            }

            filled += n;
        }

        if (filled == 0)
        {
            throw new Errors.FlyException(Errors.ErrorIds.LayerEmpty, Errors.FlyErrorCategory.InvalidData, "Layer rejected: it is empty (0 bytes).");
        }

        var span = head.AsSpan(0, filled);
        var format = Detect(span);
        counter = new CountingStream(new PrefixedStream(head, filled, input));
        Stream tar;
        try
        {
            tar = format switch
            {
                LayerFormat.Gzip => new GZipStream(counter, CompressionMode.Decompress, leaveOpen: true),
                LayerFormat.Zstd => OpenZstd(counter),
                LayerFormat.Bzip2 => new BZip2InputStream(counter) { IsStreamOwner = false }, // reads the first block here
                _ => counter,
            };
        }
        catch (Exception e) when (TranslateDecompressionError(e, format.ToString().ToLowerInvariant(), 0) is { } translated)
        {
            throw translated;
        }

        if (format == LayerFormat.Tar && filled < PeekSize)
        {
            throw UnpackErrors.Truncated(null, $"it is {filled} bytes long, shorter than one tar header ({PeekSize})");
        }

        return (format == LayerFormat.Tar ? tar : new InnerCheckStream(tar, format), format);
    }

    /// <summary>The rejection for a decompressor's own exception (corrupt or truncated data), or null for other exceptions.</summary>
    public static Errors.FlyException? TranslateDecompressionError(Exception e, string kind, long outputBytes) => e switch
    {
        EndOfStreamException => UnpackErrors.Truncated(null, $"the {kind} stream ends early after {outputBytes} bytes of output ({e.Message})"),
        InvalidDataException or ICSharpCode.SharpZipLib.SharpZipBaseException or ZstdSharp.ZstdException =>
            UnpackErrors.Invalid(null, $"the {kind} stream is corrupt after {outputBytes} bytes of output ({e.Message})"),

        // SharpZipLib's bzip2 decoder indexes its tables with values from the stream: corrupt input
        // surfaces as an out-of-range index inside it (bounded arrays, so no harm beyond the throw)
        // (callers only pass exceptions thrown by the decompressor's constructor or Read)
        IndexOutOfRangeException or ArgumentOutOfRangeException when kind == "bzip2" =>
            UnpackErrors.Invalid(null, $"the {kind} stream is corrupt after {outputBytes} bytes of output (the decoder failed: {e.Message})"),
        _ => null,
    };

    /// <summary>The compressed format of a stream start, or Tar; throws for known non-layer formats and garbage.</summary>
    public static LayerFormat Detect(ReadOnlySpan<byte> head)
    {
        if (head.StartsWith(new byte[] { 0x1F, 0x8B }))
        {
            return LayerFormat.Gzip;
        }

        if (head.StartsWith(new byte[] { 0x28, 0xB5, 0x2F, 0xFD })
            || (head.Length >= 4 && (head[0] & 0xF0) == 0x50 && head[1] == 0x2A && head[2] == 0x4D && head[3] == 0x18))
        {
            return LayerFormat.Zstd;
        }

        if (head.Length >= 4 && head.StartsWith("BZh"u8) && head[3] is >= (byte)'1' and <= (byte)'9')
        {
            return LayerFormat.Bzip2;
        }

        if (head.Length >= TarReader.BlockSize && TarReader.ChecksumValid(head[..TarReader.BlockSize]))
        {
            return LayerFormat.Tar;
        }

        if (head.Length >= TarReader.BlockSize && !head[..TarReader.BlockSize].ContainsAnyExcept((byte)0))
        {
            // only end-of-archive blocks: an empty tar (docker's empty layer); the reader checks the rest
            return LayerFormat.Tar;
        }

        if (head.Length < TarReader.BlockSize && (head.Length > 262 && head.Slice(257, 5).SequenceEqual("ustar"u8)))
        {
            return LayerFormat.Tar; // a truncated tar: reported as truncated by Open
        }

        throw UnpackErrors.Unsupported(null, Describe(head, "it is not a tar, gzip, zstd or bzip2 stream"));
    }

    /// <summary>Says what <paramref name="head"/> looks like, for the rejection message.</summary>
    public static string Describe(ReadOnlySpan<byte> head, string prefix)
    {
        string? what = null;
        if (head.StartsWith(new byte[] { 0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00 }))
        {
            what = "xz-compressed data (not a supported layer compression)";
        }
        else if (head.StartsWith("PK\x03\x04"u8))
        {
            what = "a zip archive";
        }
        else if (head.StartsWith(new byte[] { 0x04, 0x22, 0x4D, 0x18 }))
        {
            what = "lz4-compressed data (not a supported layer compression)";
        }
        else if (head.StartsWith("7z\xBC\xAF\x27\x1C"u8))
        {
            what = "a 7-Zip archive";
        }
        else if (head.StartsWith(new byte[] { 0x1F, 0x8B }) || head.StartsWith(new byte[] { 0x28, 0xB5, 0x2F, 0xFD }) || head.StartsWith("BZh"u8))
        {
            what = "compressed data inside compressed data (a layer is compressed at most once)";
        }
        else
        {
            var trimmed = head.TrimStart(" \t\r\n"u8);
            if (trimmed.Length > 0 && trimmed[0] is (byte)'{' or (byte)'[')
            {
                what = "JSON (an image manifest, index or config, not a layer)";
            }
            else if (head.Length > 0 && !head.ContainsAnyExceptInRange((byte)0x09, (byte)0x7E))
            {
                what = "text";
            }
        }

        var hex = Convert.ToHexString(head[..Math.Min(16, head.Length)]).ToLowerInvariant();
        return what is null ? $"{prefix} (first bytes: {hex})" : $"{prefix}: it looks like {what} (first bytes: {hex})";
    }

    private static Stream OpenZstd(Stream counter)
    {
        var stream = new ZstdSharp.DecompressionStream(counter, bufferSize: 1 << 17, checkEndOfStream: true, leaveOpen: true);

        // window at most 128 MiB (zstd's own default cap): a frame cannot make us allocate more
        stream.SetParameter(ZstdSharp.Unsafe.ZSTD_dParameter.ZSTD_d_windowLogMax, 27);
        return stream;
    }

    /// <summary>Checks the first decompressed bytes are not compressed again (a clearer message than "not a tar").</summary>
    private sealed class InnerCheckStream(Stream inner, LayerFormat outer) : ReadOnlyStream
    {
        private bool checkedHead;

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = inner.Read(buffer, offset, count);
            if (!checkedHead && n > 0)
            {
                checkedHead = true;
                var head = buffer.AsSpan(offset, n);
                if (head.StartsWith(new byte[] { 0x1F, 0x8B }) || head.StartsWith(new byte[] { 0x28, 0xB5, 0x2F, 0xFD }) || head.StartsWith("BZh"u8))
                {
                    throw UnpackErrors.Unsupported(null, Describe(head, $"the {outer.ToString().ToLowerInvariant()} stream does not hold a tar"));
                }
            }

            return n;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}

/// <summary>Counts bytes read through it (the compressed size, for the decompression ratio).</summary>
internal sealed class CountingStream(Stream inner) : ReadOnlyStream
{
    public long BytesRead { get; private set; }

    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count)
    {
        var n = inner.Read(buffer, offset, count);
        BytesRead += n;
        return n;
    }

    public override int Read(Span<byte> buffer)
    {
        var n = inner.Read(buffer);
        BytesRead += n;
        return n;
    }
}

/// <summary>Replays the bytes already peeked, then reads on from the source.</summary>
internal sealed class PrefixedStream(byte[] prefix, int prefixLength, Stream inner) : ReadOnlyStream
{
    private int position;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (position < prefixLength)
        {
            var n = Math.Min(buffer.Length, prefixLength - position);
            prefix.AsSpan(position, n).CopyTo(buffer);
            position += n;
            return n;
        }

        return inner.Read(buffer);
    }
}
