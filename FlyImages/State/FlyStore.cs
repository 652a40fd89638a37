using FlyImages.Errors;
using FlyImages.State.Migrations;
using Microsoft.Data.Sqlite;

namespace FlyImages.State;

/// <summary>
/// The one transactional store of a host: a folder (blobs, pools, mounts...) and the SQLite database
/// <c>flyimages.db</c> in it. WAL, foreign keys on, a busy timeout for concurrent processes, and a
/// schema versioned by PRAGMA user_version.
/// </summary>
public sealed class FlyStore
{
    public const string DatabaseFileName = "flyimages.db";

    private readonly string connectionString;

    private FlyStore(string rootPath)
    {
        RootPath = rootPath;
        DatabasePath = Path.Combine(rootPath, DatabaseFileName);
        connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            ForeignKeys = true,
            DefaultTimeout = 60,
            Pooling = true,
        }.ToString();
    }

    /// <summary>The store folder.</summary>
    public string RootPath { get; }

    public string DatabasePath { get; }

    /// <summary>The highest schema version this build knows.</summary>
    public static int LatestSchemaVersion => MigrationCatalog.All.Count == 0 ? 0 : MigrationCatalog.All[^1].Version;

    /// <summary>Opens (creating if needed) the store at <paramref name="rootPath"/> and migrates its schema.</summary>
    public static FlyStore Open(string rootPath)
    {
        if (string.IsNullOrWhiteSpace(rootPath) || rootPath.Any(char.IsControl))
        {
            throw new FlyException(ErrorIds.StorePathInvalid, FlyErrorCategory.InvalidArgument, "The store path is empty or contains control characters.", rootPath);
        }

        var full = Path.GetFullPath(rootPath);
        try
        {
            Directory.CreateDirectory(full);
            if (OperatingSystem.IsLinux())
            {
                // The store holds blobs, device records and mounts: nobody else writes here.
                File.SetUnixFileMode(full, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                    | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FlyException(ErrorIds.StoreUnavailable, FlyErrorCategory.PermissionDenied, $"The store folder '{full}' cannot be created or used: {e.Message}", full, e)
            {
                RecommendedAction = "Pass -StorePath (or set FLYIMAGES_HOME) to a folder you can write, or run as root.",
            };
        }

        var store = new FlyStore(full);
        store.Migrate();
        return store;
    }

    /// <summary>Opens the store at <paramref name="rootPath"/> only if its database exists (a listing must not create one).</summary>
    public static FlyStore? OpenExisting(string rootPath)
        => File.Exists(Path.Combine(Path.GetFullPath(rootPath), DatabaseFileName)) ? Open(rootPath) : null;

    /// <summary>Called with every connection this store opens (tests count the work a query does through it).</summary>
    internal Action<SqliteConnection>? Connected { get; set; }

    /// <summary>A new open connection (pooled). Dispose it when done.</summary>
    public SqliteConnection Connect()
    {
        var connection = new SqliteConnection(connectionString);
        try
        {
            connection.Open();
            connection.Exec(null, "PRAGMA synchronous = NORMAL;");
            Connected?.Invoke(connection);
            return connection;
        }
        catch (SqliteException e)
        {
            connection.Dispose();
            throw new FlyException(ErrorIds.StoreUnavailable, FlyErrorCategory.ResourceUnavailable, $"The store database '{DatabasePath}' cannot be opened: {e.Message}", DatabasePath, e);
        }
    }

    /// <summary>Runs <paramref name="work"/> in one IMMEDIATE transaction (writers serialise; readers go on).</summary>
    public T Write<T>(Func<SqliteConnection, SqliteTransaction, T> work) => InTransaction(work, deferred: false);

    public void Write(Action<SqliteConnection, SqliteTransaction> work) => Write<object?>((c, t) =>
    {
        work(c, t);
        return null;
    });

    /// <summary>Runs a read in one snapshot.</summary>
    public T Read<T>(Func<SqliteConnection, SqliteTransaction, T> work) => InTransaction(work, deferred: true);

    private T InTransaction<T>(Func<SqliteConnection, SqliteTransaction, T> work, bool deferred)
    {
        using var connection = Connect();
        using var transaction = connection.BeginTransaction(deferred);
        var result = work(connection, transaction);
        transaction.Commit();
        return result;
    }

    /// <summary>The schema version the database is at.</summary>
    public int SchemaVersion()
    {
        using var connection = Connect();
        return connection.Scalar<int>(null, "PRAGMA user_version;");
    }

    private void Migrate()
    {
        using var connection = Connect();
        try
        {
            // WAL is persistent in the file; setting it again is a no-op.
            connection.Scalar<string>(null, "PRAGMA journal_mode = WAL;");
        }
        catch (SqliteException e)
        {
            throw new FlyException(ErrorIds.StoreUnavailable, FlyErrorCategory.ResourceUnavailable, $"The store database '{DatabasePath}' cannot be used: {e.Message}", DatabasePath, e);
        }

        var current = connection.Scalar<int>(null, "PRAGMA user_version;");
        if (current > LatestSchemaVersion)
        {
            throw new FlyException(ErrorIds.StoreSchemaTooNew, FlyErrorCategory.InvalidOperation,
                $"The store '{RootPath}' has schema version {current}, newer than this FlyImages knows ({LatestSchemaVersion}).", RootPath)
            {
                RecommendedAction = "Use the FlyImages version that wrote this store, or a newer one.",
            };
        }

        foreach (var migration in MigrationCatalog.All)
        {
            if (migration.Version <= current)
            {
                continue;
            }

            using var transaction = connection.BeginTransaction(deferred: false);
            // Another process may have migrated while we waited for the write lock.
            var now = connection.Scalar<int>(transaction, "PRAGMA user_version;");
            if (now < migration.Version)
            {
                migration.Apply(connection, transaction);
                connection.Exec(transaction, $"PRAGMA user_version = {migration.Version};");
                if (migration.Version == 1)
                {
                    connection.Exec(transaction, "INSERT OR IGNORE INTO store_info(key, value) VALUES ('store_id', $id), ('created_at', $at);",
                        ("$id", Guid.NewGuid().ToString("N")), ("$at", StoreTime.Now()));
                }
            }

            transaction.Commit();
            current = migration.Version;
        }
    }
}

internal static class MigrationCatalog
{
    public static IReadOnlyList<IMigration> All { get; } = typeof(IMigration).Assembly.GetTypes()
        .Where(t => typeof(IMigration).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
        .Select(t => (IMigration)Activator.CreateInstance(t)!)
        .OrderBy(m => m.Version)
        .ToList();
}
