using System.Text;

namespace FlyImages.Unpacking;

/// <summary>
/// Entry names as the unpacker handles them: raw bytes carried in a string one char per byte
/// (Latin-1), so names that are not UTF-8 survive exactly; checked and normalized to a relative
/// path of plain components ("" is the destination itself).
/// </summary>
internal static class EntryPath
{
    public const int NameMax = 255;

    /// <summary>
    /// Checks <paramref name="raw"/> and returns it as "a/b/c": no leading "/", no "." or empty
    /// components, no "..". Rejects what could leave the root or cannot be a Linux name.
    /// </summary>
    public static string Normalize(string raw, UnpackLimits limits, string role)
    {
        if (raw.Length == 0)
        {
            throw UnpackErrors.Name(Display(raw), $"the {role} is empty");
        }

        if (raw.Length > limits.MaxPathLength)
        {
            throw UnpackErrors.Limit(Display(raw, 200), $"the {role} is {raw.Length} bytes long, more than the path length limit ({limits.MaxPathLength})");
        }

        if (raw.Contains('\0'))
        {
            throw UnpackErrors.Name(Display(raw), $"the {role} contains a NUL byte");
        }

        if (raw[0] == '/')
        {
            throw UnpackErrors.Traversal(Display(raw), $"the {role} is absolute (names must be relative to the layer root)");
        }

        var clean = true;
        var depth = 0;
        var start = 0;
        for (var i = 0; i <= raw.Length; i++)
        {
            if (i < raw.Length && raw[i] != '/')
            {
                continue;
            }

            var length = i - start;
            if (length == 0 || (length == 1 && raw[start] == '.'))
            {
                clean = false;
            }
            else if (length == 2 && raw[start] == '.' && raw[start + 1] == '.')
            {
                throw UnpackErrors.Traversal(Display(raw), $"the {role} contains a '..' component");
            }
            else if (length > NameMax)
            {
                throw UnpackErrors.Name(Display(raw, 200), $"a component of the {role} is {length} bytes long (at most {NameMax})");
            }
            else
            {
                depth++;
            }

            start = i + 1;
        }

        if (depth > limits.MaxPathDepth)
        {
            throw UnpackErrors.Limit(Display(raw, 200), $"the {role} is {depth} folders deep, more than the path depth limit ({limits.MaxPathDepth})");
        }

        if (clean)
        {
            return raw;
        }

        var builder = new StringBuilder(raw.Length);
        foreach (var part in raw.Split('/'))
        {
            if (part.Length == 0 || part == ".")
            {
                continue;
            }

            if (builder.Length > 0)
            {
                builder.Append('/');
            }

            builder.Append(part);
        }

        return builder.ToString();
    }

    /// <summary>Splits a normalized path into its folder ("" for the root) and last component.</summary>
    public static (string Parent, string Leaf) Split(string path)
    {
        var slash = path.LastIndexOf('/');
        return slash < 0 ? (string.Empty, path) : (path[..slash], path[(slash + 1)..]);
    }

    public static string Join(string parent, string leaf) => parent.Length == 0 ? leaf : parent + "/" + leaf;

    /// <summary>Raw byte string (one char per byte) back to bytes.</summary>
    public static byte[] ToBytes(string raw) => Encoding.Latin1.GetBytes(raw);

    /// <summary>Bytes to the raw one-char-per-byte form.</summary>
    public static string FromBytes(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

    /// <summary>A printable form of a raw name for messages: UTF-8 decoded, control characters escaped, capped.</summary>
    public static string Display(string raw, int max = 1024)
    {
        if (raw.Length <= max && !raw.AsSpan().ContainsAnyExceptInRange((char)0x20, (char)0x7E))
        {
            return raw; // printable ASCII: shown as is (the common case, no allocation)
        }

        var text = Encoding.UTF8.GetString(Encoding.Latin1.GetBytes(raw.Length > max ? raw[..max] : raw));
        var builder = new StringBuilder(text.Length + 8);
        foreach (var c in text)
        {
            if (c < 0x20 || c == 0x7f)
            {
                builder.Append(c switch { '\n' => "\\n", '\t' => "\\t", '\r' => "\\r", '\0' => "\\0", _ => $"\\x{(int)c:x2}" });
            }
            else
            {
                builder.Append(c);
            }
        }

        if (raw.Length > max)
        {
            builder.Append($"...({raw.Length} bytes)");
        }

        return builder.ToString();
    }
}
