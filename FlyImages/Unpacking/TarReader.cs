using System.Buffers;

namespace FlyImages.Unpacking;

/// <summary>
/// A streaming tar reader (ustar, pax, GNU long names; v7 headers accepted) written for hostile
/// input: every header is checksummed, every number range-checked, extended headers are bounded by
/// the limits, and it never holds more than one buffer of data. Data is handed out as spans into its
/// own buffer so file content is copied once, from the decompressor to the file.
/// </summary>
/// <remarks>
/// Written here rather than taken from SharpZipLib: its TarInputStream folds PAX records it knows
/// into names but drops the others (SCHILY.xattr.*), and gives no way to bound extended headers.
/// </remarks>
internal sealed partial class TarReader : IDisposable
{
    public const int BlockSize = 512;
    private const int BufferSize = 1 << 20;

    private readonly Stream source;
    private readonly UnpackLimits limits;
    private readonly Action<long> onRead;
    private readonly string streamKind;
    private byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
    private int start;
    private int end;
    private long bufferOffset; // archive offset of buffer[0]
    private bool eof;
    private long dataRemaining;
    private long paddingRemaining;
    private long headers;
    private bool finished;

    /// <param name="source">The decompressed archive.</param>
    /// <param name="limits">Bounds for extended headers and entry counts.</param>
    /// <param name="onRead">Called with the total bytes read so far after each read (limits, ratio, time).</param>
    /// <param name="streamKind">"tar", "gzip"...: used in messages.</param>
    public TarReader(Stream source, UnpackLimits limits, Action<long> onRead, string streamKind)
    {
        this.source = source;
        this.limits = limits;
        this.onRead = onRead;
        this.streamKind = streamKind;
    }

    public TarEntry Entry { get; } = new();

    /// <summary>Decompressed bytes read from the source.</summary>
    public long BytesRead { get; private set; }

    /// <summary>Bytes of the current entry's data not handed out yet.</summary>
    public long DataRemaining => dataRemaining;

    /// <summary>
    /// Moves to the next entry (skipping what is left of the current one's data).
    /// Returns false at the end-of-archive marker.
    /// </summary>
    public bool MoveNext()
    {
        if (finished)
        {
            return false;
        }

        Skip(dataRemaining + paddingRemaining, Entry.Name);
        dataRemaining = paddingRemaining = 0;
        Entry.Reset();

        string? longName = null;
        string? longLink = null;
        Pax? pax = null;
        var extended = 0;
        while (true)
        {
            var offset = bufferOffset + start;
            var available = Ensure(BlockSize);
            if (available < BlockSize)
            {
                if (available == 0 && headers == 0)
                {
                    throw UnpackErrors.Truncated(null, $"the {streamKind} stream holds no data");
                }

                throw UnpackErrors.Truncated(null, $"the archive ends at byte {offset + available} without an end-of-archive marker");
            }

            var header = buffer.AsSpan(start, BlockSize);
            if (IsZero(header))
            {
                // an archive made only of end blocks is a valid empty layer (docker writes these)
                if (extended > 0)
                {
                    throw UnpackErrors.Truncated(null, $"the archive ends after an extended header, without its entry (byte {offset})");
                }

                start += BlockSize;
                var second = Ensure(BlockSize);
                if (second >= BlockSize && !IsZero(buffer.AsSpan(start, BlockSize)))
                {
                    throw UnpackErrors.Invalid(null, $"a header follows an end-of-archive block at byte {offset} (hidden entries after the end are refused)");
                }

                if (second > 0 && second < BlockSize && !IsZero(buffer.AsSpan(start, second)))
                {
                    throw UnpackErrors.Truncated(null, $"garbage after the end-of-archive block at byte {offset}");
                }

                finished = true;
                DrainTail();
                return false;
            }

            if (!ChecksumValid(header))
            {
                if (headers == 0)
                {
                    throw UnpackErrors.Unsupported(null, FormatDetector.Describe(header, $"the {streamKind} data is not a tar archive"));
                }

                throw UnpackErrors.Invalid(null, $"header checksum mismatch at byte {offset} (corrupt or not a tar)");
            }

            headers++;
            if (headers > limits.MaxEntries)
            {
                throw UnpackErrors.Limit(null, $"more than {limits.MaxEntries} entries (entry count limit)");
            }

            var type = header[156];
            var size = ParseNumber(header.Slice(124, 12), "size", offset);
            if (size < 0)
            {
                throw UnpackErrors.Invalid(null, $"negative size in the header at byte {offset}");
            }

            start += BlockSize;
            switch (type)
            {
                case (byte)'x':
                case (byte)'g':
                    CheckExtendedSize(size, offset, "PAX extended header");
                    var records = ReadSmall((int)size, offset);
                    var parsed = ParsePax(records, offset);
                    if (type == 'x')
                    {
                        pax = parsed;
                    }

                    // global headers ('g') only carry defaults like comments or charsets; they are checked, not applied
                    extended++;
                    break;
                case (byte)'L':
                case (byte)'K':
                    CheckExtendedSize(size, offset, "GNU long name");
                    var text = ReadSmall((int)size, offset);
                    var nul = Array.IndexOf(text, (byte)0);
                    var value = EntryPath.FromBytes(nul >= 0 ? text.AsSpan(0, nul) : text);
                    if (type == 'L')
                    {
                        longName = value;
                    }
                    else
                    {
                        longLink = value;
                    }

                    extended++;
                    break;
                default:
                    FillEntry(header, type, size, offset, longName, longLink, pax);
                    return true;
            }

            if (extended > 16)
            {
                throw UnpackErrors.Invalid(null, $"more than 16 extended headers in a row at byte {offset}");
            }
        }
    }

