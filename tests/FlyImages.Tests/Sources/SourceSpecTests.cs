using FlyImages.Configuration;
using FlyImages.Errors;
using FlyImages.Sources;
using Xunit;

namespace FlyImages.Tests.Sources;

public sealed class SourceSpecTests
{
    [Theory]
    [InlineData("s3://flyio-platform-hiring-challenge/images", "flyio-platform-hiring-challenge", "images")]
    [InlineData("s3://bucket/a/b/", "bucket", "a/b")]
    [InlineData("S3://bucket", "bucket", "")]
    public void S3_uris_parse(string text, string bucket, string prefix)
    {
        var spec = SourceSpec.Parse(text);
        Assert.Equal(SourceKind.S3, spec.Kind);
        Assert.Equal(bucket, spec.Bucket);
        Assert.Equal(prefix, spec.Prefix);
    }

    [Theory]
    [InlineData("/srv/images", "/srv/images")]
    [InlineData("file:///srv/images/", "/srv/images")]
    public void Folders_and_file_uris_parse(string text, string path)
    {
        var spec = SourceSpec.Parse(text);
        Assert.Equal(SourceKind.Directory, spec.Kind);
        Assert.Equal(path, spec.DirectoryPath);
        Assert.Equal("file://" + path, spec.Uri);
    }

    [Theory]
    [InlineData("s3://UPPER/x")]
    [InlineData("s3://ab")]
    [InlineData("s3://bucket/a/../b")]
    [InlineData("http://example/x")]
    [InlineData("file://host/share")]
    [InlineData("s3://bucket/\u0007")]
    [InlineData("")]
    public void Bad_sources_are_refused_with_SourceInvalid(string text)
    {
        var e = Assert.Throws<FlyException>(() => SourceSpec.Parse(text));
        Assert.Equal(ErrorIds.SourceInvalid, e.ErrorId);
        Assert.Equal(FlyErrorCategory.InvalidArgument, e.Category);
        Assert.DoesNotContain(e.Message, c => char.IsControl(c));
    }

    [Fact]
    public void The_default_source_is_the_public_bucket()
    {
        if (Environment.GetEnvironmentVariable(FlyEnvironment.SourceVariable) is null)
        {
            Assert.Equal("s3://flyio-platform-hiring-challenge/images", FlyEnvironment.ResolveSource(null));
        }

        Assert.Equal("/x", FlyEnvironment.ResolveSource("/x"));
    }

    [Fact]
    public void The_store_path_prefers_the_explicit_path_then_FLYIMAGES_HOME()
    {
        Assert.Equal("/tmp/a", FlyEnvironment.ResolveStorePath("/tmp/a"));
        if (Environment.GetEnvironmentVariable(FlyEnvironment.HomeVariable) is null && FlyEnvironment.IsRoot())
        {
            Assert.Equal("/var/lib/flyimages", FlyEnvironment.ResolveStorePath(null));
        }
    }
}
