using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace FlyImages.Native;

/// <summary>One line of a device-mapper table or status: sectors from <see cref="Start"/>, <see cref="Length"/> long, mapped by a target type.</summary>
internal sealed record DmTarget(long Start, long Length, string Type, string Parameters)
{
    /// <summary>The lines of a table or status as dmsetup prints them.</summary>
    public static string Text(IEnumerable<DmTarget> targets) => string.Join('\n', targets.Select(t => t.ToString()));

    /// <summary>The line as dmsetup prints it: <c>start length type parameters</c>.</summary>
    public override string ToString() => Parameters.Length == 0
        ? string.Create(CultureInfo.InvariantCulture, $"{Start} {Length} {Type}")
        : string.Create(CultureInfo.InvariantCulture, $"{Start} {Length} {Type} {Parameters}");
}

/// <summary>The header fields of a <c>struct dm_ioctl</c> the kernel answered with.</summary>
internal readonly record struct DmReply(uint DataSize, uint DataStart, uint TargetCount, int OpenCount, uint Flags, ulong Device)
{
    public bool Suspended => (Flags & DmIoctl.SuspendFlag) != 0;

    public bool BufferFull => (Flags & DmIoctl.BufferFullFlag) != 0;
}

/// <summary>
/// The device-mapper ioctl ABI (linux/dm-ioctl.h, interface version 4): a <c>struct dm_ioctl</c> header of 312
/// bytes (the same on every Linux architecture) followed by a command's data, in one buffer that the kernel
/// reads and answers in. Pure encoding and bounds-checked decoding; the calls themselves are in
/// ThinPools.DeviceMapper.DmControl. Everything read back is checked against the buffer: nothing the kernel
/// (or a test) puts there can make a read run past it.
/// </summary>
internal static class DmIoctl
{
    public const int HeaderSize = 312;

    /// <summary>DM_NAME_LEN: a name is at most 127 bytes and its NUL.</summary>
    public const int NameLength = 128;

    /// <summary>DM_MAX_TYPE_NAME: a target type is at most 15 bytes and its NUL.</summary>
    public const int TypeNameLength = 16;

    /// <summary>sizeof(struct dm_target_spec).</summary>
    public const int TargetSpecSize = 40;

    /// <summary>The buffer a reading command starts with, as libdevmapper's; doubled on DM_BUFFER_FULL_FLAG up to <see cref="MaxBufferSize"/>.</summary>
    public const int InitialBufferSize = 16 * 1024;

    public const int MaxBufferSize = 4 * 1024 * 1024;

    public const uint SuspendFlag = 1 << 1;
    public const uint StatusTableFlag = 1 << 4;
    public const uint BufferFullFlag = 1 << 8;

    private const int OffsetDataSize = 12;
    private const int OffsetDataStart = 16;
    private const int OffsetTargetCount = 20;
    private const int OffsetOpenCount = 24;
    private const int OffsetFlags = 28;
    private const int OffsetDevice = 40;
    private const int OffsetName = 48;

    /// <summary>The interface version FlyImages speaks: major 4, and the oldest minor that has every command used (the kernel accepts any minor up to its own).</summary>
    private static readonly uint[] Version = [4, 0, 0];

    public enum Command : uint
    {
        Version = 0,
        ListDevices = 2,
        DeviceCreate = 3,
        DeviceRemove = 4,
        DeviceSuspend = 6,
        DeviceStatus = 7,
        TableLoad = 9,
        TableStatus = 12,
        TargetMessage = 14,
    }

    /// <summary>_IOWR(0xfd, command, struct dm_ioctl).</summary>
    public static ulong Request(Command command) => (3UL << 30) | ((ulong)HeaderSize << 16) | (0xFDUL << 8) | (uint)command;

    /// <summary>
    /// Throws <see cref="ArgumentException"/> unless <paramref name="name"/> is a name device-mapper and /dev/mapper can
    /// both hold: 1-127 bytes of UTF-8, no '/', no NUL, not "." or "..", no control characters.
    /// </summary>
    public static void CheckName(string name)
    {
        string? why = name switch
        {
            "" => "it is empty",
            "." or ".." => "it is a path component",
            _ when Encoding.UTF8.GetByteCount(name) >= NameLength => $"it is longer than {NameLength - 1} bytes",
            _ when name.Contains('/', StringComparison.Ordinal) => "it contains '/'",
            _ when name.Any(char.IsControl) => "it contains a control character",
            _ => null,
        };
        if (why is not null)
        {
            throw new ArgumentException($"'{name.Replace("\0", "\\0", StringComparison.Ordinal)}' is not a valid device-mapper name: {why}.", nameof(name));
        }
    }

