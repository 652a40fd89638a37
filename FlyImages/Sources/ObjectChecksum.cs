namespace FlyImages.Sources;

/// <summary>How the bytes of a whole object are checked against what its source says about them.</summary>
public enum ChecksumAlgorithm
{
    /// <summary>The object's plain-MD5 ETag (a single-part S3 upload).</summary>
    Md5,

    /// <summary>S3's full-object SHA-256: free, as every blob's SHA-256 is computed anyway.</summary>
    Sha256,

    /// <summary>S3's full-object CRC-64/NVME (S3's default for uploads since 2025, multipart ones included).</summary>
    Crc64Nvme,

    /// <summary>S3's full-object CRC-32C (Castagnoli).</summary>
    Crc32C,

    /// <summary>S3's full-object CRC-32 (IEEE).</summary>
    Crc32,

    /// <summary>S3's full-object SHA-1.</summary>
    Sha1,
}

/// <summary>
/// What a source says the whole object's bytes hash to: its plain-MD5 ETag, or one of S3's additional checksums
/// (<c>x-amz-checksum-*</c> of type FULL_OBJECT). <see cref="Value"/> holds the digest's bytes in the order S3
/// base64-encodes them (big-endian for the CRCs).
/// </summary>
public sealed record ObjectChecksum(ChecksumAlgorithm Algorithm, byte[] Value)
{
    /// <summary>The name S3 gives the algorithm (CRC64NVME, MD5 for an ETag).</summary>
    public string Name => NameOf(Algorithm);

    /// <summary>The name S3 gives <paramref name="algorithm"/>.</summary>
    public static string NameOf(ChecksumAlgorithm algorithm) => algorithm switch
    {
        ChecksumAlgorithm.Md5 => "MD5",
        ChecksumAlgorithm.Sha256 => "SHA256",
        ChecksumAlgorithm.Crc64Nvme => "CRC64NVME",
        ChecksumAlgorithm.Crc32C => "CRC32C",
        ChecksumAlgorithm.Crc32 => "CRC32",
        _ => "SHA1",
    };

    /// <summary>The value as its source writes it: hex for an MD5 ETag, base64 for S3's checksums.</summary>
    public string Text => Format(Algorithm, Value);

    /// <summary>The checksum of a plain-MD5 ETag (32 hex digits).</summary>
    public static ObjectChecksum FromMd5(string hex) => new(ChecksumAlgorithm.Md5, Convert.FromHexString(hex));

    /// <summary>Bytes of a computed digest as the source would write them.</summary>
    public static string Format(ChecksumAlgorithm algorithm, byte[] value)
        => algorithm == ChecksumAlgorithm.Md5 ? Convert.ToHexString(value).ToLowerInvariant() : Convert.ToBase64String(value);

    /// <summary>The digest length of <paramref name="algorithm"/> in bytes.</summary>
    public static int LengthOf(ChecksumAlgorithm algorithm) => algorithm switch
    {
        ChecksumAlgorithm.Md5 => 16,
        ChecksumAlgorithm.Sha256 => 32,
        ChecksumAlgorithm.Crc64Nvme => 8,
        ChecksumAlgorithm.Crc32C or ChecksumAlgorithm.Crc32 => 4,
        _ => 20,
    };

    /// <summary>
    /// The full-object checksum to check an object against, from S3's checksum headers (null or empty where absent),
    /// by preference: SHA-256 (computed anyway), then the CRCs (several GB/s), then SHA-1. A COMPOSITE checksum (a
    /// checksum of the parts' checksums, <c>value-N</c>, needing the upload's part boundaries) is not used; neither
    /// is a value that is not the algorithm's length in base64 (a server's answer is not trusted to be well formed).
    /// <paramref name="why"/> says why none was chosen.
    /// </summary>
    public static ObjectChecksum? FromS3(string? type, string? sha256, string? crc64Nvme, string? crc32C, string? crc32, string? sha1, out string why)
    {
        var announced = new (ChecksumAlgorithm Algorithm, string? Value)[]
        {
            (ChecksumAlgorithm.Sha256, sha256), (ChecksumAlgorithm.Crc64Nvme, crc64Nvme), (ChecksumAlgorithm.Crc32C, crc32C),
            (ChecksumAlgorithm.Crc32, crc32), (ChecksumAlgorithm.Sha1, sha1),
        }.Where(a => !string.IsNullOrWhiteSpace(a.Value)).ToArray();
        if (announced.Length == 0)
        {
            why = "the source announces no additional checksum for it";
            return null;
        }

        if (string.Equals(type, "COMPOSITE", StringComparison.OrdinalIgnoreCase) || announced.Any(a => a.Value!.Contains('-', StringComparison.Ordinal)))
        {
            why = $"its {string.Join(", ", announced.Select(a => NameOf(a.Algorithm)))} checksum is COMPOSITE (of its upload's parts), not of the whole object";
            return null;
        }

        foreach (var (algorithm, value) in announced)
        {
            var text = value!.Trim();
            var bytes = new byte[text.Length];
            if (text.Length <= 128 && Convert.TryFromBase64String(text, bytes, out var written) && written == LengthOf(algorithm))
            {
                why = "";
                return new ObjectChecksum(algorithm, bytes[..written]);
            }
        }

        why = $"its announced {string.Join(", ", announced.Select(a => NameOf(a.Algorithm)))} checksum is not a well-formed value";
        return null;
    }

    public bool Equals(ObjectChecksum? other) => other is not null && other.Algorithm == Algorithm && other.Value.AsSpan().SequenceEqual(Value);

    public override int GetHashCode() => HashCode.Combine(Algorithm, Value.Length);

    public override string ToString() => $"{Name} {Text}";
}
