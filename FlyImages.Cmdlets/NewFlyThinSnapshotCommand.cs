using System.Management.Automation;
using FlyImages.Cmdlets.Infrastructure;
using FlyImages.Errors;
using FlyImages.Install;
using FlyImages.Model;
using FlyImages.Workflows;

namespace FlyImages.Cmdlets;

/// <summary>
/// <para type="synopsis">Activates an installed image: a thin snapshot of its top layer chain on a block device a
/// micro-VM can boot from.</para>
/// <para type="description">The image must be Ready (Install-FlyImage); otherwise the error is ImageNotReady. The snapshot
/// is made in the pool the image was installed into and activated: /dev/mapper/flyimages-&lt;pool&gt;-&lt;id&gt; on
/// devicemapper, /dev/loopN with block files. Writes to it never reach the image's layer chains. Outputs the
/// ThinSnapshot (Name, Image, Source, ChainId, Device, DevicePath, State, CreatedAt).</para>
/// <para type="description">The same -Name on the same image returns the existing snapshot, so running it again is safe; an
/// interrupted one resumes, and a failed one is removed and recorded Failed (SnapshotFailed). Without -Name a name is
/// made from the image and the time (UTC, to the millisecond). A name that is not 1-63 letters, digits, '.', '_' or '-'
/// starting with a letter or digit is SnapshotNameInvalid. Needs root. -WhatIf says which snapshot would be made.</para>
/// </summary>
/// <example>
/// <code>New-FlyThinSnapshot -Image golang -Name web-1</code>
/// <para>Activates golang as the snapshot web-1 and shows its device; run again, it returns the same snapshot.</para>
/// </example>
/// <example>
/// <code>Get-FlyImage golang -Installed | New-FlyThinSnapshot -Name web-1</code>
/// <para>Installed images bind by value: the snapshot is made of the image from the source it was installed from.</para>
/// </example>
/// <example>
/// <code>Get-FlyImage go* | Install-FlyImage | New-FlyThinSnapshot</code>
/// <para>Installs the images whose names start with 'go' and activates one snapshot of each, named after the image and
/// the time.</para>
/// </example>
/// <seealso cref="GetFlyThinSnapshotCommand"/>
/// <seealso cref="RemoveFlyThinSnapshotCommand"/>
/// <seealso cref="InstallFlyImageCommand"/>
[Cmdlet(VerbsCommon.New, "FlyThinSnapshot", DefaultParameterSetName = ImageNameSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(ThinSnapshot))]
public sealed class NewFlyThinSnapshotCommand : SnapshotCmdlet
{
    public const string ImageNameSet = "ImageName";
    public const string InputObjectSet = "InputObject";

    /// <summary>The name of the installed (Ready) image, exactly.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ImageNameSet)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ImageNameCompleter))]
    public string Image { get; set; } = "";

    /// <summary>
    /// The source the image was installed from (s3://bucket/prefix, a file:// URI, or a folder relative to the current
    /// location). Default: the source of the one installed image of that name; needed only when images of that
    /// name are installed from several sources (ImageNameAmbiguous names them).
    /// </summary>
    [Parameter(ParameterSetName = ImageNameSet)]
    [ValidateNotNullOrEmpty]
    public string? Source { get; set; }

    /// <summary>
    /// Installed images from Get-FlyImage or Install-FlyImage, by value from the pipeline; each snapshot is made of the
    /// image from the source it names.
    /// </summary>
    [Parameter(Mandatory = true, ParameterSetName = InputObjectSet, ValueFromPipeline = true)]
    [ValidateNotNull]
    public Image[] InputObject { get; set; } = [];

    /// <summary>
    /// The snapshot's name: 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit. Default:
    /// &lt;image&gt;-&lt;time&gt; (UTC, yyyyMMddHHmmssfff).
    /// </summary>
    [Parameter(Position = 1)]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    /// <summary>
    /// The thin pool to make the snapshot in. Default: the store's default pool, where Install-FlyImage put the image.
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Pool { get; set; }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == InputObjectSet)
        {
            foreach (var image in InputObject.Where(i => i is not null))
            {
                TryPerItem(() => Snapshot(image.Source, image.Name), image.Name);
            }
        }
        else
        {
            TryPerItem(() =>
            {
                var (source, image) = FindInstalled(Image, Source);
                Snapshot(source, image);
            }, Image);
        }
    }

    private void Snapshot(string source, string image)
    {
        var name = Name ?? PoolSnapshotSteps.DefaultName(image);
        PoolSnapshotSteps.CheckName(name);
        if (!ShouldProcess($"{image} ({source})", $"Create and activate thin snapshot '{name}'"))
        {
            return;
        }

        // an image that is not installed says so before any pool is looked for (New-FlyThinSnapshot never makes one)
        var store = ExistingStore() ?? throw new FlyException(ErrorIds.ImageNotReady, FlyErrorCategory.InvalidOperation,
            $"The image '{image}' is not installed (there is no store at '{ResolvedStorePath}'): install it first.", image)
        {
            RecommendedAction = "Run Install-FlyImage first.",
        };
        SnapshotWorkflow.RequireReady(store, source, image);

        var snapshot = RunCore(async context =>
        {
            var workflow = await WorkflowAsync(Pool, context).ConfigureAwait(false);
            return await workflow.EnsureActiveAsync(source, image, name, context).ConfigureAwait(false);
        });
        WriteVerbose($"Snapshot '{name}' of '{image}' is active at {snapshot.DevicePath}.");
        WriteObject(snapshot);
    }
}
