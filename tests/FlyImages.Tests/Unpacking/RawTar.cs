using System.Globalization;
using System.Text;

namespace FlyImages.Tests.Unpacking;

/// <summary>
/// A tiny tar writer for the tests: it writes exactly the headers it is told to, including wrong
/// ones (bad checksums, lying sizes, NULs in names, raw bytes), so the corpus can hold any attack.
/// </summary>
internal sealed class RawTar
{
    private readonly MemoryStream output = new();

    public long DefaultMtime { get; set; } = 1_600_000_000;

    public byte[] ToArray() => output.ToArray();

    /// <summary>Writes one header (and its data, padded) with every field settable; <paramref name="mutate"/> edits the block before the checksum.</summary>
    public RawTar Entry(string name, char type, byte[]? data = null, int mode = 0x1A4, int uid = 0, int gid = 0, string link = "",
        long? size = null, long? mtime = null, Action<byte[]>? mutate = null, bool badChecksum = false, bool gnu = false, bool writeData = true,
        byte[]? rawName = null)
    {
        data ??= [];
        var h = new byte[512];
        var nameBytes = rawName ?? Encoding.UTF8.GetBytes(name);
        if (nameBytes.Length > 100 && !gnu && rawName is null)
        {
            // split into prefix/name when it fits, as ustar does
            var cut = Array.LastIndexOf(nameBytes, (byte)'/', Math.Min(nameBytes.Length - 1, 155));
            if (cut > 0 && nameBytes.Length - cut - 1 <= 100)
            {
                Array.Copy(nameBytes, 0, h, 345, cut);
                nameBytes = nameBytes[(cut + 1)..];
            }
        }

        Array.Copy(nameBytes, h, Math.Min(100, nameBytes.Length));
        Octal(h, 100, 8, mode);
        Octal(h, 108, 8, uid);
        Octal(h, 116, 8, gid);
        Octal(h, 124, 12, size ?? data.Length);
        Octal(h, 136, 12, mtime ?? DefaultMtime);
        h[156] = (byte)type;
        var linkBytes = Encoding.UTF8.GetBytes(link);
        Array.Copy(linkBytes, 0, h, 157, Math.Min(100, linkBytes.Length));
        if (gnu)
        {
            Encoding.ASCII.GetBytes("ustar  \0").CopyTo(h, 257);
        }
        else
        {
            Encoding.ASCII.GetBytes("ustar\0" + "00").CopyTo(h, 257);
        }

        mutate?.Invoke(h);
        Checksum(h);
        if (badChecksum)
        {
            h[150] ^= 0x01;
        }

        output.Write(h);
        if (writeData)
        {
            output.Write(data);
            Pad(data.Length);
        }

        return this;
    }

    public RawTar File(string name, string content, int mode = 0x1A4, int uid = 0, int gid = 0, long? mtime = null) =>
        Entry(name, '0', Encoding.UTF8.GetBytes(content), mode, uid, gid, mtime: mtime);

    public RawTar File(string name, byte[] content, int mode = 0x1A4) => Entry(name, '0', content, mode);

    public RawTar Dir(string name, int mode = 0x1ED, int uid = 0, int gid = 0, long? mtime = null) => Entry(name, '5', null, mode, uid, gid, mtime: mtime);

    public RawTar Symlink(string name, string target) => Entry(name, '2', null, 0x1FF, link: target);

    public RawTar HardLink(string name, string target) => Entry(name, '1', null, 0x1A4, link: target);

    public RawTar Fifo(string name, int mode = 0x1A4) => Entry(name, '6', null, mode);

    public RawTar CharDevice(string name) => Entry(name, '3', null, 0x1B6, mutate: h => { Octal(h, 329, 8, 1); Octal(h, 337, 8, 3); });

    public RawTar BlockDevice(string name) => Entry(name, '4', null, 0x1B0, mutate: h => { Octal(h, 329, 8, 8); Octal(h, 337, 8, 0); });

    /// <summary>A PAX extended header ('x') with the given records (values as raw bytes).</summary>
    public RawTar Pax(params (string Key, byte[] Value)[] records)
    {
        var body = new MemoryStream();
        foreach (var (key, value) in records)
        {
            var keyBytes = Encoding.UTF8.GetBytes(key);
            var rest = keyBytes.Length + value.Length + 3; // ' ' '=' '\n'
            var digits = rest.ToString(CultureInfo.InvariantCulture).Length;
            var total = rest + digits;
            if (total.ToString(CultureInfo.InvariantCulture).Length != digits)
            {
                total++;
            }

            body.Write(Encoding.ASCII.GetBytes(total.ToString(CultureInfo.InvariantCulture) + " "));
            body.Write(keyBytes);
            body.WriteByte((byte)'=');
            body.Write(value);
            body.WriteByte((byte)'\n');
        }

        return Entry("PaxHeaders/x", 'x', body.ToArray());
    }

    public RawTar Pax(params (string Key, string Value)[] records) =>
        Pax(records.Select(r => (r.Key, Encoding.UTF8.GetBytes(r.Value))).ToArray());

    /// <summary>A GNU long name ('L') or long link ('K') record.</summary>
    public RawTar GnuLong(char type, string value) => Entry("././@LongLink", type, Encoding.UTF8.GetBytes(value + "\0"), gnu: true);

    public RawTar Raw(byte[] bytes)
    {
        output.Write(bytes);
        return this;
    }

    /// <summary>The end-of-archive marker (two zero blocks).</summary>
    public RawTar End()
    {
        output.Write(new byte[1024]);
        return this;
    }

    public static void Octal(byte[] h, int offset, int length, long value)
    {
        var text = Convert.ToString(value, 8).PadLeft(length - 1, '0');
        Encoding.ASCII.GetBytes(text).CopyTo(h, offset);
        h[offset + length - 1] = 0;
    }

    public static void Checksum(byte[] h)
    {
        for (var i = 148; i < 156; i++)
        {
            h[i] = (byte)' ';
        }

        var sum = h.Sum(b => (long)b);
        var text = Convert.ToString(sum, 8).PadLeft(6, '0');
        Encoding.ASCII.GetBytes(text).CopyTo(h, 148);
        h[154] = 0;
        h[155] = (byte)' ';
    }

    private void Pad(long length)
    {
        var pad = (512 - (length % 512)) % 512;
        output.Write(new byte[pad]);
    }
}
