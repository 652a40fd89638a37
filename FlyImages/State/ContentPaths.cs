using System.Security.Cryptography;
using System.Text;
using FlyImages.Errors;

namespace FlyImages.State;

/// <summary>
/// Where the content store keeps files under the store folder: verified blobs at
/// <c>blobs/sha256/&lt;hex&gt;</c>, interrupted downloads at <c>blobs/partial/&lt;id&gt;.part</c>. Names are
/// derived from digests and hashes only, never from keys, so no hostile key can steer a path.
/// </summary>
public static class ContentPaths
{
    public const string DigestPrefix = "sha256:";

    public static string BlobsRoot(string storeRoot) => Path.Combine(storeRoot, "blobs");

    public static string BlobDirectory(string storeRoot) => Path.Combine(storeRoot, "blobs", "sha256");

    public static string PartialDirectory(string storeRoot) => Path.Combine(storeRoot, "blobs", "partial");

    /// <summary>The path of the blob with <paramref name="digest"/> (<c>sha256:&lt;64 hex&gt;</c>).</summary>
    public static string BlobPath(string storeRoot, string digest) => Path.Combine(BlobDirectory(storeRoot), HexOf(digest));

    /// <summary>The partial file name of an object: a hash of (source, key) and of its ETag, so a changed object never continues another's bytes.</summary>
    public static string PartialFileName(string source, string key, string? etag)
        => $"{ShortHash(source + "\n" + key)}.{ShortHash(etag ?? "")}.part";

    /// <summary>True for <c>sha256:</c> followed by 64 lower-case hex digits.</summary>
    public static bool IsValidDigest(string? digest)
        => digest is { Length: 71 } && digest.StartsWith(DigestPrefix, StringComparison.Ordinal) && digest.AsSpan(7).ContainsAnyExcept("0123456789abcdef") == false;

    /// <summary>A plain MD5 ETag (single-part upload): 32 hex digits, no '-'. Returned lower-case; null otherwise.</summary>
    public static string? PlainMd5(string? etag)
    {
        var t = etag?.Trim().Trim('"');
        return t is { Length: 32 } && t.All(char.IsAsciiHexDigit) ? t.ToLowerInvariant() : null;
    }

    public static string FormatDigest(ReadOnlySpan<byte> sha256) => DigestPrefix + Convert.ToHexString(sha256).ToLowerInvariant();

    private static string HexOf(string digest)
    {
        if (!IsValidDigest(digest))
        {
            throw new FlyException(ErrorIds.StorePathInvalid, FlyErrorCategory.InvalidData, $"'{Sources.ImageLayout.Show(digest)}' is not a sha256 digest.", digest);
        }

        return digest[7..];
    }

    private static string ShortHash(string text) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)).AsSpan(0, 16)).ToLowerInvariant();
}
