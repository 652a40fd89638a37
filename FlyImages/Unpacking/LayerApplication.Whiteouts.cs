using static FlyImages.Native.Libc;

namespace FlyImages.Unpacking;

/// <summary>
/// OCI whiteouts. ".wh.NAME" removes NAME of a lower layer; ".wh..wh..opq" empties a folder of what
/// lower layers put there but keeps what this same layer adds (whatever the order of the entries):
/// the layer records every path it creates, and the opaque clear keeps those, descending into the
/// folders it keeps. A whiteout never removes what its own layer added (the spec: whiteouts only
/// apply to lower layers). Folders are reached like every other path: never through a symlink.
/// </summary>
internal sealed partial class LayerApplication
{
    private const string OpaqueMarker = ".wh..wh..opq";

    private void ApplyWhiteout(string parent, string leaf, string display)
    {
        if (leaf == OpaqueMarker)
        {
            opaques++;
            var dirFd = tree!.OpenDir(parent, DirMode.Existing, display);
            if (dirFd >= 0)
            {
                lowerRemoved += ClearOpaque(dirFd, parent, display, 0);
            }

            return;
        }

        if (leaf.StartsWith(".wh..wh.", StringComparison.Ordinal))
        {
            Skip(display, "AUFS metadata whiteout: ignored");
            return;
        }

        var name = leaf[4..];
        if (name.Length == 0 || name == ".")
        {
            throw UnpackErrors.Name(display, "the whiteout names no entry");
        }

        if (name == "..")
        {
            throw UnpackErrors.Traversal(display, "the whiteout names '..'");
        }

        var target = EntryPath.Join(parent, name);
        whiteouts++;
        if (created.Contains(target))
        {
            Skip(display, "whiteout of an entry this same layer added: ignored (whiteouts hide lower layers only)");
            return;
        }

        var parentFd = tree!.OpenDir(parent, DirMode.Existing, display);
        if (parentFd >= 0)
        {
            lowerRemoved += tree.Remove(parentFd, name, target, display);
        }
    }

    private long ClearOpaque(int dirFd, string relDir, string display, int depth)
    {
        if (depth > limits.MaxPathDepth)
        {
            return 0;
        }

        long removed = 0;
        foreach (var (name, dtype) in RootedTree.ListFd(dirFd, display))
        {
            var child = EntryPath.Join(relDir, name);
            if (!created.Contains(child))
            {
                removed += tree!.Remove(dirFd, name, child, display);
                continue;
            }

            var isDir = dtype == DT_DIR || (dtype == DT_UNKNOWN && RootedTree.TypeOf(dirFd, name) == S_IFDIR);
            if (isDir)
            {
                var childFd = RootedTree.OpenChildDir(dirFd, name);
                if (childFd >= 0)
                {
                    try
                    {
                        removed += ClearOpaque(childFd, child, display, depth + 1);
                    }
                    finally
                    {
                        close(childFd);
                    }
                }
            }
        }

        return removed;
    }
}
