using FlyImages.Engine;
using FlyImages.Errors;
using FlyImages.Model;
using FlyImages.State;
using FlyImages.State.Migrations;
using FlyImages.Workflows;
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
        repo.Record(Sample());
        Fire(store, Sample(), InstallTrigger.Start);
        Fire(store, Sample(), InstallTrigger.Fail, error: "boom");
        var again = FlyStore.Open(dir.Path);
        var image = Assert.Single(new ImageRepository(again).List());
        Assert.Equal(ImageState.Failed, image.State);
        Assert.Equal("boom", image.StateDetail);
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
    public void Upgrading_to_version_9_keeps_every_stored_MD5_as_computed_from_its_bytes()
    {
        // a store as version 8 left it: blobs without md5_claimed_by, their MD5s all computed from the bytes
        var store = FlyStore.Open(dir.Path);
        using (var c = store.Connect())
        {
            c.Exec(null, "ALTER TABLE blobs DROP COLUMN md5_claimed_by; PRAGMA user_version = 8;");
            c.Exec(null, $"INSERT INTO blobs(digest, size, md5, created_at, verified_at) VALUES ('sha256:{new string('3', 64)}', 5, '{new string('c', 32)}', 'now', 'now');");
        }

        SqliteConnection.ClearAllPools();
        var upgraded = FlyStore.Open(dir.Path);
        Assert.Equal(9, upgraded.SchemaVersion());
        var found = new FlyImages.Content.ContentRepository(upgraded).FindByMd5(new string('c', 32), 5, "s3://any/source");
        Assert.Equal($"sha256:{new string('3', 64)}", found?.Digest);
    }

    [Fact]
    public void Foreign_keys_are_enforced()
    {
        var store = FlyStore.Open(dir.Path);
        Assert.Throws<SqliteException>(() => store.Write((c, t) => c.Exec(t, "INSERT INTO image_layers(image_id, idx, key, size) VALUES (999, 1, 'k', 1);")));
    }

    [Fact]
    public void Record_replaces_layers_and_the_state_shown_is_the_install_workflows()
    {
        var store = FlyStore.Open(dir.Path);
        var repo = new ImageRepository(store);
        repo.Record(Sample());
        var changed = new Image { Name = "golang", Source = "s3://b/images", Layers = [new Layer { Index = 1, Key = "golang/1.tar", Size = 7, ETag = "e9" }] };
        repo.Record(changed);
        var image = repo.Find("s3://b/images", "golang")!;
        Assert.Equal(7, Assert.Single(image.Layers).Size);
        Assert.Equal(ImageState.Remote, image.State); // no install, no blob

        Fire(store, changed, InstallTrigger.Start);
        Assert.Equal(ImageState.Fetching, repo.Find("s3://b/images", "golang")!.State);
        Fire(store, changed, InstallTrigger.Reject, error: "hostile");
        image = repo.Find("s3://b/images", "golang")!;
        Assert.Equal(ImageState.Rejected, image.State);
        Assert.Equal("hostile", image.StateDetail);
        Assert.Null(repo.Find("s3://b/images", "nope"));
    }

    [Fact]
    public void Every_install_state_shows_as_one_image_state_and_Pending_as_what_the_blobs_say()
    {
        foreach (var state in Enum.GetNames<InstallState>())
        {
            var shown = ImageRepository.Shown(state, layers: 3, blobs: 3);
            if (state == nameof(InstallState.Pending))
            {
                Assert.Equal(ImageState.Fetched, shown);
            }
            else
            {
                // every other state is named the same in both enums, but Resolving (shown Fetching)
                Assert.Equal(state == nameof(InstallState.Resolving) ? ImageState.Fetching : Enum.Parse<ImageState>(state), shown);
            }
        }

        Assert.Equal(ImageState.Remote, ImageRepository.Shown(null, layers: 3, blobs: 0));
        Assert.Equal(ImageState.Fetching, ImageRepository.Shown(null, layers: 3, blobs: 1));
        Assert.Equal(ImageState.Fetched, ImageRepository.Shown(nameof(InstallState.Pending), layers: 3, blobs: 3));
        Assert.Equal(ImageState.Rejected, ImageRepository.Shown(nameof(InstallState.Rejected), layers: 3, blobs: 3));
    }

    [Fact]
    public void A_version_5_store_migrates_its_image_states_into_the_install_workflows()
    {
        Directory.CreateDirectory(dir.Path);
        using (var c = new SqliteConnection($"Data Source={Path.Combine(dir.Path, FlyStore.DatabaseFileName)};Pooling=False"))
        {
            c.Open();
            foreach (var migration in MigrationCatalog.All.Where(m => m.Version <= 5))
            {
                using var t = c.BeginTransaction();
                migration.Apply(c, t);
                c.Exec(t, $"PRAGMA user_version = {migration.Version};");
                t.Commit();
            }

            // as version 5 wrote them: a failed save (no workflow), a saved image, an installed one, a removed pool's
            c.Exec(null, """
                INSERT INTO images(source, name, state, state_detail, created_at, updated_at) VALUES
                    ('s3://b/images', 'failed', 'Failed', 'boom', '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z'),
                    ('s3://b/images', 'saved', 'Fetched', NULL, '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z'),
                    ('s3://b/images', 'ready', 'Ready', NULL, '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z'),
                    ('s3://b/images', 'removed', 'Fetched', 'pool gone', '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z');
                INSERT INTO workflows(kind, key, subject, source, state, state_detail, run_id, run_started_at, created_at, updated_at) VALUES
                    ('install-image', 's3://b/images/ready', 'ready', 's3://b/images', 'Ready', NULL, 'r1', '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z'),
                    ('install-image', 's3://b/images/removed', 'removed', 's3://b/images', 'Pending', 'pool gone', 'r2', '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z');
                """);
        }

        var store = FlyStore.Open(dir.Path);
        Assert.Equal(FlyStore.LatestSchemaVersion, store.SchemaVersion());
        var images = new ImageRepository(store).List().ToDictionary(i => i.Name);
        Assert.Equal(ImageState.Failed, images["failed"].State);
        Assert.Equal("boom", images["failed"].StateDetail);
        Assert.Equal(nameof(InstallState.Failed), new WorkflowRepository(store).Find(WorkflowKinds.InstallImage, "s3://b/images/failed")!.State);
        Assert.Equal(ImageState.Ready, images["ready"].State);
        Assert.Equal(ImageState.Remote, images["saved"].State); // no layers recorded, so no blob of it is here
        Assert.Equal(ImageState.Remote, images["removed"].State);
        Assert.Equal("pool gone", images["removed"].StateDetail);
        using var check = store.Connect();
        Assert.Equal(0L, check.Scalar<long>(null, "SELECT count(*) FROM pragma_table_info('images') WHERE name IN ('state', 'state_detail');"));
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

    /// <summary>Fires <paramref name="trigger"/> on the image's install workflow, as a run of its own.</summary>
    private static void Fire(FlyStore store, Image image, InstallTrigger trigger, string? error = null)
    {
        var run = new WorkflowRepository(store).BeginRun(WorkflowKinds.InstallImage, InstallWorkflow.KeyOf(image.Source, image.Name), image.Name, image.Source);
        new PersistedWorkflow<InstallState, InstallTrigger>(store, run, WorkflowMachines.ConfigureInstall).Fire(trigger, error: error);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        dir.Dispose();
    }
}
