using System.Security.Cryptography;
using System.Text;
using Amazon.Runtime.Internal.Util;
using FlyImages.Content;
using FlyImages.Errors;
using FlyImages.Sources;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Tests.Content;

/// <summary>
/// S3's additional checksums (<c>x-amz-checksum-*</c>): where the ETag is not a plain MD5 (a multipart upload) or MD5
/// is off, and for a large blob instead of the MD5 of its ETag, a download is checked against the whole object's
/// checksum the source announces on a HEAD. s3rver keeps no
/// such checksums, so the proxy announces them as S3 does, with values computed by the AWS SDK's own implementations
/// (an oracle independent of FlyImages'); the bytes still come from s3rver.
/// </summary>
[Collection(ContentS3Collection.Name)]
public sealed class SourceChecksumTests(ContentS3 s3) : IDisposable
{
    private readonly ContentTestBed bed = new(s3);

    public static TheoryData<string> Algorithms => ["CRC64NVME", "CRC32C", "CRC32", "SHA256", "SHA1"];

    private string BigMd5 => Convert.ToHexString(MD5.HashData(s3.Big)).ToLowerInvariant();

    [Theory]
    [MemberData(nameof(Algorithms))]
    public async Task Without_a_plain_MD5_the_blob_is_checked_against_the_checksum_the_source_announces(string algorithm)
    {
        Announce(algorithm, Oracle(algorithm, s3.Big));
        var blob = await FetchBigAsync(NoMd5());

        Assert.Equal(s3.BigDigest, blob.Digest);
        AssertOneChecksumHead();
        Assert.Contains(bed.Context.Verbose, v => v.Contains($"checked against the {algorithm} checksum", StringComparison.Ordinal));
        // a checksum other than a verified MD5 never names the content for lookups by ETag
        Assert.Null(StoredMd5(blob.Digest));
    }

    [Fact]
    public async Task A_large_blob_with_a_plain_MD5_ETag_is_checked_by_the_announced_CRC_and_its_MD5_names_it_only_for_its_source()
    {
        Announce("CRC64NVME", Oracle("CRC64NVME", s3.Big));
        var blob = await FetchBigAsync(Options(sourceChecksumFrom: ContentS3.BigSize));

        Assert.Equal(s3.BigDigest, blob.Digest);
        AssertOneChecksumHead();
        Assert.Contains(bed.Context.Verbose, v => v.Contains("checked against the CRC64NVME checksum", StringComparison.Ordinal) && v.Contains("cheaper than the MD5", StringComparison.Ordinal));
        // the ETag's MD5 is that source's claim: it finds the blob by it, another source does not
        var md5 = BigMd5;
        Assert.Equal(md5, StoredMd5(blob.Digest));
        Assert.Equal(PublicBucketLayout.SourceUri, Md5ClaimedBy(blob.Digest));
        var repository = new ContentRepository(bed.Store);
        Assert.Equal(blob.Digest, repository.FindByMd5(md5, ContentS3.BigSize, PublicBucketLayout.SourceUri)?.Digest);
        Assert.Null(repository.FindByMd5(md5, ContentS3.BigSize, "s3://another-bucket/images"));
    }

    [Fact]
    public async Task A_large_blob_whose_source_announces_no_checksum_is_checked_by_MD5_which_names_it_for_every_source()
    {
        var blob = await FetchBigAsync(Options(sourceChecksumFrom: ContentS3.BigSize));

        Assert.Equal(s3.BigDigest, blob.Digest);
        Assert.Contains(bed.Context.Verbose, v => v.Contains("announces no additional checksum", StringComparison.Ordinal) && v.Contains("checked by the MD5 of its ETag", StringComparison.Ordinal));
        Assert.Equal(BigMd5, StoredMd5(blob.Digest));
        Assert.Null(Md5ClaimedBy(blob.Digest));
    }

    [Fact]
    public async Task Flipped_bytes_of_a_large_blob_with_a_plain_MD5_ETag_are_caught_by_the_CRC_that_replaces_MD5()
    {
        Announce("CRC64NVME", Oracle("CRC64NVME", s3.Big));
        bed.Proxy.FaultFirst(1, ContentTestBed.IsBigGet, new Fault.FlipByte(4096));
        using var source = bed.Source();
        var blob = await new ContentStore(bed.Store, Options(sourceChecksumFrom: 0)).FetchLayerAsync(source, await bed.BigLayerAsync(source), bed.Context, CancellationToken.None);

        Assert.Equal(s3.BigDigest, blob.Digest);
        Assert.Equal(s3.Big, await File.ReadAllBytesAsync(blob.Path));
        Assert.Contains(bed.Context.Warnings, w => w.Contains("CRC64NVME", StringComparison.Ordinal) && w.Contains("fetching the whole blob again", StringComparison.Ordinal));
    }

