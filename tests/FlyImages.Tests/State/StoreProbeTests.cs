using FlyImages.State;
using FlyImages.TestSupport;
using Microsoft.Data.Sqlite;
using Xunit;

namespace FlyImages.Tests.State;

/// <summary>StoreProbe (what tab completion uses) never creates and never migrates a store.</summary>
public sealed class StoreProbeTests : IDisposable
{
    private readonly TempDirectory dir = new("flyimages-probe");

    [Fact]
    public void A_missing_store_is_null_and_nothing_is_created()
    {
        var root = dir.Combine("missing", "store");
        Assert.Null(StoreProbe.OpenIfCurrent(root));
        Assert.False(Directory.Exists(dir.Combine("missing")));
    }

    [Fact]
    public void A_current_store_opens()
    {
        FlyStore.Open(dir.Path);
        Assert.NotNull(StoreProbe.OpenIfCurrent(dir.Path));
    }

    [Fact]
    public void An_older_store_is_null_and_is_not_migrated()
    {
        FlyStore.Open(dir.Path);
        var database = Path.Combine(dir.Path, FlyStore.DatabaseFileName);
        Scalar(database, "PRAGMA user_version = 1;");
        Assert.Null(StoreProbe.OpenIfCurrent(dir.Path));
        Assert.Equal(1L, Scalar(database, "PRAGMA user_version;"));
    }

    private static long Scalar(string database, string sql)
    {
        using var connection = new SqliteConnection($"Data Source={database};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar() ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
    }

    public void Dispose() => dir.Dispose();
}
