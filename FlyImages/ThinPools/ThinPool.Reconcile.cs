using FlyImages.Operations;

namespace FlyImages.ThinPools;

/// <summary>Start-up reconciliation of records and pool (see <see cref="IThinPool.ReconcileAsync"/>).</summary>
internal sealed partial class ThinPool
{
    public async Task<ThinPoolReconcileReport> ReconcileAsync(IOperationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var ct = context.CancellationToken;
        using var held = await LockAsync(ct).ConfigureAwait(false);
        await driver.EnsureReadyAsync(context).ConfigureAwait(false);
        var inventory = await driver.GetInventoryAsync(ct).ConfigureAwait(false);
        var reactivated = new List<string>();
        var resumed = new List<string>();
        var completed = new List<string>();
        var faulty = new List<string>();
        var errors = new List<string>();
        var devices = ListDevices();
        foreach (var device in devices)
        {
            var label = $"{device.DeviceId} '{ThinPoolNames.Printable(device.Name)}'";
            var live = inventory.ActiveIds.Contains(device.DeviceId);
            try
            {
                switch (device.State)
                {
                    case ThinDeviceState.Creating:
                        // the pool may or may not hold it: never guess, never reuse the id
                        repository.SetState(Name, device.DeviceId, ThinDeviceState.Faulty,
                            $"interrupted while Creating{(device.StateDetail is null ? "" : $" ({device.StateDetail})")}; its id stays taken until the device is deleted");
                        faulty.Add(label);
                        break;
                    case ThinDeviceState.Created or ThinDeviceState.Deactivated when live:
                        repository.SetState(Name, device.DeviceId, ThinDeviceState.Activated, "found active", await driver.ActivateAsync(device.DeviceId, device.SizeBytes, ct).ConfigureAwait(false));
                        completed.Add($"{label}: recorded {device.State} but active; recorded Activated");
                        break;
                    case ThinDeviceState.Activating or ThinDeviceState.Activated:
                        if (!live)
                        {
                            await ActivateCoreAsync(device, context).ConfigureAwait(false);
                            reactivated.Add(label);
                        }
                        else
                        {
                            var path = inventory.ActivePaths.TryGetValue(device.DeviceId, out var seen)
                                ? seen
                                : await driver.ActivateAsync(device.DeviceId, device.SizeBytes, ct).ConfigureAwait(false);
                            if (device.State != ThinDeviceState.Activated || device.DevicePath != path)
                            {
                                repository.SetState(Name, device.DeviceId, ThinDeviceState.Activated, null, path);
                                completed.Add($"{label}: activation confirmed");
                            }
                        }

                        break;
                    case ThinDeviceState.Suspending or ThinDeviceState.Suspended or ThinDeviceState.Resuming:
                        if (live)
                        {
                            await StepAsync(device, ThinDeviceState.Resuming, () => driver.ResumeAsync(device.DeviceId, CancellationToken.None), ThinDeviceState.Activated).ConfigureAwait(false);
                            resumed.Add(label);
                        }
                        else
                        {
                            await ActivateCoreAsync(device with { State = ThinDeviceState.Activated }, context).ConfigureAwait(false);
                            reactivated.Add(label);
                        }

                        break;
                    case ThinDeviceState.Deactivating:
                        await DeactivateCoreAsync(device, context).ConfigureAwait(false);
                        completed.Add($"{label}: deactivation finished");
                        break;
                    case ThinDeviceState.Removing:
                        await DeleteCoreAsync(device, context).ConfigureAwait(false);
                        completed.Add($"{label}: deletion finished");
                        break;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                errors.Add($"{label}: {Describe(e)}");
            }
        }

        var recorded = devices.Select(d => d.DeviceId).ToHashSet();
        var unexplained = new List<string>(inventory.Foreign);
        unexplained.AddRange(inventory.ActiveIds.Where(id => !recorded.Contains(id)).Order().Select(id => $"device id {id} is active but has no record"));
        if (inventory.KnownIds is not null)
        {
            unexplained.AddRange(inventory.KnownIds.Where(id => !recorded.Contains(id) && !inventory.ActiveIds.Contains(id)).Order().Select(id => $"the pool holds device id {id} but it has no record"));
        }

        var report = new ThinPoolReconcileReport
        {
            Pool = Name,
            Reactivated = reactivated,
            Resumed = resumed,
            Completed = completed,
            MarkedFaulty = faulty,
            Unexplained = unexplained,
            Errors = errors,
        };
        Announce(report, context);
        return report;
    }

    private void Announce(ThinPoolReconcileReport report, IOperationContext context)
    {
        foreach (var (devices, warn, say) in new (IEnumerable<string>, bool, Func<string, string>)[]
                 {
                     (report.Reactivated, false, d => $"re-activated device {d}."),
                     (report.Resumed, false, d => $"resumed device {d}, left suspended by an interrupted snapshot."),
                     (report.Completed, false, d => $"{d}."),
                     (report.MarkedFaulty, true, d => $"device {d} was half-made (interrupted while Creating) and is now Faulty; delete it to free its id."),
                     (report.Unexplained, true, d => $"{d} (left alone)."),
                     (report.Errors, true, d => $"reconciling device {d}"),
                 })
        {
            Action<string> write = warn ? context.WriteWarning : context.WriteVerbose;
            foreach (var d in devices)
            {
                write($"Pool '{Name}': {say(d)}");
            }
        }
    }
}
