using Microsoft.Data.Sqlite;

namespace FlyImages.State;

/// <summary>
/// Looks at a store without changing it, for callers that must never create or migrate one (tab completion):
/// the database is opened read-only first and its schema version compared with this build's.
/// </summary>
public static class StoreProbe
{
    /// <summary>
    /// The store at <paramref name="rootPath"/> when its database exists and is at this build's schema version
    /// (so opening it migrates nothing); null when there is none, it is older or newer, or it cannot be read.
    /// </summary>
    public static FlyStore? OpenIfCurrent(string rootPath)
    {
        if (string.IsNullOrWhiteSpace(rootPath) || rootPath.Any(char.IsControl))
        {
            return null;
        }

        var database = Path.Combine(Path.GetFullPath(rootPath), FlyStore.DatabaseFileName);
        if (!File.Exists(database))
        {
            return null;
        }

        try
        {
            using var connection = new SqliteConnection(new SqliteConnectionStringBuilder
            {
                DataSource = database,
                Mode = SqliteOpenMode.ReadOnly,
                Pooling = false,
            }.ToString());
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA user_version;";
            var version = Convert.ToInt32(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
            return version == FlyStore.LatestSchemaVersion ? FlyStore.OpenExisting(rootPath) : null;
        }
        catch (SqliteException)
        {
            return null;
        }
    }
}