    /// <summary>A buffer of <paramref name="size"/> bytes whose header names <paramref name="name"/> (null: none) and says the whole buffer is there to be answered in.</summary>
    public static byte[] NewBuffer(string? name, uint flags, int size = InitialBufferSize)
    {
        if (size < HeaderSize)
        {
            throw new ArgumentOutOfRangeException(nameof(size));
        }

        var buffer = new byte[size];
        var span = buffer.AsSpan();
        for (var i = 0; i < Version.Length; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(span[(i * 4)..], Version[i]);
        }

        WriteUInt32(span, OffsetDataSize, (uint)size);
        WriteUInt32(span, OffsetDataStart, HeaderSize);
        WriteUInt32(span, OffsetFlags, flags);
        if (name is not null)
        {
            CheckName(name);
            Encoding.UTF8.GetBytes(name, span.Slice(OffsetName, NameLength - 1));
        }

        return buffer;
    }

    /// <summary>DM_TABLE_LOAD's buffer: the header, then each target spec and its NUL-terminated parameters at 8-byte-aligned offsets.</summary>
    public static byte[] TableLoad(string name, IReadOnlyList<DmTarget> table)
    {
        if (table.Count == 0)
        {
            throw new ArgumentException("A device-mapper table needs at least one target.", nameof(table));
        }

        var sizes = table.Select(t =>
        {
            var typeBytes = Encoding.UTF8.GetByteCount(t.Type);
            if (typeBytes is 0 or >= TypeNameLength || t.Type.Any(c => c == '\0' || char.IsWhiteSpace(c)))
            {
                throw new ArgumentException($"'{t.Type}' is not a device-mapper target type.", nameof(table));
            }

            if (t.Parameters.Contains('\0', StringComparison.Ordinal) || t.Start < 0 || t.Length <= 0)
            {
                throw new ArgumentException($"The target '{t}' is not valid (a NUL in its parameters, or a negative start or empty length).", nameof(table));
            }

            return Align8(TargetSpecSize + Encoding.UTF8.GetByteCount(t.Parameters) + 1);
        }).ToArray();
        var buffer = NewBuffer(name, 0, checked(HeaderSize + sizes.Sum()));
        var span = buffer.AsSpan();
        WriteUInt32(span, OffsetTargetCount, (uint)table.Count);
        var at = HeaderSize;
        for (var i = 0; i < table.Count; i++)
        {
            var spec = span.Slice(at, sizes[i]);
            BinaryPrimitives.WriteUInt64LittleEndian(spec, (ulong)table[i].Start);
            BinaryPrimitives.WriteUInt64LittleEndian(spec[8..], (ulong)table[i].Length);
            BinaryPrimitives.WriteUInt32LittleEndian(spec[20..], (uint)sizes[i]); // next: from this spec to the next one
            Encoding.UTF8.GetBytes(table[i].Type, spec.Slice(24, TypeNameLength - 1));
            Encoding.UTF8.GetBytes(table[i].Parameters, spec[TargetSpecSize..]);
            at += sizes[i];
        }

        return buffer;
    }

    /// <summary>DM_TARGET_MSG's buffer: the header, then struct dm_target_msg (the sector, then the NUL-terminated message), with room for an answer.</summary>
    public static byte[] Message(string name, ulong sector, string message)
    {
        if (message.Length == 0 || message.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("A device-mapper message is not empty and has no NUL.", nameof(message));
        }

        var buffer = NewBuffer(name, 0, Math.Max(InitialBufferSize, Align8(HeaderSize + 8 + Encoding.UTF8.GetByteCount(message) + 1)));
        var span = buffer.AsSpan(HeaderSize);
        BinaryPrimitives.WriteUInt64LittleEndian(span, sector);
        Encoding.UTF8.GetBytes(message, span[8..]);
        return buffer;
    }

    /// <summary>The header the kernel answered with; InvalidDataException when its sizes do not fit the buffer.</summary>
    public static DmReply ReadReply(ReadOnlySpan<byte> buffer)
    {
        if (buffer.Length < HeaderSize)
        {
            throw new InvalidDataException($"A device-mapper answer of {buffer.Length} bytes is shorter than its header.");
        }

        var reply = new DmReply(
            ReadUInt32(buffer, OffsetDataSize), ReadUInt32(buffer, OffsetDataStart), ReadUInt32(buffer, OffsetTargetCount),
            BinaryPrimitives.ReadInt32LittleEndian(buffer[OffsetOpenCount..]), ReadUInt32(buffer, OffsetFlags),
            BinaryPrimitives.ReadUInt64LittleEndian(buffer[OffsetDevice..]));
        // a command that answers no data sets data_size to offsetof(struct dm_ioctl, data), below data_start
        if (reply.DataSize > buffer.Length || reply.DataStart > buffer.Length)
        {
            throw new InvalidDataException($"A device-mapper answer claims {reply.DataSize} bytes of data from offset {reply.DataStart} in a buffer of {buffer.Length}.");
        }

        return reply;
    }

