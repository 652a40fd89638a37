using System.Globalization;
using System.Text;

namespace FlyImages.Unpacking;

/// <summary>PAX extended headers: records "LEN key=value\n", each checked; the keys the unpacker applies.</summary>
internal sealed partial class TarReader
{
    private sealed class Pax
    {
        public string? Path;
        public string? LinkPath;
        public long? Size;
        public long? Uid;
        public long? Gid;
        public long? MtimeSeconds;
        public int MtimeNanoseconds;
        public List<KeyValuePair<string, byte[]>>? Xattrs;
    }

    private Pax ParsePax(byte[] data, long offset)
    {
        var pax = new Pax();
        var pos = 0;
        while (pos < data.Length)
        {
            if (data[pos] == 0)
            {
                // some writers pad the record block with NULs
                if (data.AsSpan(pos).ContainsAnyExcept((byte)0))
                {
                    throw UnpackErrors.Invalid(null, $"malformed PAX record in the extended header at byte {offset}");
                }

                break;
            }

            var space = data.AsSpan(pos, Math.Min(data.Length - pos, 12)).IndexOf((byte)' ');
            if (space <= 0 || !int.TryParse(data.AsSpan(pos, space), NumberStyles.None, CultureInfo.InvariantCulture, out var length)
                || length < space + 3 || length > data.Length - pos || data[pos + length - 1] != '\n')
            {
                throw UnpackErrors.Invalid(null, $"malformed PAX record length in the extended header at byte {offset}");
            }

            var record = data.AsSpan(pos + space + 1, length - space - 2);
            var eq = record.IndexOf((byte)'=');
            if (eq <= 0)
            {
                throw UnpackErrors.Invalid(null, $"PAX record without key=value in the extended header at byte {offset}");
            }

            var key = Encoding.ASCII.GetString(record[..eq]);
            var value = record[(eq + 1)..];
            pos += length;

            switch (key)
            {
                case "path":
                    pax.Path = value.Length == 0 ? null : EntryPath.FromBytes(value);
                    break;
                case "linkpath":
                    pax.LinkPath = value.Length == 0 ? null : EntryPath.FromBytes(value);
                    break;
                case "size":
                    pax.Size = ParseDecimal(value, key, offset);
                    break;
                case "uid":
                    pax.Uid = ParseDecimal(value, key, offset);
                    break;
                case "gid":
                    pax.Gid = ParseDecimal(value, key, offset);
                    break;
                case "mtime":
                    (pax.MtimeSeconds, pax.MtimeNanoseconds) = ParseTime(value, offset);
                    break;
                default:
                    if (key.StartsWith("SCHILY.xattr.", StringComparison.Ordinal))
                    {
                        var xname = EntryPath.FromBytes(record["SCHILY.xattr.".Length..eq]);
                        pax.Xattrs ??= [];
                        if (xname.Length == 0 || xname.Length > EntryPath.NameMax || xname.Contains('\0'))
                        {
                            throw UnpackErrors.Invalid(null, $"invalid extended attribute name '{EntryPath.Display(xname, 64)}' in the extended header at byte {offset}");
                        }

                        if (pax.Xattrs.Count >= limits.MaxXattrsPerEntry)
                        {
                            throw UnpackErrors.Limit(null, $"more than {limits.MaxXattrsPerEntry} extended attributes on the entry at byte {offset} (xattr count limit)");
                        }

                        if (value.Length > limits.MaxXattrValueSize)
                        {
                            throw UnpackErrors.Limit(null, $"extended attribute '{EntryPath.Display(xname, 64)}' is {value.Length} bytes, more than the xattr size limit ({limits.MaxXattrValueSize})");
                        }

                        pax.Xattrs.RemoveAll(x => x.Key == xname);
                        pax.Xattrs.Add(new(xname, value.ToArray()));
                    }
                    else if (key.StartsWith("GNU.sparse.", StringComparison.Ordinal))
                    {
                        throw UnpackErrors.Unsupported(null, $"GNU sparse files (PAX key {key}) are not supported");
                    }

                    // atime, ctime, uname, gname, comment, charset, SCHILY.dev/ino/nlink, LIBARCHIVE.*: not applied
                    break;
            }
        }

        return pax;
    }

    private static long ParseDecimal(ReadOnlySpan<byte> value, string key, long offset)
    {
        if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var result))
        {
            throw UnpackErrors.Invalid(null, $"PAX {key} is not a non-negative number in the extended header at byte {offset}");
        }

        return result;
    }

    private static (long Seconds, int Nanoseconds) ParseTime(ReadOnlySpan<byte> value, long offset)
    {
        var dot = value.IndexOf((byte)'.');
        var whole = dot < 0 ? value : value[..dot];
        if (!long.TryParse(whole, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var seconds))
        {
            throw UnpackErrors.Invalid(null, $"PAX mtime is not a number in the extended header at byte {offset}");
        }

        var nanos = 0;
        if (dot >= 0)
        {
            var fraction = value[(dot + 1)..];
            for (var i = 0; i < fraction.Length; i++)
            {
                if (fraction[i] is < (byte)'0' or > (byte)'9')
                {
                    throw UnpackErrors.Invalid(null, $"PAX mtime has a malformed fraction in the extended header at byte {offset}");
                }

                if (i < 9)
                {
                    nanos = (nanos * 10) + (fraction[i] - '0');
                }
            }

            for (var i = fraction.Length; i < 9; i++)
            {
                nanos *= 10;
            }

            if (whole.Length > 0 && whole[0] == '-' && nanos > 0)
            {
                seconds -= 1;
                nanos = 1_000_000_000 - nanos;
            }
        }

        return (seconds, nanos);
    }
}
