using System.Buffers.Binary;
using System.Text;
using FlyImages.Native;
using FsCheck.Xunit;
using Xunit;

namespace FlyImages.Tests.ThinPools;

/// <summary>
/// The device-mapper ioctl encoding, byte by byte against linux/dm-ioctl.h, and its decoding of answers built the way
/// the kernel builds them (drivers/md/dm-ioctl.c), including answers no kernel should give. No device needed: the
/// calls themselves are tested against real device-mapper in the VM (DmControlTests).
/// </summary>
public sealed class DmIoctlTests
{
    [Fact]
    public void Requests_are_the_kernels_ioctl_numbers()
    {
        // _IOWR(0xfd, nr, struct dm_ioctl) with sizeof(struct dm_ioctl) == 312 (0x138), as strace shows them
        Assert.Equal(0xC138FD00UL, DmIoctl.Request(DmIoctl.Command.Version));
        Assert.Equal(0xC138FD02UL, DmIoctl.Request(DmIoctl.Command.ListDevices));
        Assert.Equal(0xC138FD03UL, DmIoctl.Request(DmIoctl.Command.DeviceCreate));
        Assert.Equal(0xC138FD04UL, DmIoctl.Request(DmIoctl.Command.DeviceRemove));
        Assert.Equal(0xC138FD06UL, DmIoctl.Request(DmIoctl.Command.DeviceSuspend));
        Assert.Equal(0xC138FD07UL, DmIoctl.Request(DmIoctl.Command.DeviceStatus));
        Assert.Equal(0xC138FD09UL, DmIoctl.Request(DmIoctl.Command.TableLoad));
        Assert.Equal(0xC138FD0CUL, DmIoctl.Request(DmIoctl.Command.TableStatus));
        Assert.Equal(0xC138FD0EUL, DmIoctl.Request(DmIoctl.Command.TargetMessage));
    }

    [Fact]
    public void A_header_carries_version_4_the_sizes_the_flags_and_the_name()
    {
        var b = DmIoctl.NewBuffer("flyimages-p-7", DmIoctl.SuspendFlag);
        Assert.Equal(DmIoctl.InitialBufferSize, b.Length);
        Assert.Equal(4u, U32(b, 0));
        Assert.Equal((uint)b.Length, U32(b, 12)); // data_size
        Assert.Equal(312u, U32(b, 16)); // data_start
        Assert.Equal(DmIoctl.SuspendFlag, U32(b, 28));
        Assert.Equal("flyimages-p-7", CString(b, 48));
        Assert.Equal(0, b[48 + 127]);
    }

    [Fact]
    public void A_table_load_puts_each_target_at_an_aligned_offset_linked_from_itself()
    {
        var b = DmIoctl.TableLoad("pool", [new DmTarget(0, 1024, "linear", "7:0 0"), new DmTarget(1024, 8, "zero", "")]);
        Assert.Equal(2u, U32(b, 20)); // target_count
        Assert.Equal((uint)b.Length, U32(b, 12));
        var first = 312;
        Assert.Equal((0UL, 1024UL), (U64(b, first), U64(b, first + 8)));
        Assert.Equal("linear", CString(b, first + 24));
        Assert.Equal("7:0 0", CString(b, first + 40));
        var next = (int)U32(b, first + 20);
        Assert.Equal(0, next % 8);
        Assert.Equal(48, next); // 40 + "7:0 0\0" = 46, aligned to 48
        var second = first + next;
        Assert.Equal((1024UL, 8UL), (U64(b, second), U64(b, second + 8)));
        Assert.Equal("zero", CString(b, second + 24));
        Assert.Equal("", CString(b, second + 40));
        Assert.Equal(b.Length, second + 48);
    }

    [Fact]
    public void A_message_follows_the_header_after_its_sector()
    {
        var b = DmIoctl.Message("pool", 0, "create_snap 5 3");
        Assert.Equal(312u, U32(b, 16));
        Assert.Equal(0UL, U64(b, 312));
        Assert.Equal("create_snap 5 3", CString(b, 320));
    }

