namespace FlyImages.Unpacking;

internal enum TarEntryKind
{
    File,
    Directory,
    Symlink,
    HardLink,
    CharDevice,
    BlockDevice,
    Fifo,
    Other,
}

/// <summary>One archive member after its extended headers were folded in. Reused between entries.</summary>
internal sealed class TarEntry
{
    /// <summary>Raw name (one char per byte), as the archive gives it.</summary>
    public string Name { get; set; } = string.Empty;

    /// <summary>Raw link target (symlink text or hard-link name).</summary>
    public string LinkName { get; set; } = string.Empty;

    public TarEntryKind Kind { get; set; }

    /// <summary>The header's type flag, for messages about unknown kinds.</summary>
    public byte TypeFlag { get; set; }

    public uint Mode { get; set; }

    public long Uid { get; set; }

    public long Gid { get; set; }

    /// <summary>Bytes of data following the header.</summary>
    public long Size { get; set; }

    public long MtimeSeconds { get; set; }

    public int MtimeNanoseconds { get; set; }

    /// <summary>Extended attributes (raw names, raw values) from SCHILY.xattr.* records.</summary>
    public List<KeyValuePair<string, byte[]>> Xattrs { get; } = [];

    /// <summary>Offset of the entry's header in the decompressed archive.</summary>
    public long Offset { get; set; }

    public void Reset()
    {
        Name = string.Empty;
        LinkName = string.Empty;
        Kind = TarEntryKind.Other;
        TypeFlag = 0;
        Mode = 0;
        Uid = Gid = Size = MtimeSeconds = 0;
        MtimeNanoseconds = 0;
        Xattrs.Clear();
        Offset = 0;
    }
}