    [Fact]
    public void An_MD5_computed_from_the_bytes_replaces_a_claimed_one_and_is_never_replaced_by_one()
    {
        var repository = new ContentRepository(bed.Store);
        var origin = new SourceObjectRow("s3://a/images", "x/1.tar", "etag", 10, null);
        var (claimed, computed) = (new string('a', 32), new string('b', 32));
        repository.RecordBlob("sha256:" + new string('1', 64), 10, claimed, "s3://a/images", origin, 10);
        repository.RecordBlob("sha256:" + new string('1', 64), 10, computed, null, origin, 10);
        Assert.Equal(computed, StoredMd5("sha256:" + new string('1', 64)));
        Assert.Null(Md5ClaimedBy("sha256:" + new string('1', 64)));

        repository.RecordBlob("sha256:" + new string('2', 64), 10, computed, null, origin, 10);
        repository.RecordBlob("sha256:" + new string('2', 64), 10, claimed, "s3://a/images", origin, 10);
        Assert.Equal(computed, StoredMd5("sha256:" + new string('2', 64)));
        Assert.Null(Md5ClaimedBy("sha256:" + new string('2', 64)));
        Assert.Equal("sha256:" + new string('2', 64), repository.FindByMd5(computed, 10, "s3://b/images")?.Digest);
    }

    [Fact]
    public async Task A_small_blob_with_a_plain_MD5_ETag_is_checked_by_MD5_without_asking_for_checksums()
    {
        Announce("CRC64NVME", Oracle("CRC64NVME", s3.Big));
        var blob = await FetchBigAsync(ContentTestBed.Fast());

        Assert.Equal(s3.BigDigest, blob.Digest);
        Assert.DoesNotContain(bed.Proxy.Requests, r => r.Method == "HEAD");
        Assert.Equal(BigMd5, StoredMd5(blob.Digest));
    }

    [Fact]
    public async Task Flipped_bytes_are_caught_by_the_announced_CRC64NVME_discarded_and_fetched_again()
    {
        Announce("CRC64NVME", Oracle("CRC64NVME", s3.Big));
        bed.Proxy.FaultFirst(1, ContentTestBed.IsBigGet, new Fault.FlipByte(1000));
        using var source = bed.Source();
        var blob = await new ContentStore(bed.Store, NoMd5()).FetchLayerAsync(source, await bed.BigLayerAsync(source), bed.Context, CancellationToken.None);

        Assert.Equal(s3.BigDigest, blob.Digest);
        Assert.Equal(s3.Big, await File.ReadAllBytesAsync(blob.Path));
        Assert.Contains(bed.Context.Warnings, w => w.Contains("CRC64NVME", StringComparison.Ordinal) && w.Contains("fetching the whole blob again", StringComparison.Ordinal));
        Assert.Equal([blob.Path], bed.BlobFiles());
    }

    [Fact]
    public async Task Bytes_that_never_match_the_announced_checksum_end_in_BlobCorrupt_and_nothing_is_stored()
    {
        Announce("CRC32C", Oracle("CRC32C", Encoding.ASCII.GetBytes("other bytes")));
        using var source = bed.Source();
        var error = await Assert.ThrowsAsync<FlyException>(async () =>
            await new ContentStore(bed.Store, NoMd5()).FetchLayerAsync(source, await bed.BigLayerAsync(source), bed.Context, CancellationToken.None));

        Assert.Equal(ErrorIds.BlobCorrupt, error.ErrorId);
        Assert.Equal(FlyErrorCategory.InvalidData, error.Category);
        Assert.Contains("CRC32C", error.Message, StringComparison.Ordinal);
        Assert.Contains("nothing was stored", error.Message, StringComparison.Ordinal);
        Assert.Empty(bed.BlobFiles());
        Assert.Empty(bed.PartialFiles());
    }

