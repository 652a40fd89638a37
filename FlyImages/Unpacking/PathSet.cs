using System.Security.Cryptography;

namespace FlyImages.Unpacking;

/// <summary>
/// The paths one layer created, kept as 64-bit keyed hashes (8 bytes each, not whole strings) so a
/// million-entry layer stays small. The key is random per layer: an archive cannot aim a collision.
/// A collision could only keep a lower-layer file an opaque folder should hide; it can never let a
/// write escape the root.
/// </summary>
internal sealed class PathSet
{
    private readonly HashSet<ulong> hashes = [];
    private readonly ulong key0;
    private readonly ulong key1;

    public PathSet()
    {
        Span<byte> seed = stackalloc byte[16];
        RandomNumberGenerator.Fill(seed);
        key0 = BitConverter.ToUInt64(seed) | 1;
        key1 = BitConverter.ToUInt64(seed[8..]);
    }

    public int Count => hashes.Count;

    public void Add(string path) => hashes.Add(Hash(path));

    public bool Contains(string path) => hashes.Contains(Hash(path));

    private ulong Hash(string path)
    {
        // two independent multiply-xorshift lanes over the chars, then a final avalanche (splitmix64)
        var a = key0;
        var b = key1 ^ 0x9E3779B97F4A7C15UL;
        foreach (var c in path)
        {
            a = (a ^ c) * 0x100000001B3UL;
            b = (b + c) * 0xC2B2AE3D27D4EB4FUL;
            b ^= b >> 29;
        }

        var h = a ^ (b * 0x9E3779B97F4A7C15UL) ^ (ulong)path.Length;
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9UL;
        h = (h ^ (h >> 27)) * 0x94D049BB133111EBUL;
        return h ^ (h >> 31);
    }
}
