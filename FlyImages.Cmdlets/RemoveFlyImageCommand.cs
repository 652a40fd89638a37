using System.Management.Automation;
using FlyImages.Cmdlets.Infrastructure;
using FlyImages.Images;
using FlyImages.Lifecycle;
using FlyImages.State;

namespace FlyImages.Cmdlets;

/// <summary>
/// <para type="synopsis">Removes installed images from this host: the store forgets them, and their layer chains and blobs that nothing else uses are deleted.</para>
/// <para type="description">For each image the store records (installed, fetched, failed or rejected), the image is forgotten,
/// the layer chain devices that no remaining image and no snapshot uses are deleted from their thin pool (chains shared
/// with other images stay), and the blobs no remaining image references are deleted from the content store (-KeepBlobs
/// keeps them, so a later install downloads nothing). Outputs one FlyImages.Lifecycle.ImageRemovalResult per image: the
/// chains and blobs deleted, the bytes the pool and the store got back, and anything left to do.</para>
/// <para type="description">An image with thin snapshots is refused with the error ImageHasSnapshots naming them, unless
/// -RemoveSnapshots asks for them to go first. Removal takes the same leases as Install-FlyImage: it waits for an install
/// of the same image to finish, and an install that starts meanwhile waits, then makes again what it needs. The store
/// records the intent first, in one transaction; a removal that stops half-way (a crash, Ctrl+C, a device that cannot be
/// deleted) leaves chains marked Deleting that the next Remove-FlyImage, Limit-FlyImageStore or Install-FlyImage finishes,
/// and reports RemovalIncomplete saying what is left. Every removal is journaled (Get-FlyImageEvent shows the Remove,
/// Delete and Deleted transitions with what went). Asks for confirmation (ConfirmImpact High) unless -Force or -Confirm:$false.</para>
/// </summary>
/// <example>
/// <code>Get-FlyImage -Installed | Remove-FlyImage -WhatIf</code>
/// <para>Shows, for every recorded image, how many layer chains and blobs removing it would delete and how many chains stay because other images use them; nothing changes.</para>
/// </example>
/// <example>
/// <code>Remove-FlyImage golang -Force | Format-List</code>
/// <para>Removes the image golang without asking and shows what was freed: chains, blobs, pool bytes and store bytes.</para>
/// </example>
/// <example>
/// <code>Remove-FlyImage node -RemoveSnapshots -KeepBlobs -Confirm:$false</code>
/// <para>Removes node's thin snapshots, then node itself, keeping its blobs in the content store so that installing it again downloads nothing.</para>
/// </example>
/// <seealso cref="GetFlyImageCommand"/>
/// <seealso cref="InstallFlyImageCommand"/>
/// <seealso cref="RemoveFlyThinSnapshotCommand"/>
/// <seealso cref="GetFlyImageEventCommand"/>
[Cmdlet(VerbsCommon.Remove, "FlyImage", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(ImageRemovalResult))]
public sealed class RemoveFlyImageCommand : FlyCmdlet
{
    /// <summary>
    /// Names of the images to remove, as the store records them (Get-FlyImage -Installed); wildcards allowed. Binds
    /// from the pipeline by value and by property name. A name without wildcards that matches nothing is the error ImageNotFound.
    /// </summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Name { get; set; } = [];

    /// <summary>
    /// Only images of this source (its URI, as Get-FlyImage shows it, e.g. s3://bucket/images). Binds by property name.
    /// Default: images of every source with a matching name.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Source { get; set; }

    /// <summary>Keeps the images' blobs in the content store (default: blobs no remaining image references are deleted).</summary>
    [Parameter]
    public SwitchParameter KeepBlobs { get; set; }

    /// <summary>Removes the images' thin snapshots first (default: an image with snapshots is refused with ImageHasSnapshots).</summary>
    [Parameter]
    public SwitchParameter RemoveSnapshots { get; set; }

    /// <summary>Removes without asking for confirmation (never overrides -WhatIf). Default: ask, as ConfirmImpact is High.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        var store = ExistingStore();
        var recorded = store is null ? [] : new ImageRepository(store).List().Where(i => Source is null || i.Source == Source).ToList();
        foreach (var name in Name)
        {
            var pattern = WildcardPattern.Get(name, WildcardOptions.IgnoreCase);
            var matched = recorded.Where(i => pattern.IsMatch(i.Name)).ToList();
            if (matched.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(name))
            {
                WriteFlyError(ImageCatalog.NotFound(name, $"the store {ResolvedStorePath}"), name);
            }

            foreach (var image in matched)
            {
                TryPerItem(() => Remove(store!, image.Source, image.Name), image.Name);
            }
        }
    }

    private void Remove(FlyStore store, string source, string name)
    {
        var removal = new ImageRemoval(store);
        var options = new ImageRemovalOptions { KeepBlobs = KeepBlobs, RemoveSnapshots = RemoveSnapshots };
        var plan = removal.Plan(source, name);
        if (plan is null)
        {
            return; // removed meanwhile (an earlier name matched it too)
        }

        if (!ShouldProcessUnlessForced(Force, $"image '{name}' of {source}", plan.Describe(options)))
        {
            return;
        }

        var result = RunCore(context => removal.RemoveAsync(source, name, options, context));
        WriteObject(result);
        if (!result.Complete)
        {
            WriteFlyError(ImageRemoval.Incomplete(result), name);
        }
    }
}