    [Theory]
    [InlineData("COMPOSITE", "AAAAAA==-3", "COMPOSITE")]
    [InlineData("FULL_OBJECT", "not base64!", "not a well-formed value")]
    [InlineData("FULL_OBJECT", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "not a well-formed value")]
    [InlineData(null, null, "announces no additional checksum")]
    public async Task A_checksum_that_cannot_check_the_whole_object_is_not_used_and_said_so(string? type, string? value, string said)
    {
        bed.Proxy.ExtraHeaders = r => r.Method == "HEAD" && value is not null
            ? [new("x-amz-checksum-crc32c", value), .. type is null ? Array.Empty<KeyValuePair<string, string>>() : [new("x-amz-checksum-type", type)]]
            : null;
        using var source = bed.Source();
        var blob = await new ContentStore(bed.Store, NoMd5()).FetchLayerAsync(source, await bed.BigLayerAsync(source), bed.Context, CancellationToken.None);

        Assert.Equal(s3.BigDigest, blob.Digest);
        Assert.Contains(bed.Context.Verbose, v => v.Contains(said, StringComparison.Ordinal) && v.Contains("checked for length only", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_object_changed_since_the_listing_fails_at_the_HEAD_as_SourceObjectChanged()
    {
        using var source = bed.Source();
        var layer = await bed.BigLayerAsync(source);
        bed.Proxy.Faults = r => r.Method == "HEAD" ? new Fault.Status(412) : null;
        var error = await Assert.ThrowsAsync<FlyException>(() => new ContentStore(bed.Store, NoMd5()).FetchLayerAsync(source, layer, bed.Context, CancellationToken.None));

        Assert.Equal(ErrorIds.SourceObjectChanged, error.ErrorId);
        Assert.Empty(bed.ObjectGets(ContentS3.BigKey));
        Assert.Empty(bed.BlobFiles());
    }

    [Fact]
    public void The_preferred_checksum_is_the_cheapest_strong_one_and_values_are_checked_for_length()
    {
        var crc64 = Convert.ToBase64String(new byte[8]);
        var sha256 = Convert.ToBase64String(new byte[32]);
        Assert.Equal(ChecksumAlgorithm.Sha256, ObjectChecksum.FromS3("FULL_OBJECT", sha256, crc64, null, null, null, out _)!.Algorithm);
        Assert.Equal(ChecksumAlgorithm.Crc64Nvme, ObjectChecksum.FromS3(null, null, crc64, "AAAAAA==", null, null, out _)!.Algorithm);
        // a malformed first choice falls back to the next well-formed one
        Assert.Equal(ChecksumAlgorithm.Crc32C, ObjectChecksum.FromS3(null, null, "AAAA", "AAAAAA==", null, null, out _)!.Algorithm);
        Assert.Null(ObjectChecksum.FromS3(null, null, new string('A', 4096), null, null, null, out var why));
        Assert.Contains("not a well-formed value", why, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(ChecksumAlgorithm.Crc64Nvme, "AE8B14860A799888")]
    [InlineData(ChecksumAlgorithm.Crc32C, "E3069283")]
    [InlineData(ChecksumAlgorithm.Crc32, "CBF43926")]
    public void The_CRCs_give_the_catalogued_check_values_big_endian(ChecksumAlgorithm algorithm, string check)
    {
        // the check value of each CRC is its value over "123456789" (the CRC catalogue's convention)
        var data = Encoding.ASCII.GetBytes("123456789");
        using var hasher = new ChecksumHasher(algorithm, 2, 64);
        hasher.Append(data, data.Length, CancellationToken.None);
        Assert.Equal(check, Convert.ToHexString(hasher.Finish([])!));
    }

    public void Dispose() => bed.Dispose();

    private static FetchOptions NoMd5() => ContentTestBed.Fast(verifyMd5: false);

    private static FetchOptions Options(long sourceChecksumFrom) => ContentTestBed.Fast(sourceChecksumFrom: sourceChecksumFrom);

    /// <summary>The fetch asked for the checksum once; a failure lists what the proxy saw and what the fetch said.</summary>
    private void AssertOneChecksumHead()
    {
        var requests = bed.Proxy.Requests;
        Assert.True(requests.Count(r => r.Method == "HEAD") == 1,
            $"requests: {string.Join(", ", requests.Select(r => $"{r.Method} {r.Range} {r.Fault}"))}; warnings: {string.Join(" | ", bed.Context.Warnings)}; "
            + $"verbose: {string.Join(" | ", bed.Context.Verbose)}");
    }

    /// <summary>Fetches the big blob with <paramref name="options"/>; the proxy's record then holds that fetch's requests only.</summary>
    private async Task<BlobInfo> FetchBigAsync(FetchOptions options)
    {
        using var source = bed.Source();
        var layer = await bed.BigLayerAsync(source);
        bed.Proxy.Clear();
        return await new ContentStore(bed.Store, options).FetchLayerAsync(source, layer, bed.Context, CancellationToken.None);
    }

    private string? Md5ClaimedBy(string digest) => Column(digest, "md5_claimed_by");

    /// <summary>The MD5 the store recorded for a blob (what later lookups by a plain-MD5 ETag find it by).</summary>
    private string? StoredMd5(string digest) => Column(digest, "md5");

    private string? Column(string digest, string column) => bed.Store.Read((c, t) =>
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = t;
        cmd.CommandText = $"SELECT {column} FROM blobs WHERE digest = $digest";
        cmd.Parameters.AddWithValue("$digest", digest);
        return cmd.ExecuteScalar() as string;
    });

    private void Announce(string algorithm, string value)
        => bed.Proxy.ExtraHeaders = r => r.Method == "HEAD" && Uri.UnescapeDataString(r.Path).EndsWith(ContentS3.BigKey, StringComparison.Ordinal)
            ? [new("x-amz-checksum-" + algorithm.ToLowerInvariant(), value), new("x-amz-checksum-type", "FULL_OBJECT")]
            : null;

    /// <summary>The value S3 would announce, computed by the AWS SDK's implementations.</summary>
    private static string Oracle(string algorithm, byte[] data) => Convert.ToBase64String(algorithm switch
    {
        "CRC64NVME" => new HashingWrapperCRC64NVME().ComputeHash(data),
        "CRC32C" => new HashingWrapperCRC32C().ComputeHash(data),
        "CRC32" => new HashingWrapperCRC32().ComputeHash(data),
        "SHA256" => SHA256.HashData(data),
        _ => SHA1.HashData(data),
    });
}
