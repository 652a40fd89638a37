using System.Management.Automation;
using FlyImages.Cmdlets.Infrastructure;
using FlyImages.Errors;

namespace FlyImages.Cmdlets;

/// <summary>
/// <para type="synopsis">Deactivates and deletes thin snapshots; nothing is left in the pool.</para>
/// <para type="description">Each named snapshot is deactivated (its device detached) and deleted from its pool, and the
/// store records it Removed. Snapshots from Get-FlyThinSnapshot bind by property name (Name, Image, Source), so a
/// piped snapshot is exactly that one.</para>
/// <para type="description">A name that matches no snapshot is SnapshotNotFound; a name that snapshots of several images
/// share is SnapshotNameAmbiguous (say which with -Image). Both are non-terminating: the other names are still
/// removed. Asks for confirmation (ConfirmImpact High) unless -Force or -Confirm:$false; -WhatIf names each snapshot
/// and its device and removes nothing.</para>
/// </summary>
/// <example>
/// <code>Get-FlyThinSnapshot web-* | Remove-FlyThinSnapshot -Force</code>
/// <para>Removes every snapshot whose name starts with 'web-', without asking.</para>
/// </example>
/// <example>
/// <code>Remove-FlyThinSnapshot web-1 -Image golang -WhatIf</code>
/// <para>Shows what removing golang's snapshot web-1 would do, and removes nothing.</para>
/// </example>
/// <seealso cref="GetFlyThinSnapshotCommand"/>
/// <seealso cref="NewFlyThinSnapshotCommand"/>
/// <seealso cref="RemoveFlyThinPoolCommand"/>
[Cmdlet(VerbsCommon.Remove, "FlyThinSnapshot", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
public sealed class RemoveFlyThinSnapshotCommand : SnapshotCmdlet
{
    /// <summary>
    /// Names of the snapshots to remove, exactly (no wildcards). Binds from the pipeline: strings, or snapshots from
    /// Get-FlyThinSnapshot (by property name).
    /// </summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[] Name { get; set; } = [];

    /// <summary>
    /// The image of the snapshot, when snapshots of several images share the name. Default: any image. Binds from piped
    /// snapshots.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Image { get; set; }

    /// <summary>
    /// The image's source, with -Image, when images of the same name from several sources have a snapshot of that name.
    /// Default: any source. Binds from piped snapshots.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Source { get; set; }

    /// <summary>The thin pool the snapshot is in. Default: the store's default pool.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Pool { get; set; }

    /// <summary>Remove without asking for confirmation. Never overrides -WhatIf.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var name in Name)
        {
            TryPerItem(() => Remove(name), name);
        }
    }

    private void Remove(string name)
    {
        var source = Source is null ? null : SourceResolver.Canonical(this, Source);
        var ofImage = new NameMatcher(Image is null ? null : [Image], wildcards: false);
        var candidates = ListSnapshots().Where(s => (Image is null || ofImage.IsMatch(s.Image)) && (source is null || s.Source == source));
        var matches = new NameMatcher([name], wildcards: false).Select(candidates, s => s.Name).Matched;
        if (matches.Count == 0)
        {
            throw new FlyException(ErrorIds.SnapshotNotFound, FlyErrorCategory.ObjectNotFound, $"No thin snapshot named '{name}'{(Image is null ? "" : $" of '{Image}'")}.", name);
        }

        if (matches.Count > 1)
        {
            throw new FlyException(ErrorIds.SnapshotNameAmbiguous, FlyErrorCategory.InvalidArgument,
                $"Snapshots of {string.Join(", ", matches.Select(m => $"'{m.Image}'"))} are named '{name}': say which with -Image.", name);
        }

        var snapshot = matches[0];
        var target = $"{name} (image {snapshot.Image}, {snapshot.DevicePath ?? snapshot.Device ?? "no device"})";
        if (!ShouldProcessUnlessForced(Force, target, "Deactivate and delete the thin snapshot"))
        {
            return;
        }

        RunCore(async context =>
        {
            var workflow = await WorkflowAsync(Pool, context).ConfigureAwait(false);
            await workflow.RemoveAsync(snapshot.Source, snapshot.Image, snapshot.Name, context).ConfigureAwait(false);
        });
        WriteVerbose($"Thin snapshot '{name}' of '{snapshot.Image}' removed.");
    }
}
