using FlyImages.Operations;

namespace FlyImages.ThinPools;

/// <summary>A new pool to make: its validated name, sizes and floor, under the store folder <see cref="StoreRoot"/>.</summary>
internal sealed record NewThinPool(string StoreRoot, string Name, ThinPoolSpec Spec, long DataSize, long BlockSize, double Floor);

/// <summary>
/// One backend's factory, behind the driver interface: makes (or adopts) a pool of its kind and opens
/// the <see cref="IThinPoolDriver"/> of a recorded one. The <see cref="ThinPoolCatalog"/> chooses the
/// backend, records the pool and owns what it opened.
/// </summary>
internal interface IThinPoolBackend
{
    ThinPoolBackend Backend { get; }

    /// <summary>
    /// Makes the pool <paramref name="request"/> describes (or adopts an existing one of that name, where
    /// the backend can) and returns its record, not yet stored. Null when ShouldProcess declined. On
    /// failure nothing it made is left behind.
    /// </summary>
    Task<ThinPoolRecord?> CreateAsync(NewThinPool request, IOperationContext context);

    /// <summary>The driver of a recorded pool of this backend.</summary>
    IThinPoolDriver OpenDriver(ThinPoolRecord record, ThinPoolRepository repository);
}
