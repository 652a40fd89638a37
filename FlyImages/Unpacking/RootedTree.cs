using System.Runtime.InteropServices;
using System.Text;
using FlyImages.Native;
using static FlyImages.Native.Libc;

namespace FlyImages.Unpacking;

/// <summary>How <see cref="RootedTree.OpenDir"/> treats a folder that is missing or is not a folder.</summary>
internal enum DirMode
{
    /// <summary>Create missing folders (0755); refuse symlinks and non-folders on the way.</summary>
    Create,

    /// <summary>Return -1 for a missing folder; refuse symlinks and non-folders on the way.</summary>
    Existing,

    /// <summary>Return -1 for anything but a real folder, never throw about the path.</summary>
    Probe,
}

/// <summary>
/// The destination as a tree of directory descriptors. Every folder is reached from the root
/// descriptor one component at a time with O_NOFOLLOW|O_DIRECTORY (or in one openat2 call with
/// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS), so no symlink — whether laid down by
/// this layer, a lower layer or anyone else — and no ".." is ever followed. Every change is made
/// with an *at() call on a leaf name relative to such a descriptor. Opened folders are cached
/// (tar entries come folder by folder); removing a folder drops it and everything under it from
/// the cache.
/// </summary>
internal sealed unsafe class RootedTree : IDisposable
{
    private const int CacheCapacity = 256;
    private static int openat2State; // 0 unknown, 1 works, -1 unavailable

    private readonly Dictionary<string, int> cache = new(StringComparer.Ordinal);
    private readonly int rootFd;
    private readonly Action<string> onCreated;

