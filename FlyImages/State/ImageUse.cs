namespace FlyImages.State;

/// <summary>Records that an image was used (installed or snapshotted): the collector removes the least recently used first.</summary>
public static class ImageUse
{
    /// <summary>Stamps <c>images.last_used_at</c> of (<paramref name="source"/>, <paramref name="name"/>) with now; nothing when it is not recorded.</summary>
    public static void Touch(FlyStore store, string source, string name)
    {
        ArgumentNullException.ThrowIfNull(store);
        store.Write((c, t) => c.Exec(t, "UPDATE images SET last_used_at = $now WHERE source = $src AND name = $n;",
            ("$now", StoreTime.Now()), ("$src", source), ("$n", name)));
    }
}
