using System.Runtime.InteropServices;
using System.Text;
using static FlyImages.Native.Libc;

namespace FlyImages.Unpacking;

/// <summary>
/// One handler per entry kind. Each resolves its parent folder through <see cref="RootedTree"/>
/// (never following a symlink), then works on the leaf name with *at() calls. An existing leaf is
/// replaced (removed first, then created with O_EXCL), never written through or opened: a symlink or
/// fifo in the way is unlinked, not followed or blocked on. Owner before mode (chown clears setuid),
/// xattrs after both (security.capability is cleared by chown and writes), times last.
/// </summary>
internal sealed unsafe partial class LayerApplication
{
    private void WriteFile(TarEntry entry, string relPath, string parent, string leaf, string display)
    {
        if (entry.Size > limits.MaxFileSize)
        {
            throw UnpackErrors.Limit(display, $"the file is {entry.Size} bytes, more than the single file size limit ({limits.MaxFileSize})");
        }

        if (entry.Size > limits.MaxTotalBytes - bytesWritten)
        {
            throw UnpackErrors.Limit(display, $"writing its {entry.Size} bytes would pass the total bytes limit ({limits.MaxTotalBytes})");
        }

        var footprint = (entry.Size + 4095) / 4096 * 4096;
        if (limits.DestinationRoomBytes is { } room && footprint > room - roomUsed)
        {
            throw UnpackErrors.NoRoom(display, roomUsed + footprint, room);
        }

        roomUsed += footprint;

        var parentFd = tree!.OpenDir(parent, DirMode.Create, display);
        Span<byte> leafBytes = stackalloc byte[leaf.Length + 1];
        RootedTree.Z(leaf, leafBytes);
        int fd;
        fixed (byte* p = leafBytes)
        {
            const int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY;
            fd = openat(parentFd, p, flags | O_NOFOLLOW, 0x180 /* 0600 */);
            if (fd < 0 && Marshal.GetLastPInvokeError() == EEXIST)
            {
                tree.Remove(parentFd, leaf, relPath, display);
                fd = openat(parentFd, p, flags | O_NOFOLLOW, 0x180);
            }
        }

        if (fd < 0)
        {
            throw UnpackErrors.Failed(display, "creating the file", Marshal.GetLastPInvokeError());
        }

        created.Add(relPath);
        try
        {
            ReadOnlySpan<byte> chunk;
            while ((chunk = reader!.ReadData()).Length > 0)
            {
                WriteAll(fd, chunk, display);
                bytesWritten += chunk.Length;
                cancellationToken.ThrowIfCancellationRequested();
            }

            if (isRoot && fchown(fd, (uint)entry.Uid, (uint)entry.Gid) < 0)
            {
                throw UnpackErrors.Failed(display, "fchown", Marshal.GetLastPInvokeError());
            }

            if (fchmod(fd, entry.Mode) < 0)
            {
                throw UnpackErrors.Failed(display, "fchmod", Marshal.GetLastPInvokeError());
            }

            ApplyXattrs(entry, fd, -1, null, display);
            Timespec* times = stackalloc Timespec[2];
            Times(entry, times);
            if (futimens(fd, times) < 0)
            {
                throw UnpackErrors.Failed(display, "futimens", Marshal.GetLastPInvokeError());
            }
        }
        finally
        {
            if (close(fd) < 0)
            {
                // a failed close after a write means data may be lost (NFS, EIO): never report success
                var errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR)
                {
                    throw UnpackErrors.Failed(display, "close", errno);
                }
            }
        }