    /// <summary>
    /// The next chunk of the current entry's data (a span into the reader's buffer, valid until the
    /// next call); empty when the data is exhausted. Throws when the archive ends early.
    /// </summary>
    public ReadOnlySpan<byte> ReadData()
    {
        if (dataRemaining == 0)
        {
            return ReadOnlySpan<byte>.Empty;
        }

        if (start == end && Ensure(1) == 0)
        {
            throw UnpackErrors.Truncated(EntryPath.Display(Entry.Name), $"the archive ends {dataRemaining} bytes before the end of the entry's data");
        }

        var n = (int)Math.Min(dataRemaining, end - start);
        var span = buffer.AsSpan(start, n);
        start += n;
        dataRemaining -= n;
        return span;
    }

    public void Dispose()
    {
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = [];
        }
    }

    private void FillEntry(ReadOnlySpan<byte> header, byte type, long size, long offset, string? longName, string? longLink, Pax? pax)
    {
        var entry = Entry;
        entry.Offset = offset;
        entry.TypeFlag = type;
        var isUstar = header.Slice(257, 6).SequenceEqual("ustar\0"u8);
        var name = CString(header[..100]);
        if (isUstar && header[345] != 0)
        {
            name = CString(header.Slice(345, 155)) + "/" + name;
        }

        entry.Name = pax?.Path ?? longName ?? name;
        entry.LinkName = pax?.LinkPath ?? longLink ?? CString(header.Slice(157, 100));
        entry.Mode = (uint)(ParseNumber(header.Slice(100, 8), "mode", offset) & 0xFFF);
        entry.Uid = pax?.Uid ?? ParseNumber(header.Slice(108, 8), "uid", offset);
        entry.Gid = pax?.Gid ?? ParseNumber(header.Slice(116, 8), "gid", offset);
        entry.MtimeSeconds = pax?.MtimeSeconds ?? ParseNumber(header.Slice(136, 12), "mtime", offset);
        entry.MtimeNanoseconds = pax?.MtimeSeconds is null ? 0 : pax.MtimeNanoseconds;
        if (pax?.Size is { } paxSize)
        {
            size = paxSize;
        }

        if (pax?.Xattrs is { } xattrs)
        {
            entry.Xattrs.AddRange(xattrs);
        }

        entry.Kind = type switch
        {
            (byte)'0' or 0 or (byte)'7' => entry.Name.EndsWith('/') ? TarEntryKind.Directory : TarEntryKind.File,
            (byte)'1' => TarEntryKind.HardLink,
            (byte)'2' => TarEntryKind.Symlink,
            (byte)'3' => TarEntryKind.CharDevice,
            (byte)'4' => TarEntryKind.BlockDevice,
            (byte)'5' or (byte)'D' => TarEntryKind.Directory,
            (byte)'6' => TarEntryKind.Fifo,
            (byte)'S' => throw UnpackErrors.Unsupported(EntryPath.Display(entry.Name), "GNU sparse files are not supported"),
            (byte)'M' => throw UnpackErrors.Unsupported(EntryPath.Display(entry.Name), "multi-volume archives are not supported"),
            _ => TarEntryKind.Other,
        };

        if (entry.Uid is < 0 or > 0xFFFFFFFE || entry.Gid is < 0 or > 0xFFFFFFFE)
        {
            throw UnpackErrors.Invalid(EntryPath.Display(entry.Name), $"owner {entry.Uid}:{entry.Gid} is out of range");
        }

        // as in Go's archive/tar (what containerd and docker use): these kinds carry no data, whatever
        // the size field says; a directory's or link's "size" is never read as content
        var headerOnly = entry.Kind is TarEntryKind.HardLink or TarEntryKind.Symlink or TarEntryKind.CharDevice
            or TarEntryKind.BlockDevice or TarEntryKind.Fifo || (entry.Kind == TarEntryKind.Directory && type != 'D');
        entry.Size = headerOnly ? 0 : size;
        dataRemaining = entry.Size;
        paddingRemaining = (BlockSize - (entry.Size % BlockSize)) % BlockSize;
    }

    private void CheckExtendedSize(long size, long offset, string what)
    {
        if (size > limits.MaxExtendedHeaderSize)
        {
            throw UnpackErrors.Limit(null, $"the {what} at byte {offset} is {size} bytes, more than the extended header limit ({limits.MaxExtendedHeaderSize})");
        }
    }

    /// <summary>Reads an extended header's data (bounded by the limits) plus its padding.</summary>
    private byte[] ReadSmall(int size, long offset)
    {
        var result = new byte[size];
        var filled = 0;
        while (filled < size)
        {
            if (start == end && Ensure(1) == 0)
            {
                throw UnpackErrors.Truncated(null, $"the archive ends inside the extended header at byte {offset}");
            }

            var n = Math.Min(size - filled, end - start);
            buffer.AsSpan(start, n).CopyTo(result.AsSpan(filled));
            start += n;
            filled += n;
        }

        Skip((BlockSize - (size % BlockSize)) % BlockSize, null);
        return result;
    }

    private void Skip(long count, string? entryName)
    {
        while (count > 0)
        {
            if (start == end && Ensure(1) == 0)
            {
                throw UnpackErrors.Truncated(entryName is null ? null : EntryPath.Display(entryName), "the archive ends inside an entry's data");
            }

            var n = (int)Math.Min(count, end - start);
            start += n;
            count -= n;
        }
    }

    /// <summary>Reads what follows the end marker (bounded) so a compressed stream's checksum is verified.</summary>
    private void DrainTail()
    {
        long drained = 0;
        while (drained < (4 << 20))
        {
            start = end;
            if (Ensure(1) == 0)
            {
                return;
            }

            drained += end - start;
        }
    }

    /// <summary>Makes at least <paramref name="count"/> bytes available at <see cref="start"/>; returns how many are (fewer at EOF).</summary>
    private int Ensure(int count)
    {
        if (end - start >= count || eof)
        {
            return end - start;
        }

        if (start > 0)
        {
            var kept = end - start;
            if (kept > 0)
            {
                Buffer.BlockCopy(buffer, start, buffer, 0, kept);
            }

            bufferOffset += start;
            start = 0;
            end = kept;
        }

        while (end - start < count)
        {
            int read;
            try
            {
                read = source.Read(buffer, end, buffer.Length - end);
            }
            catch (Exception e) when (FormatDetector.TranslateDecompressionError(e, streamKind, BytesRead) is { } translated)
            {
                throw translated;
            }

            if (read <= 0)
            {
                eof = true;
                break;
            }

            end += read;
            BytesRead += read;
            onRead(BytesRead);
        }

        return end - start;
    }

    private static bool IsZero(ReadOnlySpan<byte> block) => !block.ContainsAnyExcept((byte)0);

    internal static bool ChecksumValid(ReadOnlySpan<byte> header)
    {
        long unsignedSum = 0;
        long signedSum = 0;
        for (var i = 0; i < BlockSize; i++)
        {
            var b = i is >= 148 and < 156 ? (byte)' ' : header[i];
            unsignedSum += b;
            signedSum += (sbyte)b;
        }

        if (!TryParseNumber(header.Slice(148, 8), out var stored))
        {
            return false;
        }

        return stored == unsignedSum || stored == signedSum;
    }

    private static long ParseNumber(ReadOnlySpan<byte> field, string name, long offset)
    {
        if (!TryParseNumber(field, out var value))
        {
            throw UnpackErrors.Invalid(null, $"the {name} field of the header at byte {offset} is not a number");
        }

        return value;
    }

    /// <summary>Octal (NUL/space terminated, leading spaces allowed) or GNU base-256 numbers.</summary>
    internal static bool TryParseNumber(ReadOnlySpan<byte> field, out long value)
    {
        value = 0;
        if (field.Length > 0 && (field[0] & 0x80) != 0)
        {
            if (field[0] == 0xFF)
            {
                // negative base-256: only meaningful for times; refuse
                return false;
            }

            ulong v = (ulong)(field[0] & 0x7F);
            for (var i = 1; i < field.Length; i++)
            {
                if (v > (ulong.MaxValue >> 8))
                {
                    return false;
                }

                v = (v << 8) | field[i];
            }

            if (v > long.MaxValue)
            {
                return false;
            }

            value = (long)v;
            return true;
        }

        var pos = 0;
        while (pos < field.Length && field[pos] == ' ')
        {
            pos++;
        }

        while (pos < field.Length && field[pos] is >= (byte)'0' and <= (byte)'7')
        {
            if (value > (long.MaxValue >> 3))
            {
                return false;
            }

            value = (value << 3) | (long)(field[pos] - '0');
            pos++;
        }

        while (pos < field.Length)
        {
            if (field[pos] is not (0 or (byte)' '))
            {
                return false;
            }

            pos++;
        }

        return true;
    }

    private static string CString(ReadOnlySpan<byte> field)
    {
        var nul = field.IndexOf((byte)0);
        return EntryPath.FromBytes(nul >= 0 ? field[..nul] : field);
    }
}
