using Microsoft.Data.Sqlite;

namespace FlyImages.State.Migrations;

/// <summary>
/// One step of the store's schema. Each area adds its own file (M00N_Area.cs); the migrator finds
/// every implementation by reflection and applies them in <see cref="Version"/> order, each in one
/// transaction that also sets PRAGMA user_version.
/// </summary>
internal interface IMigration
{
    int Version { get; }

    string Description { get; }

    void Apply(SqliteConnection connection, SqliteTransaction transaction);
}
