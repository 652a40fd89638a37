using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using FlyImages.Native;

namespace FlyImages.Tests.Unpacking;

/// <summary>
/// A byte-for-byte description of a tree, never following symlinks: per entry its type, mode,
/// owner, size, content hash, link target, mtime and xattrs. Two snapshots compare as strings.
/// </summary>
internal static unsafe partial class TreeSnapshot
{
    public static string Take(string root)
    {
        var builder = new StringBuilder();
        if (!Exists(root))
        {
            return "<missing>";
        }

        Walk(root, ".", builder);
        return builder.ToString();
    }

    /// <summary>One line describing <paramref name="path"/> (not following a symlink there).</summary>
    public static string Describe(string path)
    {
        var st = Stat(path);
        var type = (st.Mode & Libc.S_IFMT) switch
        {
            Libc.S_IFDIR => "d",
            Libc.S_IFREG => "f",
            Libc.S_IFLNK => "l",
            Libc.S_IFIFO => "p",
            _ => "?",
        };
        var line = $"{type} {Convert.ToString(st.Mode & 0xFFF, 8)} {st.Uid}:{st.Gid}";
        if (type == "f")
        {
            line += $" {st.Size} {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)))[..16]}";
        }
        else if (type == "l")
        {
            line += " -> " + new FileInfo(path).LinkTarget;
        }

        var xattrs = Xattrs(path);
        if (xattrs.Count > 0)
        {
            line += " xattrs[" + string.Join(",", xattrs.Select(x => $"{x.Key}={Convert.ToHexString(x.Value)}")) + "]";
        }

        return line;
    }

    public static long MtimeSeconds(string path) => Stat(path).MtimeSeconds;

    public static bool Exists(string path)
    {
        Libc.Statx st;
        var bytes = Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = bytes)
        {
            return Libc.statx(Libc.AT_FDCWD, p, Libc.AT_SYMLINK_NOFOLLOW, 0x7FF, &st) == 0;
        }
    }

    public static Dictionary<string, byte[]> Xattrs(string path)
    {
        var result = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var names = new byte[65536];
        var size = llistxattr(path, names, names.Length);
        if (size <= 0)
        {
            return result;
        }

        foreach (var name in Encoding.UTF8.GetString(names, 0, (int)size).Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            var value = new byte[65536];
            var n = lgetxattr(path, name, value, value.Length);
            if (n >= 0)
            {
                result[name] = value[..(int)n];
            }
        }

        return result;
    }

    internal record struct StatInfo(uint Mode, uint Uid, uint Gid, long Size, long MtimeSeconds, uint Nlink, ulong Inode);

    internal static StatInfo Stat(string path)
    {
        var buffer = stackalloc byte[256];
        var bytes = Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = bytes)
        {
            if (Libc.statx(Libc.AT_FDCWD, p, Libc.AT_SYMLINK_NOFOLLOW, 0x7FF, (Libc.Statx*)buffer) != 0)
            {
                throw new IOException($"statx {path}: errno {Marshal.GetLastPInvokeError()}");
            }
        }

        // struct statx: uid @20, gid @24, mode @28, size @40, mtime.tv_sec @112
        return new StatInfo(*(ushort*)(buffer + 28), *(uint*)(buffer + 20), *(uint*)(buffer + 24), *(long*)(buffer + 40), *(long*)(buffer + 112), *(uint*)(buffer + 16), *(ulong*)(buffer + 32));
    }

    /// <summary>
    /// A readable listing for expected-tree assertions: "path type mode uid:gid" plus small file
    /// contents, symlink targets and xattrs; no times.
    /// </summary>
    public static string Listing(string root)
    {
        var lines = new List<string>();
        void Visit(string rel)
        {
            foreach (var child in Directory.EnumerateFileSystemEntries(rel.Length == 0 ? root : Path.Combine(root, rel)).Select(Path.GetFileName).Order(StringComparer.Ordinal))
            {
                var childRel = rel.Length == 0 ? child! : rel + "/" + child;
                var full = Path.Combine(root, childRel);
                var st = Stat(full);
                var type = (st.Mode & Libc.S_IFMT) switch { Libc.S_IFDIR => "d", Libc.S_IFREG => "f", Libc.S_IFLNK => "l", Libc.S_IFIFO => "p", _ => "?" };
                var line = $"{childRel} {type} {Convert.ToString(st.Mode & 0xFFF, 8)} {st.Uid}:{st.Gid}";
                if (type == "f")
                {
                    line += " '" + File.ReadAllText(full) + "'";
                }
                else if (type == "l")
                {
                    line += " -> " + new FileInfo(full).LinkTarget;
                }

                foreach (var (name, value) in Xattrs(full).OrderBy(x => x.Key, StringComparer.Ordinal))
                {
                    line += $" {name}={Convert.ToHexString(value)}";
                }

                lines.Add(line);
                if (type == "d")
                {
                    Visit(childRel);
                }
            }
        }

        Visit(string.Empty);
        return string.Join("\n", lines);
    }

    private static void Walk(string root, string rel, StringBuilder builder)
    {
        var full = rel == "." ? root : Path.Combine(root, rel);
        var line = Describe(full);
        builder.Append(rel).Append(' ').Append(line);
        if (line[0] is 'd' or 'f' or 'l')
        {
            builder.Append(" t=").Append(MtimeSeconds(full));
        }

        builder.Append('\n');
        if (line[0] != 'd')
        {
            return;
        }

        foreach (var child in Directory.EnumerateFileSystemEntries(full).Select(Path.GetFileName).Order(StringComparer.Ordinal))
        {
            Walk(root, rel == "." ? child! : rel + "/" + child, builder);
        }
    }

    public static void Chmod(string path, uint mode)
    {
        if (chmod(path, mode) != 0)
        {
            throw new IOException($"chmod {path}: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int chmod(string path, uint mode);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial nint llistxattr(string path, byte[] list, nint size);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial nint lgetxattr(string path, string name, byte[] value, nint size);
}
