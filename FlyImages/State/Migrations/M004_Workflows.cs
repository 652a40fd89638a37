using Microsoft.Data.Sqlite;

namespace FlyImages.State.Migrations;

/// <summary>
/// Persisted workflows (one Stateless machine per (kind, key), its state in <c>workflows.state</c>),
/// the journal of every transition, steps a run completed, leases, and the shared layer chains.
/// </summary>
internal sealed class M004_Workflows : IMigration
{
    public int Version => 4;

    public string Description => "workflows, journal, steps, leases, layer chains, snapshots";

    public void Apply(SqliteConnection connection, SqliteTransaction transaction)
    {
        connection.Exec(transaction, """
            CREATE TABLE workflows(
                id             INTEGER PRIMARY KEY,
                kind           TEXT NOT NULL,
                key            TEXT NOT NULL,
                subject        TEXT NOT NULL,
                source         TEXT,
                state          TEXT NOT NULL,
                state_detail   TEXT,
                run_id         TEXT NOT NULL,
                attempt        INTEGER NOT NULL DEFAULT 1,
                run_started_at TEXT NOT NULL,
                interrupted_at TEXT,
                created_at     TEXT NOT NULL,
                updated_at     TEXT NOT NULL,
                UNIQUE(kind, key));

            CREATE TABLE workflow_steps(
                workflow_id  INTEGER NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
                step         TEXT NOT NULL,
                run_id       TEXT NOT NULL,
                result       TEXT,
                completed_at TEXT NOT NULL,
                PRIMARY KEY (workflow_id, step));

            CREATE TABLE workflow_journal(
                id          INTEGER PRIMARY KEY,
                at          TEXT NOT NULL,
                kind        TEXT NOT NULL,
                key         TEXT NOT NULL,
                subject     TEXT NOT NULL,
                source      TEXT,
                run_id      TEXT NOT NULL,
                from_state  TEXT NOT NULL,
                to_state    TEXT NOT NULL,
                trigger     TEXT NOT NULL,
                detail      TEXT,
                error       TEXT,
                duration_ms REAL NOT NULL,
                host        TEXT NOT NULL,
                pid         INTEGER NOT NULL);
            CREATE INDEX workflow_journal_subject ON workflow_journal(subject, id);
            CREATE INDEX workflow_journal_run ON workflow_journal(run_id, id);

            CREATE TABLE leases(
                kind        TEXT NOT NULL,
                key         TEXT NOT NULL,
                token       TEXT NOT NULL,
                host        TEXT NOT NULL,
                boot_id     TEXT NOT NULL,
                pid         INTEGER NOT NULL,
                start_ticks INTEGER NOT NULL,
                acquired_at TEXT NOT NULL,
                renewed_at  TEXT NOT NULL,
                expires_at  TEXT NOT NULL,
                PRIMARY KEY (kind, key));

            CREATE TABLE layer_chains(
                chain_id        TEXT PRIMARY KEY,
                parent_chain_id TEXT REFERENCES layer_chains(chain_id),
                layer_digest    TEXT NOT NULL,
                depth           INTEGER NOT NULL CHECK (depth >= 1),
                device          TEXT,
                created_at      TEXT NOT NULL,
                updated_at      TEXT NOT NULL);

            CREATE TABLE image_chains(
                image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
                idx      INTEGER NOT NULL CHECK (idx >= 1),
                chain_id TEXT NOT NULL REFERENCES layer_chains(chain_id),
                PRIMARY KEY (image_id, idx));
            CREATE INDEX image_chains_chain ON image_chains(chain_id);

            CREATE TABLE snapshots(
                id           INTEGER PRIMARY KEY,
                source       TEXT NOT NULL,
                image        TEXT NOT NULL,
                name         TEXT NOT NULL,
                chain_id     TEXT NOT NULL REFERENCES layer_chains(chain_id),
                device       TEXT,
                device_path  TEXT,
                created_at   TEXT NOT NULL,
                updated_at   TEXT NOT NULL,
                UNIQUE(source, image, name));
            """);
    }
}
