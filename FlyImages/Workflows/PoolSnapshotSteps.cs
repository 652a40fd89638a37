using System.Text.RegularExpressions;
using FlyImages.Errors;
using FlyImages.Sources;
using FlyImages.ThinPools;

namespace FlyImages.Workflows;

/// <summary>
/// The device work of thin snapshots, for <see cref="SnapshotWorkflow"/>: a thin snapshot of the image's
/// top chain device in the pool, activated (dm device or loop device). Idempotent: a device left by a run
/// that died is made afresh.
/// </summary>
public sealed partial class PoolSnapshotSteps(IThinPool pool) : ISnapshotSteps
{
    public async Task<string> CreateSnapshotAsync(SnapshotPlan plan, StepContext context)
    {
        var device = DeviceNames.Snapshot(plan.SnapshotId);
        await pool.DeleteIfPresentAsync(device, context.Operation).ConfigureAwait(false);
        await pool.CreateSnapshotAsync(device, plan.TopDevice, context.Operation).ConfigureAwait(false);
        return device;
    }

    public Task<string> ActivateAsync(SnapshotPlan plan, string device, StepContext context) => pool.ActivateAsync(device, context.Operation);

    public Task RemoveAsync(SnapshotPlan plan, string? device, StepContext context)
        => pool.DeleteIfPresentAsync(device ?? DeviceNames.Snapshot(plan.SnapshotId), context.Operation);

    /// <summary>Snapshot names: 1-63 letters, digits, '.', '_', '-', starting with a letter or digit.</summary>
    public static void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || !NamePattern().IsMatch(name))
        {
            throw new FlyException(ErrorIds.SnapshotNameInvalid, FlyErrorCategory.InvalidArgument,
                $"The snapshot name '{ImageLayout.Show(name ?? "")}' is not valid: 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit.", name);
        }
    }

    /// <summary>A name for a new snapshot of <paramref name="image"/> when the user gives none.</summary>
    public static string DefaultName(string image) => $"{image}-{DateTime.UtcNow:yyyyMMddHHmmssfff}";

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();
}
