using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests.Infrastructure;

/// <summary>One s3rver seeded with the public bucket's layout, shared by a test collection.</summary>
public sealed class SeededS3 : IAsyncLifetime, IDisposable
{
    public S3rverFixture Server { get; } = new();

    public string Endpoint => Server.Endpoint;

    public Task InitializeAsync() => PublicBucketLayout.SeedAsync(Server);

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => Server.Dispose();
}

[CollectionDefinition(Name)]
public sealed class SeededS3Collection : ICollectionFixture<SeededS3>
{
    public const string Name = "seeded s3";
}
