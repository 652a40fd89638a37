using FlyImages.Engine;
using FlyImages.Errors;
using FlyImages.Model;
using FlyImages.State;

namespace FlyImages.Workflows;

/// <summary>
/// What Save-FlyImage records about an image: its layers (with the digests it fetched) and, where no
/// install decided the image's state (none yet, Pending or Failed), the outcome as a declared trigger of
/// the install machine: SaveFailed (-> Failed, the next install retries) or Saved (Failed -> Pending,
/// shown Fetched). A Ready, Rejected or in-flight install is the image's truth and is left as it is: a
/// Rejected image stays Rejected after a save (its blobs are stored, Install still refuses it until
/// -Force), a Ready one stays Ready. Taken under the install's lease; while another process holds it,
/// that install's outcome is the truth and nothing is recorded.
/// </summary>
public sealed class ImageSaves(FlyStore store)
{
    private readonly WorkflowRepository workflows = new(store);

    /// <summary>
    /// Records the save of <paramref name="image"/> (its layers as fetched) that ended with <paramref name="error"/>
    /// (null: every blob is in); returns the image's state as Get-FlyImage now shows it.
    /// </summary>
    public async Task<ImageState> RecordAsync(Image image, FlyException? error)
    {
        ArgumentNullException.ThrowIfNull(image);
        var key = InstallWorkflow.KeyOf(image.Source, image.Name);
        var lease = new LeaseManager(store).TryAcquire(new LeaseKey(WorkflowKinds.InstallImage, key), LeaseManager.DefaultTtl);
        if (lease is null)
        {
            return Shown(image);
        }

        await using (lease.ConfigureAwait(false))
        {
            var known = workflows.Find(WorkflowKinds.InstallImage, key);
            if (known is not null && known.State is not (nameof(InstallState.Pending) or nameof(InstallState.Failed)))
            {
                return Shown(image);
            }

            if (error is null && known?.State != nameof(InstallState.Failed))
            {
                new ImageRepository(store).Record(image); // nothing was decided: the blobs say Fetched
            }
            else
            {
                var run = workflows.BeginRun(WorkflowKinds.InstallImage, key, image.Name, image.Source);
                new PersistedWorkflow<InstallState, InstallTrigger>(store, run, WorkflowMachines.ConfigureInstall).Fire(
                    error is null ? InstallTrigger.Saved : InstallTrigger.SaveFailed, error is null ? $"{image.Layers.Count} blobs saved" : null, error?.Message,
                    (c, t) => ImageRepository.Record(c, t, image));
            }

            return Shown(image);
        }
    }

    private ImageState Shown(Image image) => new ImageRepository(store).Find(image.Source, image.Name)?.State ?? ImageState.Remote;
}