        files++;
    }

    private void MakeDirectory(TarEntry entry, string relPath, string parent, string leaf, string display)
    {
        var parentFd = tree!.OpenDir(parent, DirMode.Create, display);
        Span<byte> leafBytes = stackalloc byte[leaf.Length + 1];
        RootedTree.Z(leaf, leafBytes);
        fixed (byte* p = leafBytes)
        {
            if (mkdirat(parentFd, p, 0x1ED /* 0755 */) < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno != EEXIST)
                {
                    throw UnpackErrors.Failed(display, "creating the folder", errno);
                }

                if (RootedTree.TypeOf(parentFd, leaf) != S_IFDIR)
                {
                    // a file, symlink or fifo of a lower layer (or earlier in this one) gives way to the folder
                    tree.Remove(parentFd, leaf, relPath, display);
                    if (mkdirat(parentFd, p, 0x1ED) < 0)
                    {
                        throw UnpackErrors.Failed(display, "creating the folder", Marshal.GetLastPInvokeError());
                    }
                }
            }
        }

        created.Add(relPath);
        var fd = tree.OpenDir(relPath, DirMode.Existing, display);
        if (fd < 0)
        {
            throw UnpackErrors.Failed(display, "opening the new folder", ENOENT);
        }

        ApplyDirectoryOwnerAndXattrs(entry, fd, relPath, display);
        dirs++;
    }

    private void ApplyRootDirectory(TarEntry entry, string display)
    {
        ApplyDirectoryOwnerAndXattrs(entry, tree!.RootFd, string.Empty, display);
    }

    private void ApplyDirectoryOwnerAndXattrs(TarEntry entry, int fd, string relPath, string display)
    {
        if (isRoot && fchown(fd, (uint)entry.Uid, (uint)entry.Gid) < 0)
        {
            throw UnpackErrors.Failed(display, "fchown", Marshal.GetLastPInvokeError());
        }

        ApplyXattrs(entry, fd, -1, null, display);

        // mode and times are applied once the folder's contents are in place (FinishDirectories)
        if (directoryIndex.TryGetValue(relPath, out var index))
        {
            var meta = directories[index];
            meta.Mode = entry.Mode;
            meta.MtimeSeconds = entry.MtimeSeconds;
            meta.MtimeNanoseconds = entry.MtimeNanoseconds;
        }
        else
        {
            directoryIndex[relPath] = directories.Count;
            directories.Add(new DirMeta(relPath, entry.Mode, entry.MtimeSeconds, entry.MtimeNanoseconds));
        }
    }

    private void FinishDirectories()
    {
        var times = stackalloc Timespec[2];
        for (var i = directories.Count - 1; i >= 0; i--)
        {
            var meta = directories[i];
            var display = EntryPath.Display(meta.Path.Length == 0 ? "." : meta.Path);
            tree!.BeginEntry();

            // a folder later replaced by something else (or removed by a whiteout) is no longer ours to touch
            var fd = tree.OpenDir(meta.Path, DirMode.Probe, display);
            if (fd < 0)
            {
                continue;
            }

            if (fchmod(fd, meta.Mode) < 0)
            {
                throw UnpackErrors.Failed(display, "fchmod", Marshal.GetLastPInvokeError());
            }

            times[0] = times[1] = new Timespec { Seconds = meta.MtimeSeconds, Nanoseconds = meta.MtimeNanoseconds };
            if (futimens(fd, times) < 0)
            {
                throw UnpackErrors.Failed(display, "futimens", Marshal.GetLastPInvokeError());
            }
        }
    }

    private void MakeSymlink(TarEntry entry, string relPath, string parent, string leaf, string display)
    {
        var target = entry.LinkName;
        if (target.Length == 0)
        {
            throw UnpackErrors.Name(display, "the symlink has an empty target");
        }

        if (target.Length > limits.MaxLinkTargetLength)
        {
            throw UnpackErrors.Limit(display, $"the symlink target is {target.Length} bytes, more than the link target limit ({limits.MaxLinkTargetLength})");
        }

        if (target.Contains('\0'))
        {
            throw UnpackErrors.Name(display, "the symlink target contains a NUL byte");
        }

        var parentFd = tree!.OpenDir(parent, DirMode.Create, display);
        Span<byte> leafBytes = stackalloc byte[leaf.Length + 1];
        Span<byte> targetBytes = stackalloc byte[target.Length + 1];
        RootedTree.Z(leaf, leafBytes);
        RootedTree.Z(target, targetBytes);
        fixed (byte* p = leafBytes)
        fixed (byte* t = targetBytes)
        {
            // the target is only text stored in the link: it is never resolved or followed
            if (symlinkat(t, parentFd, p) < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno != EEXIST)
                {
                    throw UnpackErrors.Failed(display, "creating the symlink", errno);
                }

                tree.Remove(parentFd, leaf, relPath, display);
                if (symlinkat(t, parentFd, p) < 0)
                {
                    throw UnpackErrors.Failed(display, "creating the symlink", Marshal.GetLastPInvokeError());
                }
            }

            created.Add(relPath);
            ApplyLeafMetadata(entry, parentFd, p, leaf, display, chmod: false);
        }

        symlinks++;
    }

    private void MakeFifo(TarEntry entry, string relPath, string parent, string leaf, string display)
    {
        var parentFd = tree!.OpenDir(parent, DirMode.Create, display);
        Span<byte> leafBytes = stackalloc byte[leaf.Length + 1];
        RootedTree.Z(leaf, leafBytes);
        fixed (byte* p = leafBytes)
        {
            if (mknodat(parentFd, p, S_IFIFO | 0x180, 0) < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno != EEXIST)
                {
                    throw UnpackErrors.Failed(display, "creating the fifo", errno);
                }

                tree.Remove(parentFd, leaf, relPath, display);
                if (mknodat(parentFd, p, S_IFIFO | 0x180, 0) < 0)
                {
                    throw UnpackErrors.Failed(display, "creating the fifo", Marshal.GetLastPInvokeError());
                }
            }

            created.Add(relPath);
            ApplyLeafMetadata(entry, parentFd, p, leaf, display, chmod: true);
        }

        fifos++;
    }

    private void MakeHardLink(TarEntry entry, string relPath, string parent, string leaf, string display)
    {
        var target = EntryPath.Normalize(entry.LinkName, limits, "hard-link target");
        if (target.Length == 0)
        {
            throw UnpackErrors.Link(display, "the hard link points at the layer root (hard links may only point at regular files)");
        }

        if (target == relPath)
        {
            Skip(display, "hard link to itself: nothing to do");
            return;
        }

        var targetDisplay = EntryPath.Display(target);
        var (targetParent, targetLeaf) = EntryPath.Split(target);
        var targetDirFd = tree!.OpenDir(targetParent, DirMode.Existing, display);
        var type = targetDirFd < 0 ? 0 : RootedTree.TypeOf(targetDirFd, targetLeaf);
        if (type == 0)
        {
            throw UnpackErrors.Link(display, $"its target '{targetDisplay}' does not exist in the destination (hard links may only point at regular files already there)");
        }

        if (type != S_IFREG)
        {
            throw UnpackErrors.Link(display, $"its target '{targetDisplay}' is a {TypeName(type)} (hard links may only point at regular files)");
        }

        var parentFd = tree.OpenDir(parent, DirMode.Create, display);
        Span<byte> leafBytes = stackalloc byte[leaf.Length + 1];
        Span<byte> targetBytes = stackalloc byte[targetLeaf.Length + 1];
        RootedTree.Z(leaf, leafBytes);
        RootedTree.Z(targetLeaf, targetBytes);
        fixed (byte* p = leafBytes)
        fixed (byte* t = targetBytes)
        {
            // flags 0: linkat never follows a symlink at the target name
            if (linkat(targetDirFd, t, parentFd, p, 0) < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno != EEXIST)
                {
                    throw UnpackErrors.Failed(display, $"linking to '{targetDisplay}'", errno);
                }

                tree.Remove(parentFd, leaf, relPath, display);

                // the removal may have taken the target with it (the target lived inside a replaced folder)
                targetDirFd = tree.OpenDir(targetParent, DirMode.Probe, display);
                if (targetDirFd < 0 || RootedTree.TypeOf(targetDirFd, targetLeaf) != S_IFREG)
                {
                    throw UnpackErrors.Link(display, $"its target '{targetDisplay}' was inside what the link replaced");
                }

                if (linkat(targetDirFd, t, parentFd, p, 0) < 0)
                {
                    throw UnpackErrors.Failed(display, $"linking to '{targetDisplay}'", Marshal.GetLastPInvokeError());
                }
            }
        }

        created.Add(relPath);
        hardLinks++;
    }

    /// <summary>Owner, (mode), xattrs and times of a symlink or fifo, by name relative to its verified folder, never following it.</summary>
    private void ApplyLeafMetadata(TarEntry entry, int parentFd, byte* leaf, string leafName, string display, bool chmod)
    {
        if (isRoot && fchownat(parentFd, leaf, (uint)entry.Uid, (uint)entry.Gid, AT_SYMLINK_NOFOLLOW) < 0)
        {
            throw UnpackErrors.Failed(display, "fchownat", Marshal.GetLastPInvokeError());
        }

        if (chmod && fchmodat(parentFd, leaf, entry.Mode, AT_SYMLINK_NOFOLLOW) < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is not (EOPNOTSUPP or ENOSYS or EINVAL) || fchmodat(parentFd, leaf, entry.Mode, 0) < 0)
            {
                // the leaf was created by this call a moment ago, in a folder no one else writes
                throw UnpackErrors.Failed(display, "fchmodat", Marshal.GetLastPInvokeError());
            }
        }

        ApplyXattrs(entry, -1, parentFd, leafName, display);
        Timespec* times = stackalloc Timespec[2];
        Times(entry, times);
        if (utimensat(parentFd, leaf, times, AT_SYMLINK_NOFOLLOW) < 0)
        {
            throw UnpackErrors.Failed(display, "utimensat", Marshal.GetLastPInvokeError());
        }
    }

    /// <summary>
    /// Sets the entry's xattrs: on <paramref name="fd"/>, or (symlinks, fifos: no fd to open safely)
    /// with lsetxattr on /proc/self/fd/PARENT/LEAF — the magic link is our verified folder descriptor,
    /// and lsetxattr does not follow the leaf. A refusal (file system without the namespace) is a warning.
    /// </summary>
    private void ApplyXattrs(TarEntry entry, int fd, int parentFd, string? leaf, string display)
    {
        if (entry.Xattrs.Count == 0)
        {
            return;
        }

        byte[]? pathBytes = null;
        if (fd < 0)
        {
            pathBytes = Encoding.Latin1.GetBytes($"/proc/self/fd/{parentFd}/{leaf}\0");
        }

        Span<byte> nameBuffer = stackalloc byte[EntryPath.NameMax + 1];
        foreach (var (name, value) in entry.Xattrs)
        {
            if (name.StartsWith("trusted.overlay.", StringComparison.Ordinal))
            {
                // overlayfs metadata (redirects, opaque marks, metacopy) would change what an overlay
                // mount of this tree shows: never taken from a layer
                Skip(display, $"extended attribute '{EntryPath.Display(name, 64)}' not applied (overlayfs metadata)");
                continue;
            }

            var nameBytes = nameBuffer;
            RootedTree.Z(name, nameBytes);
            int rc;
            fixed (byte* n = nameBytes)
            fixed (byte* v = value)
            fixed (byte* pp = pathBytes)
            {
                rc = fd >= 0 ? fsetxattr(fd, n, v, (nuint)value.Length, 0) : lsetxattr(pp, n, v, (nuint)value.Length, 0);
            }

            if (rc < 0)
            {
                Warn($"{display}: extended attribute '{EntryPath.Display(name, 64)}' not applied: {ErrnoText(Marshal.GetLastPInvokeError())}");
            }
            else
            {
                xattrsApplied++;
            }
        }
    }

    private static void WriteAll(int fd, ReadOnlySpan<byte> data, string display)
    {
        fixed (byte* start = data)
        {
            var p = start;
            nint left = data.Length;
            while (left > 0)
            {
                var n = write(fd, p, left);
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == EINTR)
                    {
                        continue;
                    }

                    throw UnpackErrors.Failed(display, "writing the file", errno);
                }

                p += n;
                left -= n;
            }
        }
    }

    private static Timespec* Times(TarEntry entry, Timespec* buffer)
    {
        buffer[0] = buffer[1] = new Timespec { Seconds = entry.MtimeSeconds, Nanoseconds = entry.MtimeNanoseconds };
        return buffer;
    }

    private static string TypeName(uint type) => type switch
    {
        S_IFDIR => "folder",
        S_IFLNK => "symlink",
        S_IFIFO => "fifo",
        S_IFREG => "regular file",
        _ => "device or socket",
    };
}