    public RootedTree(string destination, Action<string> onCreated)
    {
        this.onCreated = onCreated;
        var bytes = Encoding.UTF8.GetBytes(destination + "\0");
        fixed (byte* p = bytes)
        {
            rootFd = openat(AT_FDCWD, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        }

        if (rootFd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new Errors.FlyException(Errors.ErrorIds.LayerDestinationInvalid, Errors.FlyErrorCategory.InvalidArgument,
                $"Cannot open the destination folder '{destination}': {ErrnoText(errno)}.", destination);
        }
    }

    /// <summary>For tests: resolve with the per-component walk only, as on kernels without openat2.</summary>
    internal static bool ForceComponentWalk { get; set; }

    public int RootFd => rootFd;

    /// <summary>Whether openat2 resolution will be used (probes the kernel once, on <paramref name="dirFd"/>).</summary>
    public static bool Openat2Available(int dirFd)
    {
        if (openat2State == 0)
        {
            var how = new OpenHow { Flags = (ulong)(O_RDONLY | O_DIRECTORY | O_CLOEXEC), Resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
            Span<byte> dot = stackalloc byte[2];
            int fd;
            fixed (byte* p = Z(".", dot))
            {
                fd = openat2(dirFd, p, ref how);
            }

            if (fd >= 0)
            {
                close(fd);
                openat2State = 1;
            }
            else
            {
                openat2State = -1;
            }
        }

        return openat2State == 1 && !ForceComponentWalk;
    }

    /// <summary>Trims the cache; call between entries only (descriptors handed out stay valid within an entry).</summary>
    public void BeginEntry()
    {
        if (cache.Count > CacheCapacity)
        {
            foreach (var fd in cache.Values)
            {
                close(fd);
            }

            cache.Clear();
        }
    }

    /// <summary>
    /// A descriptor for the folder <paramref name="relDir"/> (normalized, "" = root), owned by the
    /// tree (do not close). -1 when missing (Existing/Probe) or not a real folder (Probe).
    /// </summary>
    public int OpenDir(string relDir, DirMode mode, string entry)
    {
        if (relDir.Length == 0)
        {
            return rootFd;
        }

        if (cache.TryGetValue(relDir, out var cached))
        {
            return cached;
        }

        if (openat2State >= 0 && !ForceComponentWalk)
        {
            var fd = OpenBeneath(relDir);
            if (fd >= 0)
            {
                cache[relDir] = fd;
                return fd;
            }

            // missing, a symlink or a non-folder on the way: the walk below says which (and creates)
        }

        var (parent, leaf) = EntryPath.Split(relDir);
        var parentFd = OpenDir(parent, mode, entry);
        if (parentFd < 0)
        {
            return -1;
        }

        var result = OpenChildDir(parentFd, leaf);
        if (result < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == ENOENT && mode == DirMode.Create)
            {
                Span<byte> leafBytes = stackalloc byte[leaf.Length + 1];
                int made;
                fixed (byte* p = Z(leaf, leafBytes))
                {
                    made = mkdirat(parentFd, p, 0x1ED /* 0755 */);
                }

                if (made < 0 && Marshal.GetLastPInvokeError() is var mkErr && mkErr != EEXIST)
                {
                    throw UnpackErrors.Failed(entry, $"creating folder '{EntryPath.Display(relDir)}'", mkErr);
                }

                if (made == 0)
                {
                    onCreated(relDir);
                }

                result = OpenChildDir(parentFd, leaf);
                errno = result < 0 ? Marshal.GetLastPInvokeError() : 0;
            }

            if (result < 0)
            {
                if (mode == DirMode.Probe || errno == ENOENT)
                {
                    return -1;
                }

                if (errno is ELOOP or ENOTDIR)
                {
                    var type = TypeOf(parentFd, leaf);
                    if (type == S_IFLNK)
                    {
                        throw UnpackErrors.Traversal(entry, $"'{EntryPath.Display(relDir)}' on its path is a symlink (symlinks are never followed while writing)");
                    }

                    throw UnpackErrors.Conflict(entry, $"'{EntryPath.Display(relDir)}' on its path exists and is not a folder");
                }

                throw UnpackErrors.Failed(entry, $"opening folder '{EntryPath.Display(relDir)}'", errno);
            }
        }

        cache[relDir] = result;
        return result;
    }

    /// <summary>Forgets <paramref name="relPath"/> and everything under it (after it was removed or replaced).</summary>
    public void Forget(string relPath)
    {
        if (cache.Count == 0)
        {
            return;
        }

        List<string>? drop = null;
        foreach (var key in cache.Keys)
        {
            if (relPath.Length == 0 || key == relPath || (key.Length > relPath.Length && key[relPath.Length] == '/' && key.StartsWith(relPath, StringComparison.Ordinal)))
            {
                (drop ??= []).Add(key);
            }
        }

        if (drop is null)
        {
            return;
        }

        foreach (var key in drop)
        {
            close(cache[key]);
            cache.Remove(key);
        }
    }

    /// <summary>The S_IFMT bits of <paramref name="name"/> in <paramref name="dirFd"/> (not following symlinks); 0 when missing.</summary>
    public static uint TypeOf(int dirFd, string name)
    {
        Statx st = default;
        Span<byte> bytes = stackalloc byte[name.Length + 1];
        int rc;
        fixed (byte* p = Z(name, bytes))
        {
            rc = statx(dirFd, p, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MODE, &st);
        }

        if (rc < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is ENOENT or ENOTDIR)
            {
                return 0;
            }

            throw UnpackErrors.Failed(EntryPath.Display(name), "statx", errno);
        }

        return st.Mode & S_IFMT;
    }

    /// <summary>
    /// Removes <paramref name="name"/> from <paramref name="dirFd"/> whatever it is; a folder with all
    /// its contents (walked by descriptor, symlinks removed, never followed). Returns entries removed.
    /// </summary>
    public long Remove(int dirFd, string name, string relPath, string entry)
    {
        var type = TypeOf(dirFd, name);
        if (type == 0)
        {
            return 0;
        }

        if (type != S_IFDIR)
        {
            Unlink(dirFd, name, 0, entry);
            return 1;
        }

        Forget(relPath);
        var removed = RemoveContents(dirFd, name, entry, 0);
        Unlink(dirFd, name, AT_REMOVEDIR, entry);
        return removed + 1;
    }

    /// <summary>Lists the names in folder <paramref name="childName"/> of <paramref name="dirFd"/> with their d_type.</summary>
    public static List<(string Name, byte Type)> List(int dirFd, string childName, string entry, out int childFd)
    {
        childFd = OpenChildDir(dirFd, childName);
        if (childFd < 0)
        {
            throw UnpackErrors.Failed(entry, $"opening '{EntryPath.Display(childName)}' to list it", Marshal.GetLastPInvokeError());
        }

        return ListFd(childFd, entry);
    }