    [Theory]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData("../../etc/passwd")]
    [InlineData("a/b")]
    [InlineData("a\0b")]
    [InlineData("line\nbreak")]
    public void Names_that_dm_or_dev_mapper_cannot_hold_are_refused(string name)
    {
        var e = Assert.Throws<ArgumentException>(() => DmIoctl.NewBuffer(name, 0));
        Assert.Contains("not a valid device-mapper name", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Names_are_at_most_127_bytes_of_utf8()
    {
        DmIoctl.CheckName(new string('a', 127));
        Assert.Throws<ArgumentException>(() => DmIoctl.CheckName(new string('a', 128)));
        Assert.Throws<ArgumentException>(() => DmIoctl.CheckName(new string('é', 64))); // 128 bytes
    }

    [Theory]
    [InlineData("thin pool")]
    [InlineData("")]
    [InlineData("a-type-name-too-long")]
    public void Bad_target_types_are_refused(string type)
        => Assert.Throws<ArgumentException>(() => DmIoctl.TableLoad("x", [new DmTarget(0, 8, type, "")]));

    [Fact]
    public void Bad_targets_and_messages_are_refused()
    {
        Assert.Throws<ArgumentException>(() => DmIoctl.TableLoad("x", []));
        Assert.Throws<ArgumentException>(() => DmIoctl.TableLoad("x", [new DmTarget(0, 0, "zero", "")]));
        Assert.Throws<ArgumentException>(() => DmIoctl.TableLoad("x", [new DmTarget(0, 8, "linear", "7:0\0 0")]));
        Assert.Throws<ArgumentException>(() => DmIoctl.Message("x", 0, ""));
        Assert.Throws<ArgumentException>(() => DmIoctl.Message("x", 0, "delete 1\0"));
    }

    [Fact]
    public void A_status_answer_is_read_as_the_kernel_writes_it()
    {
        var b = StatusAnswer(("thin-pool", 0, 2048, "1 10/256 0/16 - rw discard_passdown error_if_no_space - 1024"), ("linear", 2048, 8, "7:1 0"));
        var targets = DmIoctl.ReadTargets(b);
        Assert.Equal(2, targets.Length);
        Assert.Equal("0 2048 thin-pool 1 10/256 0/16 - rw discard_passdown error_if_no_space - 1024", targets[0].ToString());
        Assert.Equal("2048 8 linear 7:1 0", targets[1].ToString());
        Assert.Equal("0 2048 thin-pool 1 10/256 0/16 - rw discard_passdown error_if_no_space - 1024\n2048 8 linear 7:1 0", DmTarget.Text(targets));
    }

    [Fact]
    public void Answers_that_point_outside_themselves_are_refused()
    {
        var good = StatusAnswer(("zero", 0, 8, ""), ("zero", 8, 8, ""));

        var tooMany = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(tooMany.AsSpan(20), 100_000);
        Assert.Throws<InvalidDataException>(() => DmIoctl.ReadTargets(tooMany));

        var farNext = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(farNext.AsSpan(312 + 20), 1_000_000);
        Assert.Throws<InvalidDataException>(() => DmIoctl.ReadTargets(farNext));

        var backwards = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(backwards.AsSpan(312 + 20), 0);
        Assert.Throws<InvalidDataException>(() => DmIoctl.ReadTargets(backwards));

        var bigData = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(bigData.AsSpan(12), (uint)good.Length + 1);
        Assert.Throws<InvalidDataException>(() => DmIoctl.ReadTargets(bigData));

        var unterminated = StatusAnswer(("zero", 0, 8, "abc"));
        var end = (int)U32(unterminated, 12);
        unterminated.AsSpan(312 + 40, end - 312 - 40).Fill((byte)'x');
        Assert.Throws<InvalidDataException>(() => DmIoctl.ReadTargets(unterminated.AsSpan(0, end)));

        Assert.Throws<InvalidDataException>(() => DmIoctl.ReadReply(new byte[100]));
    }

    /// <summary>Whatever bytes follow a header, decoding ends in targets or InvalidDataException: never an index out of range, never a loop.</summary>
    [Property(MaxTest = 500)]
    public bool Any_answer_decodes_or_is_refused_cleanly(byte[] tail, uint targetCount, uint dataSize, uint dataStart, bool wild)
    {
        var b = new byte[312 + tail.Length];
        tail.CopyTo(b, 312);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(12), dataSize % (uint)(b.Length + 16));
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(16), wild ? dataStart : 312 + (dataStart % 64));
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(20), targetCount % 8);
        foreach (var decode in new Action[] { () => DmIoctl.ReadTargets(b), () => DmIoctl.ReadNames(b) })
        {
            try
            {
                decode();
            }
            catch (InvalidDataException)
            {
            }
        }

        return true;
    }

    [Fact]
    public void A_device_list_is_read_record_by_record()
    {
        var b = DmIoctl.NewBuffer(null, 0, 4096);
        var at = 312;
        foreach (var (name, dev, last) in new[] { ("pool", DmIoctl.EncodeDevice(253, 0), false), ("flyimages-pool-1", DmIoctl.EncodeDevice(253, 1), true) })
        {
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at), dev);
            var size = (12 + name.Length + 1 + 8 + 7) & ~7; // name, then event_nr and flags as newer kernels add
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at + 8), last ? 0u : (uint)size);
            Encoding.ASCII.GetBytes(name).CopyTo(b, at + 12);
            at += size;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(12), (uint)at);
        Assert.Equal([("pool", DmIoctl.EncodeDevice(253, 0)), ("flyimages-pool-1", DmIoctl.EncodeDevice(253, 1))], DmIoctl.ReadNames(b));

        var empty = DmIoctl.NewBuffer(null, 0, 4096);
        BinaryPrimitives.WriteUInt32LittleEndian(empty.AsSpan(12), 312 + 8);
        Assert.Empty(DmIoctl.ReadNames(empty));
    }

    [Theory]
    [InlineData(253u, 0u, 0xFD00UL)]
    [InlineData(7u, 3u, 0x0703UL)]
    [InlineData(253u, 300u, 0x10FD2CUL)]
    [InlineData(4096u, 1u, 0x1000_0000_0001UL)]
    public void Device_numbers_use_the_kernels_encoding(uint major, uint minor, ulong encoded)
    {
        Assert.Equal(encoded, DmIoctl.EncodeDevice(major, minor));
        Assert.Equal((major, minor), DmIoctl.DecodeDevice(encoded));
    }

    /// <summary>A DM_TABLE_STATUS answer as retrieve_status() writes it: specs from data_start, each next counted from the first, data_size at the last string's end.</summary>
    private static byte[] StatusAnswer(params (string Type, long Start, long Length, string Parameters)[] targets)
    {
        var b = DmIoctl.NewBuffer("x", 0, 4096);
        var at = 0;
        var used = 0;
        foreach (var t in targets)
        {
            var spec = 312 + at;
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(spec), (ulong)t.Start);
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(spec + 8), (ulong)t.Length);
            Encoding.ASCII.GetBytes(t.Type).CopyTo(b, spec + 24);
            Encoding.ASCII.GetBytes(t.Parameters).CopyTo(b, spec + 40);
            var end = at + 40 + t.Parameters.Length + 1;
            used = 312 + end;
            at = (end + 7) & ~7;
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(spec + 20), (uint)at);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(12), (uint)used);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(20), (uint)targets.Length);
        return b;
    }

    private static uint U32(byte[] b, int at) => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(at));

    private static ulong U64(byte[] b, int at) => BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(at));

    private static string CString(byte[] b, int at) => Encoding.UTF8.GetString(b, at, Array.IndexOf(b, (byte)0, at) - at);
}
