using FlyImages.Errors;
using FlyImages.Workflows;
using FsCheck.Xunit;
using Xunit;

namespace FlyImages.Tests.Workflows;

public sealed class ChainIdTests
{
    private const string One = "sha256:7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed"; // sha256("one")
    private const string Two = "sha256:3fc4ccfe745870e2c0d99f71f30ff0656c8dedd41cc1d7d3d376b0dbe685e2f3"; // sha256("two")

    [Fact]
    public void Chain_1_is_the_first_digest_and_chain_2_hashes_parent_space_digest()
    {
        // expected value computed independently: sha256("<one> <two>") with python's hashlib
        Assert.Equal([One, "sha256:ee90d7132b9e9a049b7b0a88db345ca31fb5e8a74a5ee57210478a9a2522d499"], ChainIds.Compute([One, Two]));
    }

    [Property]
    public bool Images_with_a_common_prefix_share_exactly_that_many_chains(byte[] seedA, byte[] seedB, byte prefix)
    {
        var common = Enumerable.Range(0, prefix % 4 + 1).Select(i => Digest($"common{i}")).ToList();
        var a = ChainIds.Compute(common.Append(Digest("a" + Convert.ToHexString(seedA))));
        var b = ChainIds.Compute(common.Append(Digest("b" + Convert.ToHexString(seedB))));
        return a.Take(common.Count).SequenceEqual(b.Take(common.Count)) && a[^1] != b[^1] && a.All(ChainIds.IsDigest);
    }

    [Theory]
    [InlineData("")]
    [InlineData("sha256:")]
    [InlineData("sha512:7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed")]
    [InlineData("sha256:7692C3AD3540BB803C020B3AEE66CD8887123234EA0C6E7143C0ADD73FF431ED")]
    [InlineData("sha256:7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431e/")]
    [InlineData("sha256:../../../../etc/passwd")]
    public void Malformed_digests_are_refused(string digest)
    {
        var e = Assert.Throws<FlyException>(() => ChainIds.Compute([digest]));
        Assert.Equal(ErrorIds.WorkflowStepInvalid, e.ErrorId);
        Assert.Throws<FlyException>(() => ChainIds.Next(digest, One));
    }

    private static string Digest(string text)
        => "sha256:" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text))).ToLowerInvariant();
}