    public static List<(string Name, byte Type)> ListFd(int fd, string entry)
    {
        var names = new List<(string, byte)>();
        var copy = dup(fd);
        if (copy < 0)
        {
            throw UnpackErrors.Failed(entry, "dup", Marshal.GetLastPInvokeError());
        }

        var dir = fdopendir(copy);
        if (dir == 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            close(copy);
            throw UnpackErrors.Failed(entry, "fdopendir", errno);
        }

        try
        {
            while (true)
            {
                Marshal.SetLastPInvokeError(0);
                var d = readdir(dir);
                if (d == 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno != 0)
                    {
                        throw UnpackErrors.Failed(entry, "readdir", errno);
                    }

                    break;
                }

                // struct dirent64 (glibc, 64-bit): d_ino 8, d_off 8, d_reclen 2, d_type 1, d_name
                var type = *((byte*)d + 18);
                var namePtr = (byte*)d + 19;
                var span = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(namePtr);
                if (span.SequenceEqual("."u8) || span.SequenceEqual(".."u8))
                {
                    continue;
                }

                names.Add((EntryPath.FromBytes(span), type));
            }
        }
        finally
        {
            closedir(dir);
        }

        return names;
    }

    public void Dispose()
    {
        foreach (var fd in cache.Values)
        {
            close(fd);
        }

        cache.Clear();
        if (rootFd >= 0)
        {
            close(rootFd);
        }
    }

    public static void Unlink(int dirFd, string name, int flags, string entry)
    {
        Span<byte> bytes = stackalloc byte[name.Length + 1];
        int rc;
        fixed (byte* p = Z(name, bytes))
        {
            rc = unlinkat(dirFd, p, flags);
        }

        if (rc < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno != ENOENT)
            {
                throw UnpackErrors.Failed(entry, $"removing '{EntryPath.Display(name)}'", errno);
            }
        }
    }

    public static int OpenChildDir(int dirFd, string name)
    {
        Span<byte> bytes = stackalloc byte[name.Length + 1];
        fixed (byte* p = Z(name, bytes))
        {
            return openat(dirFd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0);
        }
    }

    /// <summary>
    /// Encodes a raw name (one char per byte) NUL-terminated into <paramref name="buffer"/>, which
    /// must hold name.Length + 1 bytes (names are at most 4095 bytes: stackalloc is fine).
    /// </summary>
    public static Span<byte> Z(string name, Span<byte> buffer)
    {
        Encoding.Latin1.GetBytes(name, buffer);
        buffer[name.Length] = 0;
        return buffer[..(name.Length + 1)];
    }

    private long RemoveContents(int parentFd, string name, string entry, int depth)
    {
        if (depth > 4096)
        {
            throw UnpackErrors.Limit(entry, "a folder to remove is nested more than 4096 deep");
        }

        var children = List(parentFd, name, entry, out var fd);
        long removed = 0;
        try
        {
            foreach (var (child, dtype) in children)
            {
                var isDir = dtype == DT_DIR || (dtype == DT_UNKNOWN && TypeOf(fd, child) == S_IFDIR);
                if (isDir)
                {
                    removed += RemoveContents(fd, child, entry, depth + 1);
                    Unlink(fd, child, AT_REMOVEDIR, entry);
                }
                else
                {
                    Unlink(fd, child, 0, entry);
                }

                removed++;
            }
        }
        finally
        {
            close(fd);
        }

        return removed;
    }

    private int OpenBeneath(string relDir)
    {
        var how = new OpenHow
        {
            Flags = (ulong)(O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK),
            Resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        Span<byte> bytes = stackalloc byte[relDir.Length + 1];
        int fd;
        fixed (byte* p = Z(relDir, bytes))
        {
            fd = openat2(rootFd, p, ref how);
        }

        if (fd >= 0)
        {
            openat2State = 1;
            return fd;
        }

        var errno = Marshal.GetLastPInvokeError();
        if (errno is ENOSYS or EPERM or E2BIG || (errno == EINVAL && openat2State == 0))
        {
            openat2State = -1; // old kernel or a seccomp filter: the component walk does the same job
        }

        return -1;
    }
}
