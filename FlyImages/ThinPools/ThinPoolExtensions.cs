using FlyImages.Operations;

namespace FlyImages.ThinPools;

/// <summary>Conveniences over <see cref="IThinPool"/>.</summary>
public static class ThinPoolExtensions
{
    /// <summary>
    /// Deletes device <paramref name="name"/> when the pool records it (<see cref="IThinPool.DeleteAsync"/>
    /// deactivates it first); nothing to do when it is not there.
    /// </summary>
    public static async Task DeleteIfPresentAsync(this IThinPool pool, string name, IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(pool);
        if (pool.FindDevice(name) is not null)
        {
            await pool.DeleteAsync(name, context).ConfigureAwait(false);
        }
    }
}