    /// <summary>The header of an answer whose data is complete (not cut off by DM_BUFFER_FULL_FLAG).</summary>
    private static DmReply ReadData(ReadOnlySpan<byte> buffer)
    {
        var reply = ReadReply(buffer);
        if (reply.BufferFull)
        {
            throw new InvalidDataException("A device-mapper answer did not fit its buffer (DM_BUFFER_FULL_FLAG).");
        }

        return reply.DataStart < HeaderSize
            ? throw new InvalidDataException($"A device-mapper answer's data starts at {reply.DataStart}, inside its header.")
            : reply;
    }

    /// <summary>
    /// The targets of a DM_TABLE_STATUS answer (the table with <see cref="StatusTableFlag"/>, else the status): each spec's
    /// <c>next</c> counts from the first spec. InvalidDataException for a spec or a string outside the answer.
    /// </summary>
    public static DmTarget[] ReadTargets(ReadOnlySpan<byte> buffer)
    {
        var reply = ReadData(buffer);
        if (reply.TargetCount == 0)
        {
            return []; // no table (data_size may then end before data_start)
        }

        var data = buffer[..(int)reply.DataSize];
        var first = (int)reply.DataStart;
        if (first > data.Length || reply.TargetCount > (data.Length - first) / TargetSpecSize)
        {
            throw new InvalidDataException($"A device-mapper answer claims {reply.TargetCount} targets in {data.Length - first} bytes.");
        }

        var targets = new DmTarget[reply.TargetCount];
        var at = first;
        for (var i = 0; i < targets.Length; i++)
        {
            if (at > data.Length - TargetSpecSize)
            {
                throw new InvalidDataException($"Target {i} of a device-mapper answer lies outside it (offset {at} of {data.Length}).");
            }

            var spec = data[at..];
            targets[i] = new DmTarget(
                checked((long)BinaryPrimitives.ReadUInt64LittleEndian(spec)),
                checked((long)BinaryPrimitives.ReadUInt64LittleEndian(spec[8..])),
                CString(spec.Slice(24, TypeNameLength)),
                CString(spec[TargetSpecSize..]));

            // the last spec's next is not used: it may point at the aligned end, past the data
            var next = ReadUInt32(spec, 20);
            if (i + 1 < targets.Length && (first + (long)next <= at || next > data.Length - first))
            {
                throw new InvalidDataException($"Target {i} of a device-mapper answer points outside it (next {next}).");
            }

            at = first + (int)Math.Min(next, (uint)(data.Length - first));
        }

        return targets;
    }

    /// <summary>The devices of a DM_LIST_DEVICES answer (struct dm_name_list records, each <c>next</c> from itself, 0 ending the list).</summary>
    public static (string Name, ulong Device)[] ReadNames(ReadOnlySpan<byte> buffer)
    {
        var reply = ReadData(buffer);
        var data = buffer[..(int)reply.DataSize];
        var names = new List<(string, ulong)>();
        var at = (int)reply.DataStart;
        while (at <= data.Length - 12)
        {
            var record = data[at..];
            var device = BinaryPrimitives.ReadUInt64LittleEndian(record);
            if (device == 0)
            {
                break; // "no data"
            }

            names.Add((CString(record[12..]), device));
            var next = ReadUInt32(record, 8);
            if (next == 0)
            {
                break;
            }

            if (next < 12 || next > data.Length - at)
            {
                throw new InvalidDataException($"A device-mapper device list points outside itself (record at {at}, next {next}).");
            }

            at += (int)next;
        }

        return names.ToArray();
    }

    /// <summary>The interface version of a DM_VERSION answer ("4.48.0").</summary>
    public static string ReadVersion(ReadOnlySpan<byte> buffer)
        => string.Create(CultureInfo.InvariantCulture, $"{ReadUInt32(buffer, 0)}.{ReadUInt32(buffer, 4)}.{ReadUInt32(buffer, 8)}");

    /// <summary>The major and minor of the kernel's encoding of a dev_t (huge_encode_dev, as glibc's makedev).</summary>
    public static (uint Major, uint Minor) DecodeDevice(ulong device)
        => ((uint)(((device >> 8) & 0xfff) | ((device >> 32) & 0xfffff000)), (uint)((device & 0xff) | ((device >> 12) & 0xffffff00)));

    /// <summary>glibc's makedev.</summary>
    public static ulong EncodeDevice(uint major, uint minor)
        => ((ulong)(major & 0xfffff000) << 32) | ((ulong)(major & 0xfff) << 8) | ((ulong)(minor & 0xffffff00) << 12) | (minor & 0xff);

    private static int Align8(int size) => (size + 7) & ~7;

    private static uint ReadUInt32(ReadOnlySpan<byte> span, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(span[offset..]);

    private static void WriteUInt32(Span<byte> span, int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(span[offset..], value);

    /// <summary>A NUL-terminated string inside <paramref name="span"/>; InvalidDataException when no NUL ends it there.</summary>
    private static string CString(ReadOnlySpan<byte> span)
    {
        var end = span.IndexOf((byte)0);
        if (end < 0)
        {
            throw new InvalidDataException("A string in a device-mapper answer is not terminated inside it.");
        }

        return Encoding.UTF8.GetString(span[..end]);
    }
}
