using FlyImages.State;
using Microsoft.Data.Sqlite;

namespace FlyImages.Workflows;

/// <summary>
/// One layer chain: a thin device holding layers 1..<see cref="Depth"/> applied in order, shared by every
/// image whose first <see cref="Depth"/> layers are these. Its state is its make-chain workflow's.
/// </summary>
public sealed record LayerChain(string ChainId, string? ParentChainId, string LayerDigest, int Depth, string? Device, ChainState State, string? StateDetail)
{
    public override string ToString() => $"chain {Depth} {ChainId}";
}

/// <summary>What a chain step is given: the chain, its layer's blob, and the parent chain (null for the base).</summary>
public sealed record ChainPlan(string ChainId, string? ParentChainId, int Depth, string LayerDigest, string? BlobPath, string? ParentDevice)
{
    /// <summary>A device the layer was already applied onto while its blob downloaded (<see cref="IInstallSteps.StageLayerAsync"/>): adopted instead of made.</summary>
    public string? StagedDevice { get; init; }

    public override string ToString() => $"chain {Depth} {ChainId}";
}

/// <summary>The shared layer chains and which images use them.</summary>
public sealed class LayerChainRepository(FlyStore store)
{
    public LayerChain? Find(string chainId) => store.Read((c, t) => Find(c, t, chainId));

    /// <summary>Every chain, base first.</summary>
    public IReadOnlyList<LayerChain> List() => store.Read((c, t) => c.Query(t, $"{Select} ORDER BY lc.depth, lc.chain_id;", Map));

    /// <summary>The device of every chain that has one, by chain id: the chains table alone, without the workflows' states.</summary>
    public IReadOnlyDictionary<string, string> DevicesByChain() => store.Read((c, t) => c.Query(t,
        "SELECT chain_id, device FROM layer_chains WHERE device IS NOT NULL;", r => (Chain: r.GetString(0), Device: r.GetString(1))))
        .ToDictionary(x => x.Chain, x => x.Device, StringComparer.Ordinal);

    /// <summary>The chains of an image (index 0 = chain 1), as recorded when the install made them.</summary>
    public IReadOnlyList<LayerChain> OfImage(string source, string name) => store.Read((c, t) => c.Query(t, $"""
        {Select} JOIN image_chains ic ON ic.chain_id = lc.chain_id JOIN images i ON i.id = ic.image_id
        WHERE i.source = $src AND i.name = $n ORDER BY ic.idx;
        """, Map, ("$src", source), ("$n", name)));

    /// <summary>Names of the images that use <paramref name="chainId"/>.</summary>
    public IReadOnlyList<string> ImagesUsing(string chainId) => store.Read((c, t) => c.Query(t,
        "SELECT i.name FROM image_chains ic JOIN images i ON i.id = ic.image_id WHERE ic.chain_id = $c ORDER BY i.name;", r => r.GetString(0), ("$c", chainId)));

    /// <summary>Records the chain (once; shared) and that image <paramref name="imageId"/> uses it at the chain's depth.</summary>
    internal static void Record(SqliteConnection c, SqliteTransaction t, ChainPlan plan, long? imageId)
    {
        var now = StoreTime.Now();
        c.Exec(t, """
            INSERT INTO layer_chains(chain_id, parent_chain_id, layer_digest, depth, created_at, updated_at) VALUES ($c, $p, $d, $depth, $now, $now)
            ON CONFLICT(chain_id) DO NOTHING;
            """, ("$c", plan.ChainId), ("$p", plan.ParentChainId), ("$d", plan.LayerDigest), ("$depth", plan.Depth), ("$now", now));
        if (imageId is { } id)
        {
            c.Exec(t, """
                INSERT INTO image_chains(image_id, idx, chain_id) VALUES ($i, $x, $c)
                ON CONFLICT(image_id, idx) DO UPDATE SET chain_id = excluded.chain_id;
                """, ("$i", id), ("$x", plan.Depth), ("$c", plan.ChainId));
        }
    }

    internal static void SetDevice(SqliteConnection c, SqliteTransaction t, string chainId, string? device)
        => c.Exec(t, "UPDATE layer_chains SET device = $d, updated_at = $now WHERE chain_id = $c;", ("$d", device), ("$now", StoreTime.Now()), ("$c", chainId));

    internal static LayerChain? Find(SqliteConnection c, SqliteTransaction t, string chainId)
        => c.Query(t, $"{Select} WHERE lc.chain_id = $c;", Map, ("$c", chainId)).SingleOrDefault();

    private const string Select = """
        SELECT lc.chain_id, lc.parent_chain_id, lc.layer_digest, lc.depth, lc.device, w.state, w.state_detail
        FROM layer_chains lc LEFT JOIN workflows w ON w.kind = 'make-chain' AND w.key = lc.chain_id
        """;

    private static LayerChain Map(SqliteDataReader r) => new(r.GetString(0), r.GetStringOrNull(1), r.GetString(2), r.GetInt32(3), r.GetStringOrNull(4),
        Enum.TryParse<ChainState>(r.GetStringOrNull(5) ?? nameof(ChainState.Pending), out var s) ? s : ChainState.Faulty, r.GetStringOrNull(6));
}
