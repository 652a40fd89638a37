using System.Security.Cryptography;
using System.Text;
using FlyImages.Errors;

namespace FlyImages.Workflows;

/// <summary>
/// OCI ChainIDs: chain 1 is the digest of layer 1; chain i is <c>sha256:</c> + hex(sha256(chain(i-1) + " " + digest(i))).
/// Two images with the same first n layers share chains 1..n, so they share those thin devices.
/// </summary>
public static class ChainIds
{
    /// <summary>The chain id of each prefix of <paramref name="layerDigests"/> (index 0 = chain 1).</summary>
    public static IReadOnlyList<string> Compute(IEnumerable<string> layerDigests)
    {
        ArgumentNullException.ThrowIfNull(layerDigests);
        var chains = new List<string>();
        foreach (var digest in layerDigests)
        {
            chains.Add(Next(chains.Count == 0 ? null : chains[^1], digest));
        }

        return chains;
    }

    /// <summary>The chain id of <paramref name="layerDigest"/> on top of <paramref name="parentChainId"/> (null for the base layer).</summary>
    public static string Next(string? parentChainId, string layerDigest)
    {
        RequireDigest(layerDigest);
        if (parentChainId is null)
        {
            return layerDigest;
        }

        RequireDigest(parentChainId);
        var hash = SHA256.HashData(Encoding.ASCII.GetBytes(parentChainId + " " + layerDigest));
        return "sha256:" + Convert.ToHexString(hash).ToLowerInvariant();
    }

    /// <summary>Whether <paramref name="digest"/> is <c>sha256:</c> and 64 lower-case hex digits.</summary>
    public static bool IsDigest(string? digest)
        => digest is { Length: 71 } && digest.StartsWith("sha256:", StringComparison.Ordinal) && digest.AsSpan(7).ContainsAnyExcept("0123456789abcdef") is false;

    private static void RequireDigest(string digest)
    {
        if (!IsDigest(digest))
        {
            throw new FlyException(ErrorIds.WorkflowStepInvalid, FlyErrorCategory.InvalidData,
                $"'{Show(digest)}' is not a sha256 digest (sha256: and 64 lower-case hex digits).", digest);
        }
    }

    private static string Show(string? text)
        => text is null ? "(null)" : new string(text.Take(80).Select(ch => char.IsControl(ch) ? '?' : ch).ToArray());
}
