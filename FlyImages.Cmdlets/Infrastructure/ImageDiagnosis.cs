using System.Management.Automation;
using FlyImages.Health;
using FlyImages.Model;
using FlyImages.State;

namespace FlyImages.Cmdlets.Infrastructure;

/// <summary>
/// Adds what the journal says about a failed image to Get-FlyImage's output: FailedStep, FailedErrorId, FailedAttempts,
/// FailedAt and FailedRunId (note properties, so they survive remoting; the list view shows them).
/// </summary>
internal static class ImageDiagnosis
{
    public static PSObject Decorate(Image image, FlyStore? store)
    {
        var o = PSObject.AsPSObject(image);
        if (store is null || image.State is not (ImageState.Failed or ImageState.Rejected))
        {
            return o;
        }

        if (FailureDiagnosis.Of(store, image.Source, image.Name) is { } failure)
        {
            o.Properties.Add(new PSNoteProperty("FailedStep", failure.Step));
            o.Properties.Add(new PSNoteProperty("FailedErrorId", failure.ErrorId));
            o.Properties.Add(new PSNoteProperty("FailedAttempts", failure.Attempts));
            o.Properties.Add(new PSNoteProperty("FailedAt", failure.FailedAt));
            o.Properties.Add(new PSNoteProperty("FailedRunId", failure.RunId));
        }

        return o;
    }
}
