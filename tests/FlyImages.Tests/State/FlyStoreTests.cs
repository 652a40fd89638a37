using FlyImages.Errors;
using FlyImages.Model;
using FlyImages.State;
using FlyImages.TestSupport;
using Microsoft.Data.Sqlite;
using Xunit;

namespace FlyImages.Tests.State;

public sealed class FlyStoreTests : IDisposable
{
    private readonly TempDirectory dir = new("flyimages-store");

    [Fact]
    public void A_new_store_is_migrated_to_the_latest_schema_with_WAL_and_foreign_keys()
    {
        var store = FlyStore.Open(dir.Path);
        Assert.Equal(FlyStore.LatestSchemaVersion, store.SchemaVersion());
        using var c = store.Connect();
        Assert.Equal("wal", c.Scalar<string>(null, "PRAGMA journal_mode;"));
        Assert.Equal(1L, c.Scalar<long>(null, "PRAGMA foreign_keys;"));
        Assert.NotNull(c.Scalar<string>(null, "SELECT value FROM store_info WHERE key = 'store_id';"));
    }

    [Fact]
    public void Reopening_is_idempotent_and_keeps_data()
    {
        var store = FlyStore.Open(dir.Path);
        var repo = new ImageRepository(store);
        repo.Upsert(Sample(), ImageState.Fetched);
        var again = FlyStore.Open(dir.Path);
        var image = Assert.Single(new ImageRepository(again).List());
        Assert.Equal(ImageState.Fetched, image.State);
        Assert.Equal([1, 2], image.Layers.Select(l => l.Index));
    }

    [Fact]
    public void Concurrent_openers_migrate_once()
    {
        var stores = Enumerable.Range(0, 8).AsParallel().Select(_ => FlyStore.Open(dir.Path)).ToList();
        Assert.All(stores, s => Assert.Equal(FlyStore.LatestSchemaVersion, s.SchemaVersion()));
        using var c = stores[0].Connect();
        Assert.Equal(1L, c.Scalar<long>(null, "SELECT count(*) FROM store_info WHERE key = 'store_id';"));
    }

    [Fact]
    public void A_store_from_a_newer_version_is_refused()
    {
        var store = FlyStore.Open(dir.Path);
        using (var c = store.Connect())
        {
            c.Exec(null, $"PRAGMA user_version = {FlyStore.LatestSchemaVersion + 1};");
        }

        SqliteConnection.ClearAllPools();
        var e = Assert.Throws<FlyException>(() => FlyStore.Open(dir.Path));
        Assert.Equal(ErrorIds.StoreSchemaTooNew, e.ErrorId);
    }

    [Fact]
    public void Foreign_keys_are_enforced()
    {
        var store = FlyStore.Open(dir.Path);
        Assert.Throws<SqliteException>(() => store.Write((c, t) => c.Exec(t, "INSERT INTO image_layers(image_id, idx, key, size) VALUES (999, 1, 'k', 1);")));
    }

    [Fact]
    public void Upsert_replaces_layers_and_SetState_changes_state_and_detail()
    {
        var repo = new ImageRepository(FlyStore.Open(dir.Path));
        repo.Upsert(Sample(), ImageState.Fetching);
        var changed = new Image { Name = "golang", Source = "s3://b/images", Layers = [new Layer { Index = 1, Key = "golang/1.tar", Size = 7, ETag = "e9" }] };
        repo.Upsert(changed, ImageState.Fetched);
        Assert.True(repo.SetState("s3://b/images", "golang", ImageState.Failed, "boom"));
        var image = repo.Find("s3://b/images", "golang")!;
        Assert.Single(image.Layers);
        Assert.Equal(ImageState.Failed, image.State);
        Assert.Equal("boom", image.StateDetail);
        Assert.False(repo.SetState("s3://b/images", "nope", ImageState.Ready));
    }

    [Fact]
    public void OpenExisting_does_not_create_a_store()
    {
        var path = Path.Combine(dir.Path, "none");
        Assert.Null(FlyStore.OpenExisting(path));
        Assert.False(Directory.Exists(path));
    }

    private static Image Sample() => new()
    {
        Name = "golang",
        Source = "s3://b/images",
        Layers =
        [
            new Layer { Index = 1, Key = "golang/1.tar", Size = 10, ETag = "e1", LastModified = DateTimeOffset.UnixEpoch },
            new Layer { Index = 2, Key = "golang/2.tar", Size = 20, ETag = "e2" },
        ],
    };

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        dir.Dispose();
    }
}
